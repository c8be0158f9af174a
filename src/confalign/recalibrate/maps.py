"""One fitted recalibration map: fit it with ``confalign.metrics``, store it as JSON, load it.

Maps (``confalign.metrics.recalibration`` holds the definitions):

- ``platt``, ``isotonic``, ``histogram``: a map of the confidence ``c`` (n,) in [0, 1] fitted
  on ``(c, correct)``; any method's confidence, Cv included.
- ``temperature``: ``softmax(s / T)`` of the option log-scores ``s`` (n, K), fitted by NLL on
  the gold option; only where option log-likelihoods exist (``choice``, ``continuation_*``).

JSON keeps every parameter exactly (a float64 written by ``json`` reads back bit for bit);
a histogram bin left empty by the fit split is ``null`` (the map keeps such inputs unchanged).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from confalign.metrics import (
    HistogramBinning,
    IsotonicCalibration,
    PlattScaling,
    TemperatureScaling,
)

BINARY_MAPS = ("platt", "isotonic", "histogram")
MAPS = (*BINARY_MAPS, "temperature")
FittedMap = PlattScaling | IsotonicCalibration | HistogramBinning | TemperatureScaling
_CLASSES: dict[str, type[PlattScaling] | type[IsotonicCalibration] | type[HistogramBinning]] = {
    "platt": PlattScaling,
    "isotonic": IsotonicCalibration,
    "histogram": HistogramBinning,
}


def fit_binary(name: str, confidence: np.ndarray, correct: np.ndarray) -> FittedMap:
    """Fit ``platt``, ``isotonic`` or ``histogram`` (15 equal-width bins) on (n,) arrays."""
    return _CLASSES[name].fit(confidence, correct)


def fit_temperature(scores: np.ndarray, labels: np.ndarray) -> TemperatureScaling:
    """Fit ``T`` on option log-scores (n, K) and gold option indices (n,)."""
    return TemperatureScaling.fit(scores, labels)


def map_name(fitted: FittedMap) -> str:
    """``platt``, ``isotonic``, ``histogram`` or ``temperature``."""
    if isinstance(fitted, TemperatureScaling):
        return "temperature"
    return next(name for name, cls in _CLASSES.items() if isinstance(fitted, cls))


def to_json(fitted: FittedMap) -> dict[str, Any]:
    """The map's parameters as JSON-ready values (NaN as None)."""
    if isinstance(fitted, TemperatureScaling):
        return {"temperature": fitted.temperature}
    if isinstance(fitted, PlattScaling):
        return {"slope": fitted.slope, "intercept": fitted.intercept}
    if isinstance(fitted, IsotonicCalibration):
        return {"x": _floats(fitted.x), "y": _floats(fitted.y)}
    return {"edges": _floats(fitted.edges), "value": _floats(fitted.value)}


def summary(fitted: FittedMap) -> str:
    """The parameters in a few words: ``slope 0.25, intercept -1.23``, ``T = 1.7``..."""
    if isinstance(fitted, TemperatureScaling):
        return f"T = {fitted.temperature:.4g}"
    if isinstance(fitted, PlattScaling):
        return f"slope {fitted.slope:.4g}, intercept {fitted.intercept:.4g}"
    if isinstance(fitted, IsotonicCalibration):
        return f"{len(fitted.x)} thresholds"
    return f"{int(np.sum(~np.isnan(fitted.value)))} of {len(fitted.value)} bins fitted"


def from_json(name: str, params: Mapping[str, Any]) -> FittedMap:
    """The map ``name`` with the parameters ``to_json`` wrote; raises ``ValueError`` naming a
    missing or malformed parameter."""
    try:
        if name == "temperature":
            return TemperatureScaling(temperature=_positive(params["temperature"]))
        if name == "platt":
            return PlattScaling(slope=float(params["slope"]), intercept=float(params["intercept"]))
        if name == "isotonic":
            return IsotonicCalibration(x=_array(params["x"]), y=_array(params["y"]))
        if name == "histogram":
            return HistogramBinning(edges=_array(params["edges"]), value=_array(params["value"]))
    except KeyError as exc:
        raise ValueError(f"{name} map: parameter {exc.args[0]!r} is missing") from None
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} map: malformed parameters ({exc})") from None
    raise ValueError(f"unknown recalibration map {name!r}; known: {', '.join(MAPS)}")


def _floats(values: np.ndarray) -> list[float | None]:
    return [None if math.isnan(v) else float(v) for v in np.asarray(values, dtype=np.float64)]


def _array(values: Any) -> np.ndarray:
    if not isinstance(values, list) or not values:
        raise ValueError("expected a non-empty list of numbers")
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def _positive(value: Any) -> float:
    value = float(value)
    if not value > 0 or not math.isfinite(value):
        raise ValueError(f"temperature must be a positive number, got {value}")
    return value
