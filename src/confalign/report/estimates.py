"""How the report computes an estimate: options, point value plus bootstrap interval, and the
JSON conventions (NaN/inf become null)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from confalign.report import _metrics
from confalign.runs import ResultRow

SLOW = ("smece",)  # metrics whose intervals use ``ReportOptions.n_bootstrap_slow`` resamples


@dataclass(frozen=True)
class ReportOptions:
    """How the report computes: ECE bins, bootstrap resamples, interval level and seed."""

    n_bins: int = 15
    n_bootstrap: int = 1000  # resamples per metric; 0 turns intervals off
    # smECE has no vectorised bootstrap (one bisection of ~11 kernel smoothings per resample,
    # about 1 ms): its interval uses at most this many resamples.
    n_bootstrap_slow: int = 200
    ci_level: float = 0.95
    seed: int = 0  # of the bootstrap resampling

    def __post_init__(self) -> None:
        if isinstance(self.n_bins, bool) or not isinstance(self.n_bins, int) or self.n_bins < 1:
            raise ValueError(f"n_bins: must be an integer >= 1, got {self.n_bins!r}")
        for name in ("n_bootstrap", "n_bootstrap_slow"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}: must be an integer >= 0, got {value!r}")
        if not 0 < self.ci_level < 1:
            raise ValueError(f"ci_level: must be in (0, 1), got {self.ci_level!r}")


def is_usable(row: ResultRow) -> bool:
    """A row enters the metric arrays when it has a confidence and a correctness."""
    return row.confidence is not None and row.correct is not None


def estimate(
    value: float,
    fn: _metrics.Bound | None,
    arrays: Sequence[np.ndarray],
    options: ReportOptions,
    name: str = "",
) -> dict[str, float | None]:
    """``{"value", "low", "high"}``: the point value and its bootstrap interval (None where
    undefined, or when ``fn`` is None or intervals are off)."""
    low = high = None
    resamples = options.n_bootstrap
    if name in SLOW:
        resamples = min(resamples, options.n_bootstrap_slow)
    if fn is not None and resamples > 0 and len(arrays[0]) > 1:
        low, high = _metrics.interval(
            fn, arrays, n_resamples=resamples, level=options.ci_level, seed=options.seed
        )
    return {"value": finite(value), "low": finite(low), "high": finite(high)}


def finite(value: Any) -> float | None:
    """A float, or None for None/NaN/inf (JSON has no NaN)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def jsonable(obj: Any) -> Any:
    """``obj`` with NaN/inf floats as None and numpy scalars as Python numbers (strict JSON)."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    return obj
