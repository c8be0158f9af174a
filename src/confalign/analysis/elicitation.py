"""Verbalized confidence by format × elicitation mode on one dataset of a run: how often each
parses, what it says, how well it is calibrated, and how it moves with an internal confidence.

One row per ``verbalized/<format>/<mode>`` key: records, parse rate (records whose confidence
was read; ``distribution`` always reads one), ambiguous parses, mean Cv, accuracy of the answer
it was given for, ECE and AUROC of Cv, and Spearman rho of Cv against ``internal`` (default
``choice``) on the examples both have, and against ``answer_ci`` (the internal confidence of the
same answer on the same prompt, DCA's pairing).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from confalign.analysis.inference_methods import method_row, scored_methods
from confalign.confidence import FORMAT_NAMES, MODES
from confalign.metrics import spearman_score
from confalign.runs import ResultRow, RunStore


@dataclass(frozen=True)
class ElicitationRow:
    """One format × mode; NaN where a value is undefined (nothing parsed, one class)."""

    format: str
    mode: str
    records: int
    parsed: int
    ambiguous: int
    mean_cv: float
    accuracy: float
    ece: float
    auroc: float
    rho_internal: float
    rho_answer_ci: float

    @property
    def parse_rate(self) -> float:
        return self.parsed / self.records if self.records else math.nan


def elicitation_table(
    run_dir: str | os.PathLike[str],
    dataset: str,
    *,
    internal: str = "choice",
    n_bins: int = 15,
) -> list[ElicitationRow]:
    """The rows of the module doc for ``dataset`` of the run at ``run_dir``, in docs/design.md's
    format order, then ``free``, ``prefill``, ``distribution``."""
    with RunStore.open(run_dir) as store:
        if dataset not in store.datasets():
            raise ValueError(
                f"run {run_dir} has no dataset {dataset!r}; it has {', '.join(store.datasets())}"
            )
        rows = store.rows(dataset)
    by_key: dict[str, list[ResultRow]] = {}
    for row in rows:
        by_key.setdefault(row.method_key, []).append(row)
    ci = {r.example_id: r.confidence for r in by_key.get(internal, [])}
    scored = {s.method: s for s in scored_methods(rows, ks=())}
    out = []
    for key, group in by_key.items():
        if not key.startswith("verbalized/"):
            continue
        _, fmt, mode = key.split("/")
        m = method_row("", scored[key], n_bins=n_bins, n_bootstrap=0, seed=0)
        parsed = [r for r in group if r.confidence is not None]
        out.append(
            ElicitationRow(
                format=fmt,
                mode=mode,
                records=len(group),
                parsed=len(parsed),
                ambiguous=sum(r.ambiguous for r in group),
                mean_cv=m.mean_confidence,
                accuracy=m.accuracy,
                ece=m.ece,
                auroc=m.auroc,
                rho_internal=_rho([(r.confidence, ci.get(r.example_id)) for r in parsed]),
                rho_answer_ci=_rho([(r.confidence, r.extra.get("answer_ci")) for r in parsed]),
            )
        )
    order = {name: i for i, name in enumerate((*FORMAT_NAMES, *MODES))}
    return sorted(out, key=lambda r: (order.get(r.format, 99), order.get(r.mode, 99)))


def _rho(pairs: Sequence[tuple[float | None, float | None]]) -> float:
    """Spearman rho over the pairs with both values; NaN with fewer than 3 or a constant side."""
    kept = np.array([(a, b) for a, b in pairs if a is not None and b is not None], dtype=float)
    if len(kept) < 3 or np.ptp(kept[:, 0]) == 0 or np.ptp(kept[:, 1]) == 0:
        return math.nan
    return spearman_score(kept[:, 0], kept[:, 1])


def to_markdown(rows: Sequence[ElicitationRow], *, internal: str = "choice") -> str:
    """The table as Markdown, one line per format × mode."""

    def f(x: float) -> str:
        return "—" if math.isnan(x) else f"{x:.3f}"

    lines = [
        f"| format | mode | parsed | ambiguous | mean Cv | accuracy | ECE | AUROC | "
        f"rho(Cv, Ci {internal}) | rho(Cv, answer Ci) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r.format} | {r.mode} | {r.parsed}/{r.records} ({r.parse_rate:.0%}) | "
            f"{r.ambiguous} | {f(r.mean_cv)} | {f(r.accuracy)} | {f(r.ece)} | {f(r.auroc)} | "
            f"{f(r.rho_internal)} | {f(r.rho_answer_ci)} |"
        )
    return "\n".join(lines) + "\n"
