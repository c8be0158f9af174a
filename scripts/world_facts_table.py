"""The tables of docs/results/world-facts.md: for each run folder given, accuracy and every
confidence's AUROC and ECE per family, accuracy per difficulty level, and a seeded sample of
raw answers with their verdicts (what the page shows to check the grading by eye).

    python scripts/world_facts_table.py runs/wf-default runs/wf-gemma
"""

from __future__ import annotations

import random
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from confalign.metrics import auroc_score, ece
from confalign.runs import RunStore


def _fmt(x: float) -> str:
    return "—" if x != x else f"{x:.2f}"


def _metrics(rows: list) -> tuple[float, float, float]:
    kept = [r for r in rows if r.confidence is not None and r.correct is not None]
    if not kept:
        return float("nan"), float("nan"), float("nan")
    c = np.array([r.confidence for r in kept])
    y = np.array([int(r.correct) for r in kept])
    a = auroc_score(c, y) if 0 < y.sum() < len(y) else float("nan")
    return float(y.mean()), a, ece(c, y)


def tables(run: Path) -> str:
    with RunStore.open(run) as store:
        rows = store.rows("world_facts", None)
    methods = sorted({r.method_key for r in rows})
    by = defaultdict(list)
    for r in rows:
        family, level = r.subject.split("/")
        by[(r.method_key, family)].append(r)
        by[(r.method_key, "all")].append(r)
        by[(r.method_key, f"level {level}")].append(r)
    groups = [*sorted({g for _, g in by if not g.startswith("level")} - {"all"}), "all"]
    groups += sorted({g for _, g in by if g.startswith("level")})
    head = "| group | N | acc (answer_prob) | " + " | ".join(f"AUROC / ECE {m}" for m in methods)
    out = [f"### {run.name}", "", head + " |", "|" + " --- |" * (len(methods) + 3)]
    for g in groups:
        answer = by[("answer_prob", g)]
        acc = _metrics(answer)[0]
        cells = []
        for m in methods:
            _, a, e = _metrics(by[(m, g)])
            cells.append(f"{_fmt(a)} / {_fmt(e)}")
        out.append(f"| {g} | {len(answer)} | {_fmt(acc)} | " + " | ".join(cells) + " |")
    sample = random.Random(0).sample(by[("answer_prob", "all")], 12)
    out += ["", "| subject | gold | answer | verdict (rule) | answer_prob |", "| --- " * 5 + "|"]
    for r in sorted(sample, key=lambda r: r.subject):
        text = r.raw_text.strip().replace("|", "\\|").replace("\n", " ")[:90]
        verdict = "right" if r.correct else "wrong"
        out.append(
            f"| {r.subject} | {r.gold} | {text} | {verdict} ({r.rule}) | {r.confidence:.2f} |"
        )
    return "\n".join(out)


def main() -> None:
    for arg in sys.argv[1:]:
        print(tables(Path(arg)), end="\n\n")


if __name__ == "__main__":
    main()
