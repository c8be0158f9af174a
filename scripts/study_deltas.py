"""The alignment study's answer as compact tables (docs/results/alignment-study.md): per
pair x task x method, the change in ECE and SCE (tuned - base) with its paired 95% bootstrap
interval and verdict, and for an undecided change the questions that would decide it.

Usage: python scripts/study_deltas.py STUDY_DIR [--metrics ece,sce]

Questions needed: an interval's half-width shrinks as 1/sqrt(n), so a change d with interval
half-width h on n questions would exclude 0 at about n * (h / |d|)^2 questions, if the change
stayed the same (an estimate, not a power calculation).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path


def needed(n: int, d: float, low: float, high: float) -> int | None:
    """Questions at which an interval like ``[low, high]`` around ``d`` would exclude 0."""
    half = (high - low) / 2
    if d == 0 or half <= 0:
        return None
    return math.ceil(n * (half / abs(d)) ** 2)


def rows(study: dict, metrics: list[str]) -> list[str]:
    out = [
        "| pair | task | method | metric | N | base | tuned | tuned - base [95% CI] | verdict "
        "| questions to decide |",
        "|" + " --- |" * 10,
    ]
    for c in study["cells"]:
        if c["metric"] not in metrics or c["difference"] is None:
            continue
        d, low, high = c["difference"], c["low"], c["high"]
        decide = ""
        if c["verdict"] == "n.s." and low is not None:
            n = needed(c["n"], d, low, high)
            decide = f"~{n}" if n is not None else "never (no change)"
        out.append(
            f"| {c['pair']} | {c['task']} | {c['method']} | {c['metric'].upper()} | {c['n']} "
            f"| {c['base']:.3f} | {c['tuned']:.3f} | {d:+.3f} [{low:+.3f}, {high:+.3f}] "
            f"| {c['verdict']} | {decide} |"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("study_dir", type=Path)
    parser.add_argument("--metrics", default="ece,sce")
    args = parser.parse_args()
    study = json.loads((args.study_dir / "study.json").read_text())
    print("\n".join(rows(study, args.metrics.split(","))))


if __name__ == "__main__":
    main()
