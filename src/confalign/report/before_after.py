"""DCA's before/after table: verbalized vs internal confidence of the same answer, per run,
dataset and elicitation mode.

Cv is the ``verbalized/<format>/<mode>`` confidence; Ci is the record's own ``answer_ci``, the
model's internal confidence in the very answer that response gives, on the prompt that
produced the answer, measured on each model itself (never another prompt's answer: on
CalibratedMath the verbalized and the plain prompt agree on the answer for only 3-4% of
questions). Rows: Spearman rho(Cv, Ci) and |eps| (each with its 95% percentile-bootstrap
interval), mean eps, sigma_eps, sigma_M, parse rate, verbalized-answer accuracy, the
``choice`` accuracy where the run has it, ECE/Brier/AUROC of Cv and of Ci against
correctness, and Ci's and Cv's own quantiles, so a model that moved Ci towards Cv (rather than
Cv towards Ci) is visible.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from confalign.metrics import (
    alignment_metrics,
    auroc_score,
    bootstrap_ci,
    brier_score_loss,
    expected_calibration_error,
    mean_absolute_gap,
    spearman_score,
)
from confalign.report.render import md_escape
from confalign.runs import RunStore

COLUMNS = (
    ("n", "N"),
    ("parse_rate", "parsed"),
    ("spearman", "ρ(Cv,Ci)"),
    ("spearman_ci", "ρ 95% CI"),
    ("mean_gap", "mean ε"),
    ("mean_abs_gap", "|ε|"),
    ("mean_abs_gap_ci", "|ε| 95% CI"),
    ("gap_std", "σ_ε"),
    ("gap_sem", "σ_M"),
    ("accuracy", "acc (verbalized answer)"),
    ("choice_accuracy", "acc (choice)"),
    ("cv_ece", "ECE Cv"),
    ("cv_brier", "Brier Cv"),
    ("cv_auroc", "AUROC Cv"),
    ("ci_ece", "ECE Ci"),
    ("ci_brier", "Brier Ci"),
    ("ci_auroc", "AUROC Ci"),
    ("cv_quantiles", "Cv q10/q50/q90"),
    ("ci_quantiles", "Ci q10/q50/q90"),
)


def alignment_rows(
    run_dir: str | Path,
    *,
    fmt: str = "probability",
    modes: tuple[str, ...] = ("prefill", "distribution"),
) -> list[dict[str, Any]]:
    """One row per (dataset, mode) of the run: the metrics of ``COLUMNS``."""
    with RunStore.open(run_dir) as store:
        rows = []
        for dataset in store.datasets():
            choice = [r for r in store.rows(dataset, "choice") if r.correct is not None]
            choice_acc = float(np.mean([r.correct for r in choice])) if choice else math.nan
            for mode in modes:
                records = store.rows(dataset, f"verbalized/{fmt}/{mode}")
                if records:
                    rows.append(
                        {
                            "dataset": dataset,
                            "mode": mode,
                            **record_metrics(records),
                            "choice_accuracy": choice_acc,
                        }
                    )
    return rows


def record_metrics(records: list[Any]) -> dict[str, Any]:
    """The ``COLUMNS`` metrics of verbalized records (those with a Cv, a Ci and a verdict)."""
    total = len(records)
    ok = [
        r
        for r in records
        if r.confidence is not None
        and r.extra.get("answer_ci") is not None
        and r.correct is not None
    ]
    cv = np.array([r.confidence for r in ok], dtype=np.float64)
    ci = np.array([r.extra["answer_ci"] for r in ok], dtype=np.float64)
    y = np.array([bool(r.correct) for r in ok], dtype=np.float64)
    out: dict[str, Any] = {"n": len(ok), "parse_rate": len(ok) / total if total else math.nan}
    if len(ok) < 2:
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out |= alignment_metrics(cv, ci).scalars()
        # percentile bootstrap over questions (1,000 resamples, seed 0): is a change real?
        for key, metric in (("spearman", spearman_score), ("mean_abs_gap", mean_absolute_gap)):
            interval = bootstrap_ci(metric, cv, ci)
            out[f"{key}_ci"] = [interval.low, interval.high]
        for side, c in (("cv", cv), ("ci", ci)):
            out[f"{side}_ece"] = expected_calibration_error(c, y)
            out[f"{side}_brier"] = brier_score_loss(c, y)
            out[f"{side}_auroc"] = auroc_score(c, y)
            out[f"{side}_quantiles"] = [float(q) for q in np.quantile(c, [0.1, 0.5, 0.9])]
    out["accuracy"] = float(y.mean())
    return out


def before_after(runs: Mapping[str, str | Path], **options: Any) -> list[dict[str, Any]]:
    """Rows of every run (``{label: run dir}``, first = before), labelled and interleaved by
    dataset and mode so each before row sits above its after row."""
    per_run = {label: alignment_rows(path, **options) for label, path in runs.items()}
    keys = [(r["dataset"], r["mode"]) for r in next(iter(per_run.values()))]
    out = []
    for key in keys:
        for label, rows in per_run.items():
            for r in rows:
                if (r["dataset"], r["mode"]) == key:
                    out.append({"model": label, **r})
    return out


def to_markdown(rows: list[dict[str, Any]]) -> str:
    """The table as Markdown (one line per model x dataset x mode)."""
    return markdown_table(rows, ("dataset", "mode", "model"), COLUMNS)


def markdown_table(
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    columns: Sequence[tuple[str, str]],
) -> str:
    """Rows as a Markdown table: the ``keys`` as they are, then each ``(key, title)`` of
    ``columns`` formatted (3 decimals, a dash for missing or NaN, lists joined by ``/``);
    a ``|`` in a title or cell (``|ε|``) is escaped so it does not split the column."""
    head = [*keys, *(title for _, title in columns)]
    lines = ["| " + " | ".join(map(md_escape, head)) + " |", "|" + " --- |" * len(head)]
    for r in rows:
        cells = [*(str(r[k]) for k in keys), *(_fmt(r.get(k)) for k, _ in columns)]
        lines.append("| " + " | ".join(map(md_escape, cells)) + " |")
    return "\n".join(lines) + "\n"


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, list):
        return "/".join(f"{v:.2f}" for v in value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "—" if math.isnan(value) else f"{value:.3f}"
    return str(value)
