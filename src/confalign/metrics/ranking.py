"""Confidence as a ranking of which answers to trust: AUROC, risk-coverage, AURC, PRR.

Ties in confidence cannot be split by any threshold, so every statistic here treats a tie
group as a whole: AUROC counts a tied (correct, wrong) pair as 1/2 (Mann-Whitney), and the
risk-coverage statistics break ties *in expectation* (as if tied examples were kept in random
order). All results are therefore invariant to the order of the examples.

Selective prediction, with examples kept from the most to the least confident:
``risk@k`` = errors among the ``k`` most confident / ``k``;
``AURC = (1/N) sum_(k=1..N) risk@k`` (the area under the step curve of risk against
coverage ``k/N``); ``A = 1 - AURC`` is the area under mean correctness of the kept examples
against the rejected fraction, and ``PRR = (A_conf - A_random) / (A_oracle - A_random)``
(LM-Polygraph), where the oracle keeps every correct answer first and a random order keeps
accuracy ``mean(y)`` at every coverage. ``selective_risk`` gives ``risk@k`` at every ``k``
(its mean is AURC) and ``accuracy_at_coverage`` the accuracy ``1 - risk@k`` of the
``k = ceil(coverage N)`` most confident answers.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from confalign.metrics._info import register_metric
from confalign.metrics._ranks import groups_from_keys, label_groups, sorted_label_keys
from confalign.metrics._validation import (
    FloatArray,
    UndefinedMetricWarning,
    check_confidence_correct,
)


def auroc_from_groups(positive: FloatArray, negative: FloatArray) -> FloatArray:
    """AUROC along the last axis from per-tie-group counts of correct (``positive``) and
    wrong (``negative``) examples, groups in ascending confidence; NaN when a class is empty.

    ``U = sum_g P_g (N0_(before g) + N0_g / 2)``, ``AUROC = U / (N1 N0)``.
    """
    n1 = positive.sum(axis=-1)
    n0 = negative.sum(axis=-1)
    below = np.cumsum(negative, axis=-1) - negative
    u = (positive * (below + negative / 2.0)).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n1 * n0 > 0, u / (n1 * n0), np.nan)


def harmonic_numbers(n: int) -> FloatArray:
    """``H[k] = sum_(j=1..k) 1/j`` for k = 0..n, shape (n + 1,)."""
    return np.concatenate(([0.0], np.cumsum(1.0 / np.arange(1, n + 1))))


def aurc_from_groups(size: FloatArray, errors: FloatArray, harmonic: FloatArray) -> FloatArray:
    """AURC along the last axis from tie groups in *descending* confidence.

    Within group g (``s`` examples, ``e`` errors, ``a`` kept before it, ``E0`` errors before
    it), the expected errors after keeping ``k`` are ``E0 + (k - a) e / s``, so the group adds
    ``sum_(k=a+1..a+s) risk@k = E0 (H_(a+s) - H_a) + (e / s) (s - a (H_(a+s) - H_a))``.
    """
    end = np.cumsum(size, axis=-1)
    start = end - size
    d_h = harmonic[end.astype(np.intp)] - harmonic[start.astype(np.intp)]
    errors_before = np.cumsum(errors, axis=-1) - errors
    rate = np.divide(errors, size, out=np.zeros_like(errors), where=size > 0)
    total = errors_before * d_h + rate * (size - start * d_h)
    return total.sum(axis=-1) / size.sum(axis=-1)


def prr_from_groups(size: FloatArray, errors: FloatArray, harmonic: FloatArray) -> FloatArray:
    """PRR along the last axis from descending tie groups; NaN when all answers are correct
    or all wrong (the oracle is then no better than random).

    With ``A = 1 - AURC``: ``PRR = (AURC_random - AURC_conf) / (AURC_random - AURC_oracle)``;
    the random order is one tie group of everything, the oracle two groups (correct, wrong).
    """
    n = size.sum(axis=-1, keepdims=True)
    n0 = errors.sum(axis=-1, keepdims=True)
    random = aurc_from_groups(n, n0, harmonic)
    oracle_size = np.concatenate((n - n0, n0), axis=-1)
    oracle = aurc_from_groups(oracle_size, np.concatenate((np.zeros_like(n0), n0), -1), harmonic)
    conf = aurc_from_groups(size, errors, harmonic)
    defined = (n0[..., 0] > 0) & (n0[..., 0] < n[..., 0])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(defined, (random - conf) / (random - oracle), np.nan)


def descending_groups(c: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``(size, errors)`` of the tie groups in descending confidence; inputs checked."""
    size, correct = label_groups(c, y)
    return size[::-1], (size - correct)[::-1]


