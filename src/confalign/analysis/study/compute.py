"""The study's numbers: pure functions from per model x task x method arrays to a JSON-ready dict.

Per pair x task x method x metric (2409.00352's grid): the base value, the tuned value and
the difference tuned - base with a paired percentile bootstrap interval (the same resampled
questions for both models: ``confalign.metrics.bootstrap_ci`` resamples every array it is
given together). For calibration errors (ECE, SCE, Brier) a positive difference is harm; for
AUROC and accuracy a negative one. A difference is significant when its interval excludes 0;
``harmed`` / ``improved`` / ``n.s.`` say which way.

Robustness (the paper's Section 5): per metric x method, the ranking of pairs by degradation
on each task and Kendall's tau-b between every two tasks' degradations (scipy); and the
verdict table: over all (pair, task) cells of a metric x method, how many got worse, how many
significantly, and whether "tuning harms calibration" holds there.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from confalign import metrics as M
from confalign.analysis.study.config import ERROR_METRICS, StudyConfig

STUDY_FORMAT = "confalign-study/1"


@dataclass(frozen=True)
class MethodData:
    """One model's usable records of one task x method, aligned by ``example_ids``.

    ``confidence`` (n,) in [0, 1]; ``correct`` (n,) in {0, 1}; ``probs`` (n, K) option
    distributions (None when the records have no common K); ``labels`` (n,) gold option
    indices (-1 where unknown)."""

    example_ids: tuple[str, ...]
    confidence: np.ndarray
    correct: np.ndarray
    probs: np.ndarray | None
    labels: np.ndarray

    def subset(self, ids: Sequence[str]) -> MethodData:
        where = {e: i for i, e in enumerate(self.example_ids)}
        idx = np.array([where[e] for e in ids], dtype=np.int64)
        probs = None if self.probs is None else self.probs[idx]
        return MethodData(
            tuple(ids), self.confidence[idx], self.correct[idx], probs, self.labels[idx]
        )


def metric_value(name: str, data: MethodData, n_bins: int) -> float | None:
    """One metric of one model's arrays; None where undefined (SCE without gold labels or a
    common K, AUROC with one class)."""
    return _metric(name, data.confidence, data.correct, data.probs, data.labels, n_bins)


def _metric(
    name: str,
    conf: np.ndarray,
    correct: np.ndarray,
    probs: np.ndarray | None,
    labels: np.ndarray,
    n_bins: int,
) -> float | None:
    if len(conf) == 0:
        return None
    if name == "ece":
        return float(M.expected_calibration_error(conf, correct, n_bins=n_bins))
    if name == "brier":
        return float(M.brier_score_loss(conf, correct))
    if name == "accuracy":
        return float(np.mean(correct))
    if name == "auroc":
        if correct.min() == correct.max():
            return None
        return float(M.auroc_score(conf, correct))
    if name == "sce":
        if probs is None or (labels < 0).any():
            return None
        return float(M.static_calibration_error(probs, labels, n_bins=n_bins))
    raise ValueError(f"unknown study metric {name!r}")


def harm(metric: str, difference: float) -> float:
    """The difference oriented so that a positive value is harm (degradation)."""
    return difference if metric in ERROR_METRICS else -difference


def paired_difference(
    metric: str,
    base: MethodData,
    tuned: MethodData,
    *,
    n_bins: int,
    n_bootstrap: int,
    ci_level: float,
    seed: int,
) -> dict[str, Any]:
    """Base, tuned, tuned - base and its paired bootstrap interval on the questions both
    models have a usable record for."""
    answered = set(tuned.example_ids)
    ids = [e for e in base.example_ids if e in answered]
    b, t = base.subset(ids), tuned.subset(ids)
    vb, vt = metric_value(metric, b, n_bins), metric_value(metric, t, n_bins)
    out: dict[str, Any] = {
        "n": len(ids),
        "base": vb,
        "tuned": vt,
        "difference": None if vb is None or vt is None else vt - vb,
        "low": None,
        "high": None,
        "significant": None,
        "verdict": "undefined" if vb is None or vt is None else "n.s.",
    }
    if out["difference"] is None or n_bootstrap == 0:
        return out
    low, high = _paired_interval(metric, b, t, n_bins, n_bootstrap, ci_level, seed)
    if low is None or high is None:
        return out
    out["low"], out["high"] = low, high
    out["significant"] = bool(low > 0 or high < 0)
    if out["significant"]:
        out["verdict"] = "harmed" if harm(metric, (low + high) / 2) > 0 else "improved"
    return out


def _paired_interval(
    metric: str,
    b: MethodData,
    t: MethodData,
    n_bins: int,
    n_bootstrap: int,
    ci_level: float,
    seed: int,
) -> tuple[float | None, float | None]:
    """Percentile interval of tuned - base over resamples of the shared questions."""
    k = 1 if b.probs is None or t.probs is None else b.probs.shape[1]
    pb = b.probs if b.probs is not None else np.zeros((len(b.confidence), k))
    pt = t.probs if t.probs is not None else np.zeros((len(t.confidence), k))

    def diff(
        cb: np.ndarray,
        yb: np.ndarray,
        pb_: np.ndarray,
        ct: np.ndarray,
        yt: np.ndarray,
        pt_: np.ndarray,
        labels: np.ndarray,
    ) -> float:
        base_probs = pb_ if b.probs is not None else None
        tuned_probs = pt_ if t.probs is not None else None
        vb = _metric(metric, cb, yb, base_probs, labels, n_bins)
        vt = _metric(metric, ct, yt, tuned_probs, labels, n_bins)
        return np.nan if vb is None or vt is None else vt - vb

    arrays = (b.confidence, b.correct, pb, t.confidence, t.correct, pt, b.labels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", M.UndefinedMetricWarning)
        result = M.bootstrap_ci(
            diff, *arrays, n_resamples=n_bootstrap, confidence_level=ci_level, seed=seed
        )
    if not np.isfinite(result.low) or not np.isfinite(result.high):
        return None, None
    return float(result.low), float(result.high)


def model_table(
    data: Mapping[str, Mapping[str, Mapping[str, MethodData]]], config: StudyConfig
) -> dict[str, Any]:
    """Per model label x task x method: n and every metric of the study."""
    return {
        model: {
            task: {
                method: {
                    "n": len(arr.confidence),
                    **{m: metric_value(m, arr, config.n_bins) for m in config.metrics},
                }
                for method, arr in methods.items()
            }
            for task, methods in tasks.items()
        }
        for model, tasks in data.items()
    }


def compute_study(
    data: Mapping[str, Mapping[str, Mapping[str, MethodData]]],
    config: StudyConfig,
    runs: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    """The whole study as a JSON-ready dict (``data[model label][task][method]``)."""
    cells = []
    for pair, task, method, metric in itertools.product(
        config.pairs, config.tasks, config.methods, config.metrics
    ):
        base = data[pair.base.label][task][method]
        tuned = data[pair.tuned.label][task][method]
        seed = config.seed + len(cells)
        diff = paired_difference(
            metric,
            base,
            tuned,
            n_bins=config.n_bins,
            n_bootstrap=config.n_bootstrap,
            ci_level=config.ci_level,
            seed=seed,
        )
        cells.append({"pair": pair.label, "task": task, "method": method, "metric": metric, **diff})
    return {
        "format": STUDY_FORMAT,
        "settings": {
            "tasks": list(config.tasks),
            "methods": list(config.methods),
            "metrics": list(config.metrics),
            "limit": config.limit,
            "seed": config.seed,
            "n_bins": config.n_bins,
            "n_bootstrap": config.n_bootstrap,
            "ci_level": config.ci_level,
            "difference": "tuned - base, on the questions both models answered",
            "interval": "paired percentile bootstrap over questions",
        },
        "pairs": [
            {
                "label": p.label,
                "base": {"model": p.base.model, "adapter": p.base.adapter, "label": p.base.label},
                "tuned": {
                    "model": p.tuned.model,
                    "adapter": p.tuned.adapter,
                    "label": p.tuned.label,
                },
            }
            for p in config.pairs
        ],
        "runs": dict(runs or {}),
        "models": model_table(data, config),
        "cells": cells,
        "rankings": rankings(cells, config),
        "verdicts": verdicts(cells, config),
    }


def _cell_index(cells: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str, str, str], Any]:
    return {(c["pair"], c["task"], c["method"], c["metric"]): c for c in cells}


def rankings(cells: Sequence[Mapping[str, Any]], config: StudyConfig) -> list[dict[str, Any]]:
    """Per metric x method: each task's pairs ordered from most to least degraded, and
    Kendall's tau-b between every two tasks' degradations (pairs defined on both; None with
    fewer than two, or when one side is constant)."""
    from scipy.stats import kendalltau

    index = _cell_index(cells)
    labels = [p.label for p in config.pairs]
    out = []
    for metric, method in itertools.product(config.metrics, config.methods):
        degradation = {
            task: [_harm_of(index[(pair, task, method, metric)], metric) for pair in labels]
            for task in config.tasks
        }
        order = {
            task: [
                labels[i]
                for i in sorted(
                    (i for i, v in enumerate(values) if v is not None), key=lambda i: -values[i]
                )
            ]
            for task, values in degradation.items()
        }
        taus = []
        for t1, t2 in itertools.combinations(config.tasks, 2):
            both = [
                (a, b)
                for a, b in zip(degradation[t1], degradation[t2], strict=True)
                if a is not None and b is not None
            ]
            tau = None
            if len(both) >= 2:
                x, y = np.array(both).T
                if np.ptp(x) > 0 and np.ptp(y) > 0:
                    tau = float(kendalltau(x, y).statistic)
            taus.append({"tasks": [t1, t2], "n_pairs": len(both), "tau": tau})
        defined = [t["tau"] for t in taus if t["tau"] is not None]
        out.append(
            {
                "metric": metric,
                "method": method,
                "degradation": degradation,
                "order": order,
                "kendall_tau": taus,
                "mean_tau": float(np.mean(defined)) if defined else None,
            }
        )
    return out


def _harm_of(cell: Mapping[str, Any], metric: str) -> float | None:
    d = cell.get("difference")
    return None if d is None else harm(metric, d)


def verdicts(cells: Sequence[Mapping[str, Any]], config: StudyConfig) -> list[dict[str, Any]]:
    """Per metric x method over all (pair, task) cells: how many got worse or better after
    tuning, how many significantly, the mean difference, and the verdict: ``harms`` when more
    cells got worse than better and significant harms are not outnumbered by significant
    improvements, ``helps`` the other way round, else ``mixed``."""
    out = []
    for metric, method in itertools.product(config.metrics, config.methods):
        chosen = [
            c
            for c in cells
            if c["metric"] == metric and c["method"] == method and c["difference"] is not None
        ]
        worse = sum(harm(metric, c["difference"]) > 0 for c in chosen)
        better = sum(harm(metric, c["difference"]) < 0 for c in chosen)
        harmed = sum(c["verdict"] == "harmed" for c in chosen)
        improved = sum(c["verdict"] == "improved" for c in chosen)
        if worse > better and harmed >= improved:
            verdict = "harms"
        elif better > worse and improved >= harmed:
            verdict = "helps"
        else:
            verdict = "mixed"
        out.append(
            {
                "metric": metric,
                "method": method,
                "n_cells": len(chosen),
                "n_worse": int(worse),
                "n_better": int(better),
                "n_harmed": int(harmed),
                "n_improved": int(improved),
                "mean_difference": (
                    float(np.mean([c["difference"] for c in chosen])) if chosen else None
                ),
                "verdict": verdict if chosen else "undefined",
            }
        )
    return out
