"""Post-hoc recalibration: fit on a calibration split, apply to a disjoint test split.

Each method is a frozen dataclass of fitted parameters with a ``fit`` classmethod and a
``transform`` method, so what was fitted can be stored and reported:

- ``TemperatureScaling``: option log-likelihoods ``s`` (n, K) -> ``softmax(s / T)``, with
  ``T`` minimising the NLL of the labels (scipy, bounded search over ``log T``).
- ``PlattScaling``: ``sigmoid(a logit(c) + b)`` by unpenalised logistic regression
  (scikit-learn); ``c`` is clipped to ``[1e-7, 1 - 1e-7]`` before the logit (as NLL does), so
  Cv values of exactly 0 or 1 are usable.
- ``IsotonicCalibration``: a non-decreasing step map fitted by scikit-learn's
  ``IsotonicRegression``, applied by linear interpolation between its thresholds and held
  constant beyond them (scikit-learn's ``out_of_bounds="clip"``).
- ``HistogramBinning``: each bin of the fit split maps to its accuracy (Zadrozny & Elkan
  2001); a bin empty in the fit split keeps the confidence unchanged.

``recalibrate`` runs one of the last three end to end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import minimize_scalar
from scipy.special import expit, log_softmax, logit

from confalign.metrics._validation import (
    FloatArray,
    as_float_array,
    check_choice,
    check_confidence_correct,
    check_labels,
    check_same_length,
    check_unit_interval,
)
from confalign.metrics.binning import Strategy, assign_bins, bin_table, check_binning
from confalign.metrics.calibration import NLL_EPS

#: Temperatures searched by ``TemperatureScaling.fit``.
TEMPERATURE_BOUNDS = (1e-2, 1e2)


class Recalibrator(Protocol):
    """A fitted map from confidence (n,) in [0, 1] to recalibrated confidence (n,)."""

    def transform(self, confidence: ArrayLike) -> FloatArray: ...


def _check_fit(confidence: ArrayLike, correct: ArrayLike) -> tuple[FloatArray, FloatArray]:
    c, y = check_confidence_correct(confidence, correct)
    if y.min() == y.max():
        raise ValueError("correct must contain both 0 and 1 to fit a recalibration map")
    return c, y


@dataclass(frozen=True)
class TemperatureScaling:
    """Temperature scaling of option log-likelihoods (Guo et al. 2017)."""

    temperature: float

    @classmethod
    def fit(cls, log_likelihoods: ArrayLike, labels: ArrayLike) -> TemperatureScaling:
        """Fit ``T`` by NLL on ``log_likelihoods`` (n, K) (any finite scores: log-probs,
        logits) and integer ``labels`` (n,) in [0, K)."""
        s = as_float_array("log_likelihoods", log_likelihoods, ndim=2)
        label = check_labels("labels", labels, s.shape[1])
        check_same_length(("log_likelihoods", "labels"), (s, label))
        rows = np.arange(len(s))

        def nll(log_t: float) -> float:
            return float(-log_softmax(s / np.exp(log_t), axis=1)[rows, label].mean())

        bounds = np.log(TEMPERATURE_BOUNDS)
        result = minimize_scalar(nll, bounds=tuple(bounds), method="bounded")
        return cls(temperature=float(np.exp(result.x)))

    def transform(self, log_likelihoods: ArrayLike) -> FloatArray:
        """Recalibrated option probabilities ``softmax(s / T)``, shape (n, K)."""
        s = as_float_array("log_likelihoods", log_likelihoods, ndim=2)
        return np.exp(log_softmax(s / self.temperature, axis=1))


def _logit(c: FloatArray) -> FloatArray:
    return logit(np.clip(c, NLL_EPS, 1.0 - NLL_EPS))


@dataclass(frozen=True)
class PlattScaling:
    """``sigmoid(slope * logit(c) + intercept)`` (Platt 1999)."""

    slope: float
    intercept: float

    @classmethod
    def fit(cls, confidence: ArrayLike, correct: ArrayLike) -> PlattScaling:
        from sklearn.linear_model import LogisticRegression

        c, y = _check_fit(confidence, correct)
        # tol: lbfgs stops at 1e-4 by default, which leaves the map ~1e-4 off the optimum.
        model = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000)
        model = model.fit(_logit(c)[:, None], y.astype(np.intp))
        return cls(slope=float(model.coef_[0, 0]), intercept=float(model.intercept_[0]))

    def transform(self, confidence: ArrayLike) -> FloatArray:
        c = check_unit_interval("confidence", confidence)
        return expit(self.slope * _logit(c) + self.intercept)


@dataclass(frozen=True, eq=False)
class IsotonicCalibration:
    """A non-decreasing map through the points ``(x, y)`` (Zadrozny & Elkan 2002)."""

    x: FloatArray
    y: FloatArray

    @classmethod
    def fit(cls, confidence: ArrayLike, correct: ArrayLike) -> IsotonicCalibration:
        from sklearn.isotonic import IsotonicRegression

        c, y = _check_fit(confidence, correct)
        model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(c, y)
        return cls(x=np.asarray(model.X_thresholds_), y=np.asarray(model.y_thresholds_))

    def transform(self, confidence: ArrayLike) -> FloatArray:
        c = check_unit_interval("confidence", confidence)
        return np.interp(c, self.x, self.y)


@dataclass(frozen=True, eq=False)
class HistogramBinning:
    """Each bin ``(edges[b], edges[b+1]]`` maps to ``value[b]`` (NaN: keep the input)."""

    edges: FloatArray
    value: FloatArray

    @classmethod
    def fit(
        cls,
        confidence: ArrayLike,
        correct: ArrayLike,
        *,
        n_bins: int = 15,
        strategy: Strategy = "equal_width",
    ) -> HistogramBinning:
        n_bins, strategy = check_binning(n_bins, strategy)
        c, y = check_confidence_correct(confidence, correct)
        table = bin_table(c, y, n_bins, strategy)
        return cls(edges=np.append(table.lo, table.hi[-1]), value=table.accuracy)

    def transform(self, confidence: ArrayLike) -> FloatArray:
        c = check_unit_interval("confidence", confidence)
        mapped = self.value[assign_bins(c, self.edges)]
        return np.where(np.isnan(mapped), c, mapped)


Method = Literal["platt", "isotonic", "histogram"]
METHODS: dict[str, type[PlattScaling] | type[IsotonicCalibration] | type[HistogramBinning]] = {
    "platt": PlattScaling,
    "isotonic": IsotonicCalibration,
    "histogram": HistogramBinning,
}


def recalibrate(
    method: Method,
    fit_confidence: ArrayLike,
    fit_correct: ArrayLike,
    confidence: ArrayLike,
) -> FloatArray:
    """Fit ``method`` on ``(fit_confidence, fit_correct)`` and apply it to ``confidence``.

    The two splits must be disjoint examples (fitting and scoring on the same examples
    flatters the result). Returns recalibrated confidences of ``confidence``'s shape (n,).
    """
    check_choice("method", method, tuple(METHODS))
    return METHODS[method].fit(fit_confidence, fit_correct).transform(confidence)
