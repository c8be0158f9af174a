"""Calibration metrics of a confidence against correctness: ECE, MCE, SCE, NCE, Brier, NLL.

The formulas are docs/design.md's ("Metrics"); binning rules are in ``confalign.metrics.binning``.
All take ``confidence`` of shape ``(n_samples,)`` in [0, 1] and ``correct`` of the same shape
in {0, 1} (SCE takes the full ``(n_samples, n_classes)`` probabilities and integer labels),
and return a plain ``float``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from confalign.metrics._info import register_metric
from confalign.metrics._validation import (
    FloatArray,
    check_confidence_correct,
    check_distributions,
    check_labels,
    check_same_length,
)
from confalign.metrics.binning import (
    Strategy,
    assign_bins,
    bin_edges,
    bin_sums,
    check_binning,
    ece_from_sums,
    mce_from_sums,
    residual_sums,
)

#: NLL clips confidences to ``[NLL_EPS, 1 - NLL_EPS]`` (docs/design.md), so one wrong 0/1 answer
#: costs ``-ln(1e-7) = 16.1`` instead of infinity.
NLL_EPS = 1e-7


def signed_errors(c: FloatArray, y: FloatArray) -> FloatArray:
    """Per-example ``c - y``; NCE is their mean."""
    return c - y


def squared_errors(c: FloatArray, y: FloatArray) -> FloatArray:
    """Per-example ``(c - y)^2``; the Brier score is their mean."""
    return (c - y) ** 2


def log_losses(c: FloatArray, y: FloatArray) -> FloatArray:
    """Per-example ``-(y ln c + (1 - y) ln(1 - c))`` with c clipped to
    ``[NLL_EPS, 1 - NLL_EPS]``; NLL is their mean."""
    clipped = np.clip(c, NLL_EPS, 1.0 - NLL_EPS)
    return -np.where(y == 1.0, np.log(clipped), np.log1p(-clipped))


@register_metric(
    "ece",
    label="ECE",
    higher_is_better=False,
    description="expected calibration error: sum_b (n_b/N) |acc_b - conf_b|",
)
def expected_calibration_error(
    confidence: ArrayLike,
    correct: ArrayLike,
    *,
    n_bins: int = 15,
    strategy: Strategy = "equal_width",
) -> float:
    """Expected calibration error, in [0, 1] (Naeini et al. 2015; Guo et al. 2017).

    Parameters
    ----------
    confidence : array-like of shape (n_samples,), values in [0, 1]
    correct : array-like of shape (n_samples,), values in {0, 1}
    n_bins : int, default 15
    strategy : {"equal_width", "equal_mass"}, default "equal_width"

    Examples
    --------
    Two bins: (0, 0.5] holds 0.25, 0.25 (acc 0) and (0.5, 1] holds 0.75, 0.75 (acc 0.5), so
    ECE = 0.5 * 0.25 + 0.5 * 0.25.

    >>> expected_calibration_error([0.75, 0.75, 0.25, 0.25], [1, 0, 0, 0], n_bins=2)
    0.25
    """
    n_bins, strategy = check_binning(n_bins, strategy)
    c, y = check_confidence_correct(confidence, correct)
    return float(ece_from_sums(residual_sums(c, y, n_bins, strategy), len(c)))


@register_metric(
    "mce",
    label="MCE",
    higher_is_better=False,
    description="maximum calibration error: max over non-empty bins of |acc_b - conf_b|",
)
def maximum_calibration_error(
    confidence: ArrayLike,
    correct: ArrayLike,
    *,
    n_bins: int = 15,
    strategy: Strategy = "equal_width",
) -> float:
    """Maximum calibration error over non-empty bins, in [0, 1]; always >= ECE.

    Same parameters as ``expected_calibration_error``.
    """
    n_bins, strategy = check_binning(n_bins, strategy)
    c, y = check_confidence_correct(confidence, correct)
    _, count, sum_confidence, sum_correct = bin_sums(c, y, n_bins, strategy)
    return float(mce_from_sums(count, sum_correct - sum_confidence))


@register_metric(
    "sce",
    label="SCE",
    higher_is_better=False,
    description="static calibration error: ECE of every class's probability, averaged",
)
def static_calibration_error(
    probs: ArrayLike,
    labels: ArrayLike,
    *,
    n_bins: int = 15,
    strategy: Strategy = "equal_width",
) -> float:
    """Static (classwise) calibration error, in [0, 1] (Nixon et al. 2019).

    ``SCE = (1/K) sum_k sum_b (n_bk / N) |acc_bk - conf_bk|``, binning ``probs[:, k]`` per
    class; ``acc_bk`` is the share of the bin's examples whose label is ``k``.

    Parameters
    ----------
    probs : array-like of shape (n_samples, n_classes); rows are distributions
    labels : array-like of shape (n_samples,), integers in [0, n_classes)
    n_bins, strategy : as in ``expected_calibration_error`` (equal-mass edges per class)
    """
    n_bins, strategy = check_binning(n_bins, strategy)
    p = check_distributions("probs", probs)
    if p.ndim != 2:
        raise ValueError(f"probs must be 2-D (n_samples, n_classes), got shape {p.shape}")
    n, k = p.shape
    label = check_labels("labels", labels, k)
    check_same_length(("probs", "labels"), (p, label))
    hits = (label[:, None] == np.arange(k)).astype(np.float64)
    index = np.empty((n, k), dtype=np.intp)
    for cls in range(k):  # a loop over classes; each class is binned in one vectorised call
        index[:, cls] = assign_bins(p[:, cls], bin_edges(p[:, cls], n_bins, strategy))
    keys = (index + np.arange(k) * n_bins).ravel()
    residual = np.bincount(keys, weights=(hits - p).ravel(), minlength=k * n_bins)
    return float(ece_from_sums(residual, n * k))


@register_metric(
    "nce",
    label="NCE",
    higher_is_better=None,
    low=-1.0,
    description="net calibration error mean(c) - mean(y); > 0 is over-confident",
)
def net_calibration_error(confidence: ArrayLike, correct: ArrayLike) -> float:
    """Net (signed) calibration error ``mean(c) - mean(y)``, in [-1, 1]; > 0 over-confident.

    Parameters
    ----------
    confidence : array-like of shape (n_samples,), values in [0, 1]
    correct : array-like of shape (n_samples,), values in {0, 1}
    """
    c, y = check_confidence_correct(confidence, correct)
    return float(np.mean(signed_errors(c, y)))


@register_metric(
    "abs_nce",
    label="|NCE|",
    higher_is_better=False,
    description="absolute net calibration error |mean(c) - mean(y)|",
)
def absolute_net_calibration_error(confidence: ArrayLike, correct: ArrayLike) -> float:
    """``|net_calibration_error|``, in [0, 1]."""
    return abs(net_calibration_error(confidence, correct))


@register_metric("brier", label="Brier", higher_is_better=False, description="mean((c - y)^2)")
def brier_score_loss(confidence: ArrayLike, correct: ArrayLike) -> float:
    """Brier score ``mean((c - y)^2)``, in [0, 1] (same value as scikit-learn's).

    Parameters
    ----------
    confidence : array-like of shape (n_samples,), values in [0, 1]
    correct : array-like of shape (n_samples,), values in {0, 1}
    """
    c, y = check_confidence_correct(confidence, correct)
    return float(np.mean(squared_errors(c, y)))


@register_metric(
    "nll",
    label="NLL",
    higher_is_better=False,
    high=float(-np.log(NLL_EPS)),
    description="negative log-likelihood of correctness, c clipped to [1e-7, 1 - 1e-7]",
)
def log_loss(confidence: ArrayLike, correct: ArrayLike) -> float:
    """Negative log-likelihood of correctness, in [0, 16.12]; ``c`` is clipped to
    ``[1e-7, 1 - 1e-7]`` as docs/design.md defines (the only clipping in this package).

    Parameters
    ----------
    confidence : array-like of shape (n_samples,), values in [0, 1]
    correct : array-like of shape (n_samples,), values in {0, 1}
    """
    c, y = check_confidence_correct(confidence, correct)
    return float(np.mean(log_losses(c, y)))
