"""DCA alignment metrics between verbalized (Cv) and internal (Ci) confidence.

On the same examples, ``eps_i = Cv_i - Ci_i`` (Direct Confidence Alignment, docs/design.md):

- Spearman rho between Cv and Ci (Pearson correlation of mid-ranks; ties share ranks);
- mean eps (signed bias; > 0: the model says more than it "believes"), mean ``|eps|``;
- ``sigma_eps``: the standard deviation of eps, and ``sigma_M = sigma_eps / sqrt(N)``, the
  standard error of the mean gap.

``sigma_eps`` uses ``ddof=1`` (the sample standard deviation) by default: ``sigma_M`` is
defined as the standard error of the mean, whose usual estimator is ``s / sqrt(N)`` with
``s`` the sample standard deviation; the DCA paper only says "standard deviation". At the
hundreds of examples these studies use the two differ by under 0.5 %; pass ``ddof=0`` for
the population form. With ``N <= ddof`` both are NaN with an ``UndefinedMetricWarning``.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike

from confalign.metrics._info import register_metric
from confalign.metrics._ranks import spearman_plan
from confalign.metrics._validation import (
    FloatArray,
    UndefinedMetricWarning,
    check_confidence_pair,
)

NAMES = ("verbalized", "internal")


def _check(verbalized: ArrayLike, internal: ArrayLike) -> tuple[FloatArray, FloatArray]:
    return check_confidence_pair(verbalized, internal, names=NAMES)


def _check_ddof(ddof: int) -> int:
    if isinstance(ddof, bool) or not isinstance(ddof, int | np.integer) or ddof < 0:
        raise ValueError(f"ddof must be an integer >= 0, got {ddof!r}")
    return int(ddof)


def gap_std_from_sums(
    total: FloatArray, total_sq: FloatArray, n: FloatArray | float, ddof: int
) -> FloatArray:
    """``sigma_eps`` from ``sum d`` and ``sum d^2`` of ``d = eps - shift`` for any constant
    ``shift`` (callers pass the sample mean, which avoids cancellation); NaN when
    ``n <= ddof``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (total_sq - total * total / n) / (n - ddof)
        return np.where(np.asarray(n) > ddof, np.sqrt(np.maximum(var, 0.0)), np.nan)


def _warn_few(n: int, ddof: int) -> None:
    if n <= ddof:
        warnings.warn(
            f"the standard deviation of the gap needs more than ddof={ddof} examples, "
            f"got {n}; returning NaN",
            UndefinedMetricWarning,
            stacklevel=4,
        )


@register_metric(
    "spearman",
    label="Spearman ρ",
    higher_is_better=True,
    low=-1.0,
    description="Spearman rank correlation between Cv and Ci",
)
def spearman_score(verbalized: ArrayLike, internal: ArrayLike) -> float:
    """Spearman's rho between Cv and Ci, in [-1, 1] (equals ``scipy.stats.spearmanr``).

    NaN with an ``UndefinedMetricWarning`` when either side is constant.

    Parameters
    ----------
    verbalized, internal : array-like of shape (n_samples,), values in [0, 1]
    """
    return _spearman(*_check(verbalized, internal))


def _spearman(cv: FloatArray, ci: FloatArray) -> float:
    plan = spearman_plan(cv, ci)
    if plan.x.n_groups < 2 or plan.y.n_groups < 2:
        warnings.warn(
            "Spearman's rho is undefined when Cv or Ci is constant; returning NaN",
            UndefinedMetricWarning,
            stacklevel=3,
        )
        return float("nan")
    return float(plan.rho(np.ones(len(cv))))


@register_metric(
    "mean_gap",
    label="mean ε",
    higher_is_better=None,
    low=-1.0,
    description="mean of eps = Cv - Ci (signed bias)",
)
def mean_gap(verbalized: ArrayLike, internal: ArrayLike) -> float:
    """Mean of ``eps = Cv - Ci``, in [-1, 1]; > 0 when Cv exceeds Ci on average."""
    cv, ci = _check(verbalized, internal)
    return float(np.mean(cv - ci))


@register_metric(
    "mean_abs_gap",
    label="mean |ε|",
    higher_is_better=False,
    description="mean of |Cv - Ci|",
)
def mean_absolute_gap(verbalized: ArrayLike, internal: ArrayLike) -> float:
    """Mean of ``|Cv - Ci|``, in [0, 1] (DCA's headline gap, usually shown in points)."""
    cv, ci = _check(verbalized, internal)
    return float(np.mean(np.abs(cv - ci)))


@register_metric(
    "gap_std",
    label="σ_ε",
    higher_is_better=False,
    description="standard deviation of eps = Cv - Ci (ddof=1)",
)
def gap_std(verbalized: ArrayLike, internal: ArrayLike, *, ddof: int = 1) -> float:
    """``sigma_eps``, the standard deviation of ``Cv - Ci``, in [0, 1] (module doc on ddof)."""
    ddof = _check_ddof(ddof)
    cv, ci = _check(verbalized, internal)
    return _gap_std(cv - ci, ddof)


def _gap_std(eps: FloatArray, ddof: int) -> float:
    _warn_few(len(eps), ddof)
    d = eps - eps.mean()
    return float(gap_std_from_sums(d.sum(), (d * d).sum(), len(d), ddof))


@register_metric(
    "gap_sem",
    label="σ_M",
    higher_is_better=False,
    description="standard error of the mean gap, sigma_eps / sqrt(N)",
)
def gap_sem(verbalized: ArrayLike, internal: ArrayLike, *, ddof: int = 1) -> float:
    """``sigma_M = sigma_eps / sqrt(N)``, the standard error of the mean gap, in [0, 1]."""
    ddof = _check_ddof(ddof)
    cv, ci = _check(verbalized, internal)
    return _gap_std(cv - ci, ddof) / float(np.sqrt(len(cv)))


@dataclass(frozen=True)
class AlignmentMetrics:
    """All DCA alignment metrics of one (Cv, Ci) sample; gaps in [0, 1] units (x100 for
    points). Keys of ``scalars()`` match ``metric_info``."""

    n: int
    spearman: float
    mean_gap: float
    mean_abs_gap: float
    gap_std: float
    gap_sem: float

    def scalars(self) -> dict[str, float]:
        """The metrics by ``metric_info`` key (``n`` left out)."""
        values = asdict(self)
        del values["n"]
        return values


def alignment_metrics(
    verbalized: ArrayLike, internal: ArrayLike, *, ddof: int = 1
) -> AlignmentMetrics:
    """Every DCA alignment metric of Cv against Ci at once.

    Parameters
    ----------
    verbalized, internal : array-like of shape (n_samples,), values in [0, 1]
    ddof : int, default 1; the degrees of freedom of ``sigma_eps`` (module doc)
    """
    ddof = _check_ddof(ddof)
    cv, ci = _check(verbalized, internal)
    eps = cv - ci
    std = _gap_std(eps, ddof)
    return AlignmentMetrics(
        n=len(eps),
        spearman=_spearman(cv, ci),
        mean_gap=float(eps.mean()),
        mean_abs_gap=float(np.abs(eps).mean()),
        gap_std=std,
        gap_sem=std / float(np.sqrt(len(eps))),
    )
