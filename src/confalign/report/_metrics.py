"""The report's one point of contact with ``confalign.metrics``.

Every number the report shows is computed by ``confalign.metrics``; this module only adapts
its results to plain dicts keyed by the library's metric keys (``ece``, ``auroc``,
``spearman``...) and hands the report, for the bootstrap, the library function registered under
each key, so a point value and its interval come from the same function.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

from confalign import metrics as M

BIN_COLUMNS = ("lo", "hi", "count", "accuracy", "confidence")
#: Coverages of the selective accuracies (``accuracy_at_50``: the 50% most confident kept).
COVERAGES = (0.5, 0.8)


@dataclass(frozen=True)
class Bound:
    """A library metric function with its keyword options (``n_bins``). Kept apart, not as a
    ``partial``, because ``bootstrap_ci`` recognises the library's own functions and resamples
    them in one vectorised pass."""

    fn: Callable[..., float]
    options: Mapping[str, Any] = field(default_factory=dict)

    def __call__(self, *arrays: np.ndarray) -> float:
        return float(self.fn(*arrays, **self.options))


def calibration(
    confidence: np.ndarray, correct: np.ndarray, *, n_bins: int
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Every scalar of ``calibration_summary`` (by metric key) and its per-bin table."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", M.UndefinedMetricWarning)  # NaN -> null in the report
        summary = M.calibration_summary(confidence, correct, n_bins=n_bins)
    return {k: float(v) for k, v in summary.scalars().items()}, _bins(summary.bins)


def calibration_functions(*, n_bins: int) -> dict[str, Bound]:
    """``key -> f(confidence, correct)``: the library function registered under each key;
    accuracy and mean confidence (plain means) where the library registers no function."""
    out = {"accuracy": Bound(_accuracy), "mean_confidence": Bound(_mean_confidence)}
    for key, fn in _functions_by_key().items():
        out[key] = Bound(fn, {"n_bins": n_bins} if _takes(fn, "n_bins") else {})
    return out


def coverage_key(coverage: float) -> str:
    """``accuracy_at_50`` for coverage 0.5."""
    return f"accuracy_at_{round(100 * coverage)}"


def selective_functions() -> dict[str, Bound]:
    """``accuracy_at_<pct> -> f(confidence, correct)`` for each of ``COVERAGES``."""
    return {coverage_key(c): Bound(M.accuracy_at_coverage, {"coverage": c}) for c in COVERAGES}


def selective(confidence: np.ndarray, correct: np.ndarray) -> dict[str, float]:
    """Accuracy of the most confident ``COVERAGES`` shares, by ``coverage_key``."""
    return {key: fn(confidence, correct) for key, fn in selective_functions().items()}


def _accuracy(confidence: np.ndarray, correct: np.ndarray) -> float:
    return float(np.mean(correct))


def _mean_confidence(confidence: np.ndarray, correct: np.ndarray) -> float:
    return float(np.mean(confidence))


def ece(confidence: np.ndarray, correct: np.ndarray, n_bins: int) -> float:
    """ECE (equal-width bins) of one array pair."""
    return float(M.expected_calibration_error(confidence, correct, n_bins=n_bins))


def sce_function(*, n_bins: int) -> Bound:
    """``f(probs, labels)``: static calibration error over K-way probability vectors."""
    return Bound(M.static_calibration_error, {"n_bins": n_bins})


def alignment(cv: np.ndarray, ci: np.ndarray) -> dict[str, float]:
    """The DCA alignment metrics of Cv against Ci, by metric key."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", M.UndefinedMetricWarning)
        return {k: float(v) for k, v in M.alignment_metrics(cv, ci).scalars().items()}


def alignment_functions() -> dict[str, Bound]:
    """``key -> f(cv, ci)`` for the alignment metrics (and any other registered metric)."""
    return {key: Bound(fn) for key, fn in _functions_by_key().items()}


def interval(
    metric: Bound,
    arrays: Sequence[np.ndarray],
    *,
    n_resamples: int,
    level: float,
    seed: int,
) -> tuple[float | None, float | None]:
    """The percentile bootstrap interval of ``metric`` over ``arrays`` (resampled together,
    by example), computed by ``confalign.metrics.bootstrap_ci``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", M.UndefinedMetricWarning)
        result = M.bootstrap_ci(
            metric.fn,
            *arrays,
            n_resamples=n_resamples,
            confidence_level=level,
            seed=seed,
            **metric.options,
        )
    return _finite(result.low), _finite(result.high)


def metric_info() -> dict[str, dict[str, Any]]:
    """``key -> {"label", "higher_is_better", "low", "high", "description"}``."""
    out: dict[str, dict[str, Any]] = {}
    for key, info in M.METRICS.items():
        out[key] = {
            "label": info.label,
            "higher_is_better": info.higher_is_better,
            "low": _finite(info.low),
            "high": _finite(info.high),
            "description": info.description,
        }
    return out


# ------------------------------------------------------------------------------------- helpers
@cache
def _functions_by_key() -> dict[str, Callable[..., float]]:
    """The public metric functions of ``confalign.metrics``, by their registered key."""
    out: dict[str, Callable[..., float]] = {}
    for name in getattr(M, "__all__", dir(M)):
        obj = getattr(M, name, None)
        if not callable(obj) or inspect.isclass(obj):
            continue
        try:
            out[M.metric_info(obj).key] = obj
        except (KeyError, TypeError):
            continue
    return out


def _takes(fn: Callable[..., Any], parameter: str) -> bool:
    try:
        return parameter in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _bins(table: Any) -> list[dict[str, Any]]:
    """A ``BinTable`` (column arrays) as one plain dict per bin (NaN -> None in empty bins)."""
    columns = {name: np.asarray(getattr(table, name)) for name in BIN_COLUMNS}
    return [
        {name: _plain(col[i]) for name, col in columns.items()} for i in range(len(table.count))
    ]


def _plain(value: Any) -> Any:
    value = value.item() if hasattr(value, "item") else value
    return _finite(value) if isinstance(value, float) else value


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None
