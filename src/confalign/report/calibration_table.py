"""Before/after calibration of verbalized confidence (ADVICE, ConfTuner): per model, dataset
and format, ECE, |NCE|, Brier and AUROC of Cv against the correctness of the answer it was
given for, accuracy, the share of examples with a confidence, and the mean Cv of right and of
wrong answers (a confidence that ignores the answer has them equal).

Rows come from eval runs (``distribution`` mode by default), or from a run whose Cv is mapped
by a fitted post-hoc recalibrator (``platt_rows``: the cheap baseline a training method must
beat, fitted on another run of the untrained model, e.g. on the training split).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from confalign.metrics import (
    PlattScaling,
    absolute_net_calibration_error,
    auroc_score,
    brier_score_loss,
    expected_calibration_error,
)
from confalign.report.before_after import markdown_table
from confalign.runs import RunStore

COLUMNS = (
    ("n", "N"),
    ("answered", "with Cv"),
    ("accuracy", "acc"),
    ("ece", "ECE"),
    ("nce", "|NCE|"),
    ("brier", "Brier"),
    ("auroc", "AUROC"),
    ("cv_right", "Cv right"),
    ("cv_wrong", "Cv wrong"),
)


def calibration_metrics(cv: np.ndarray, y: np.ndarray, total: int) -> dict[str, Any]:
    """The ``COLUMNS`` of confidences ``cv`` in [0, 1] and correctness ``y`` (``total``: the
    examples asked, with or without a confidence)."""
    out: dict[str, Any] = {"n": len(cv), "answered": len(cv) / total if total else math.nan}
    if len(cv) < 2:
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # AUROC with one class: NaN, shown as a dash
        out |= {
            "accuracy": float(y.mean()),
            "ece": expected_calibration_error(cv, y),
            "nce": absolute_net_calibration_error(cv, y),
            "brier": brier_score_loss(cv, y),
            "auroc": auroc_score(cv, y),
            "cv_right": float(cv[y == 1].mean()) if (y == 1).any() else math.nan,
            "cv_wrong": float(cv[y == 0].mean()) if (y == 0).any() else math.nan,
        }
    return out


def _confidences(store: RunStore, dataset: str, key: str) -> tuple[np.ndarray, np.ndarray, int]:
    records = store.rows(dataset, key)
    ok = [r for r in records if r.confidence is not None and r.correct is not None]
    cv = np.array([r.confidence for r in ok], dtype=np.float64)
    y = np.array([bool(r.correct) for r in ok], dtype=np.float64)
    return cv, y, len(records)


def calibration_rows(
    run_dir: str | Path, label: str, formats: Sequence[str], *, mode: str = "distribution"
) -> list[dict[str, Any]]:
    """One row per (dataset, format) of the run that has records."""
    rows = []
    with RunStore.open(run_dir) as store:
        for dataset in store.datasets():
            for fmt in formats:
                cv, y, total = _confidences(store, dataset, f"verbalized/{fmt}/{mode}")
                if total:
                    rows.append(
                        {"model": label, "dataset": dataset, "format": fmt}
                        | calibration_metrics(cv, y, total)
                    )
    return rows


def method_rows(run_dir: str | Path, label: str, methods: Sequence[str]) -> list[dict[str, Any]]:
    """One row per (dataset, method key) of the run that has records (internal confidence:
    ``answer_prob``, ``choice``, ...), the method in the ``format`` column."""
    rows = []
    with RunStore.open(run_dir) as store:
        for dataset in store.datasets():
            for method in methods:
                conf, y, total = _confidences(store, dataset, method)
                if total:
                    rows.append(
                        {"model": label, "dataset": dataset, "format": method}
                        | calibration_metrics(conf, y, total)
                    )
    return rows


def platt_rows(
    fit_run: str | Path,
    apply_run: str | Path,
    label: str,
    formats: Sequence[str],
    *,
    mode: str = "distribution",
) -> list[dict[str, Any]]:
    """Platt scaling of each format's Cv, fitted on ``fit_run`` (its datasets pooled) and
    applied to every dataset of ``apply_run``; formats the fit run lacks are skipped."""
    rows = []
    with RunStore.open(fit_run) as fit, RunStore.open(apply_run) as apply:
        for fmt in formats:
            key = f"verbalized/{fmt}/{mode}"
            pairs = [_confidences(fit, d, key) for d in fit.datasets()]
            cv = np.concatenate([p[0] for p in pairs]) if pairs else np.zeros(0)
            y = np.concatenate([p[1] for p in pairs]) if pairs else np.zeros(0)
            if len(cv) < 2 or y.min() == y.max():
                continue  # no map without both classes
            scaler = PlattScaling.fit(cv, y)
            for dataset in apply.datasets():
                c, yy, total = _confidences(apply, dataset, key)
                if total:
                    rows.append(
                        {"model": label, "dataset": dataset, "format": fmt}
                        | calibration_metrics(scaler.transform(c), yy, total)
                    )
    return rows


def interleave(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows ordered by dataset and format, the models in their first-seen order within each."""
    keys = list(dict.fromkeys((r["dataset"], r["format"]) for r in rows))
    return [r for key in keys for r in rows if (r["dataset"], r["format"]) == key]


def to_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The table as Markdown, one line per model x dataset x format."""
    return markdown_table(rows, ("dataset", "format", "model"), COLUMNS)