def _warn_single_class(metric: str, y: FloatArray) -> bool:
    if 0.0 < y.sum() < len(y):
        return False
    only = "correct" if y[0] == 1.0 else "wrong"
    warnings.warn(
        f"{metric} is undefined when every answer is {only}; returning NaN",
        UndefinedMetricWarning,
        stacklevel=3,
    )
    return True


@register_metric(
    "auroc",
    label="AUROC",
    higher_is_better=True,
    description="P(confidence of a correct answer > that of a wrong one), ties 1/2",
)
def auroc_score(confidence: ArrayLike, correct: ArrayLike) -> float:
    """Area under the ROC curve of confidence as a detector of correct answers, in [0, 1].

    The Mann-Whitney probability that a correct answer is more confident than a wrong one,
    ties counted 1/2 (equals scikit-learn's ``roc_auc_score(correct, confidence)``). NaN with
    an ``UndefinedMetricWarning`` when every answer is correct or every answer is wrong.

    Parameters
    ----------
    confidence : array-like of shape (n_samples,), values in [0, 1]
    correct : array-like of shape (n_samples,), values in {0, 1}
    """
    c, y = check_confidence_correct(confidence, correct)
    if _warn_single_class("AUROC", y):
        return float("nan")
    key = sorted_label_keys(c, y)
    value = key >> np.uint64(1)
    if np.any(value[1:] == value[:-1]):
        size, positive = groups_from_keys(key)
        return float(auroc_from_groups(positive, size - positive))
    # No ties (every group a single example): the correct answer at sorted position j is
    # above j - (correct answers before it) wrong ones, so U = sum of their j - n1 (n1 - 1) / 2.
    n1 = y.sum()
    u = float(np.flatnonzero(key & np.uint64(1)).sum()) - n1 * (n1 - 1.0) / 2.0
    return u / (n1 * (len(y) - n1))


@dataclass(frozen=True, eq=False)
class RiskCoverageCurve:
    """Points of the risk-coverage curve, one per distinct confidence, most confident first.

    ``threshold`` (G,): keep answers with confidence >= threshold; ``coverage`` (G,): the
    share kept; ``risk`` (G,): the error rate among them. ``aurc``: the area (module doc).
    """

    threshold: FloatArray
    coverage: FloatArray
    risk: FloatArray
    aurc: float


def risk_coverage_curve(confidence: ArrayLike, correct: ArrayLike) -> RiskCoverageCurve:
    """The risk-coverage curve of selective prediction (Geifman & El-Yaniv 2017).

    Parameters
    ----------
    confidence : array-like of shape (n_samples,), values in [0, 1]
    correct : array-like of shape (n_samples,), values in {0, 1}
    """
    c, y = check_confidence_correct(confidence, correct)
    size, errors = descending_groups(c, y)
    value = np.unique(c)[::-1]
    kept = np.cumsum(size)
    aurc = aurc_from_groups(size, errors, harmonic_numbers(len(c)))
    return RiskCoverageCurve(
        threshold=value,
        coverage=kept / len(c),
        risk=np.cumsum(errors) / kept,
        aurc=float(aurc),
    )


@register_metric(
    "aurc",
    label="AURC",
    higher_is_better=False,
    description="area under the risk-coverage curve (mean error rate of the kept answers)",
)
def aurc_error(confidence: ArrayLike, correct: ArrayLike) -> float:
    """Area under the risk-coverage curve, in [0, 1]: ``(1/N) sum_k risk@k`` (module doc).

    Parameters
    ----------
    confidence : array-like of shape (n_samples,), values in [0, 1]
    correct : array-like of shape (n_samples,), values in {0, 1}
    """
    c, y = check_confidence_correct(confidence, correct)
    size, errors = descending_groups(c, y)
    return float(aurc_from_groups(size, errors, harmonic_numbers(len(c))))


@register_metric(
    "prr",
    label="PRR",
    higher_is_better=True,
    low=-np.inf,
    description="prediction rejection ratio (A_conf - A_random) / (A_oracle - A_random)",
)
def prr_score(confidence: ArrayLike, correct: ArrayLike) -> float:
    """Prediction rejection ratio, in (-inf, 1]: 1 is the oracle ranking, 0 random.

    NaN with an ``UndefinedMetricWarning`` when every answer is correct or every answer is
    wrong. Same parameters as ``aurc_error``.
    """
    c, y = check_confidence_correct(confidence, correct)
    if _warn_single_class("PRR", y):
        return float("nan")
    size, errors = descending_groups(c, y)
    return float(prr_from_groups(size, errors, harmonic_numbers(len(c))))


def _expected_errors(size: FloatArray, errors: FloatArray, kept: FloatArray) -> FloatArray:
    """Expected errors among the ``kept`` most confident (descending tie groups ``size``,
    ``errors``), ties broken in expectation: ``E0 + (k - a) e / s`` inside group g."""
    end = np.cumsum(size)
    group = np.searchsorted(end, kept, side="left")
    start = end[group] - size[group]
    before = (np.cumsum(errors) - errors)[group]
    return before + (kept - start) * errors[group] / size[group]


@dataclass(frozen=True, eq=False)
class SelectiveRisk:
    """``risk@k`` for ``k = 1..N`` (ties broken in expectation), most confident first.

    ``coverage`` (N,): ``k / N``; ``risk`` (N,): expected error rate of the ``k`` kept;
    ``oracle`` (N,): the risk of the ranking that keeps every correct answer first,
    ``max(0, k - N1) / k``; ``random`` (N,): ``1 - mean(y)`` at every ``k``.
    ``mean(risk)`` is AURC.
    """

    coverage: FloatArray
    risk: FloatArray
    oracle: FloatArray
    random: FloatArray


def selective_risk(confidence: ArrayLike, correct: ArrayLike) -> SelectiveRisk:
    """The risk-coverage curve at every coverage ``k / N``, with its oracle and random curves.

    Parameters
    ----------
    confidence : array-like of shape (n_samples,), values in [0, 1]
    correct : array-like of shape (n_samples,), values in {0, 1}
    """
    c, y = check_confidence_correct(confidence, correct)
    size, errors = descending_groups(c, y)
    n = len(c)
    kept = np.arange(1, n + 1, dtype=np.float64)
    risk = _expected_errors(size, errors, kept) / kept
    n_correct = float(y.sum())
    return SelectiveRisk(
        coverage=kept / n,
        risk=risk,
        oracle=np.maximum(0.0, kept - n_correct) / kept,
        random=np.full(n, 1.0 - n_correct / n),
    )


@register_metric(
    "accuracy_at_coverage",
    label="acc@coverage",
    higher_is_better=True,
    description="accuracy of the ceil(coverage N) most confident answers, ties in expectation",
)
def accuracy_at_coverage(
    confidence: ArrayLike, correct: ArrayLike, *, coverage: float = 0.5
) -> float:
    """Selective accuracy, in [0, 1]: the expected share correct among the
    ``k = ceil(coverage N)`` most confident answers (at least one), ties broken in expectation.

    Parameters
    ----------
    confidence : array-like of shape (n_samples,), values in [0, 1]
    correct : array-like of shape (n_samples,), values in {0, 1}
    coverage : float in (0, 1], default 0.5; the share of answers kept
    """
    if not 0.0 < coverage <= 1.0:
        raise ValueError(f"coverage must be in (0, 1], got {coverage!r}")
    c, y = check_confidence_correct(confidence, correct)
    size, errors = descending_groups(c, y)
    # ceil with a tolerance, so 0.7 * 10 (7.000000000000001) keeps 7, not 8
    k = max(1, math.ceil(coverage * len(c) - 1e-9))
    kept = np.array([float(k)])
    return float(1.0 - _expected_errors(size, errors, kept)[0] / k)
