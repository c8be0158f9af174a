"""Every calibration and ranking metric of one (confidence, correct) sample, checked once."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import ArrayLike

from confalign.metrics._validation import UndefinedMetricWarning, check_confidence_correct
from confalign.metrics.binning import (
    BinTable,
    Strategy,
    bin_sums,
    check_binning,
    ece_from_sums,
    mce_from_sums,
    table_from_sums,
)
from confalign.metrics.calibration import log_losses, signed_errors, squared_errors
from confalign.metrics.ranking import (
    aurc_from_groups,
    auroc_from_groups,
    descending_groups,
    harmonic_numbers,
    prr_from_groups,
)
from confalign.metrics.smooth import smooth_ece


@dataclass(frozen=True, eq=False)
class CalibrationSummary:
    """Scalar metrics of one sample plus its bin table (for the reliability diagram).

    ``auroc`` and ``prr`` are NaN when every answer is correct or every one wrong;
    ``smece`` is None when ``smooth=False``.
    Keys of ``scalars()`` match ``metric_info``.
    """

    n: int
    accuracy: float
    mean_confidence: float
    ece: float
    mce: float
    nce: float
    abs_nce: float
    brier: float
    nll: float
    auroc: float
    aurc: float
    prr: float
    smece: float | None
    n_bins: int
    strategy: Strategy
    bins: BinTable

    def scalars(self) -> dict[str, float]:
        """The metrics by ``metric_info`` key (plus ``accuracy``/``mean_confidence``; ``n``,
        the options and the bin table left out; ``smece`` only when computed)."""
        skip = {"n", "n_bins", "strategy", "bins"}
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}
        return {k: float(v) for k, v in values.items() if v is not None}


def calibration_summary(
    confidence: ArrayLike,
    correct: ArrayLike,
    *,
    n_bins: int = 15,
    strategy: Strategy = "equal_width",
    smooth: bool = True,
) -> CalibrationSummary:
    """All scalar metrics and the per-bin table of one sample.

    Parameters
    ----------
    confidence : array-like of shape (n_samples,), values in [0, 1]
    correct : array-like of shape (n_samples,), values in {0, 1}
    n_bins : int, default 15
    strategy : {"equal_width", "equal_mass"}, default "equal_width"
    smooth : bool, default True; compute smECE
    """
    n_bins, strategy = check_binning(n_bins, strategy)
    c, y = check_confidence_correct(confidence, correct)
    edges, count, sum_confidence, sum_correct = bin_sums(c, y, n_bins, strategy)
    residual = sum_correct - sum_confidence
    size, errors = descending_groups(c, y)
    harmonic = harmonic_numbers(len(c))
    single_class = y.min() == y.max()
    if single_class:
        warnings.warn(
            "AUROC and PRR are undefined when every answer is "
            f"{'correct' if y[0] == 1.0 else 'wrong'}; they are NaN",
            UndefinedMetricWarning,
            stacklevel=2,
        )
    nce = float(np.mean(signed_errors(c, y)))
    return CalibrationSummary(
        n=len(c),
        accuracy=float(y.mean()),
        mean_confidence=float(c.mean()),
        ece=float(ece_from_sums(residual, len(c))),
        mce=float(mce_from_sums(count, residual)),
        nce=nce,
        abs_nce=abs(nce),
        brier=float(np.mean(squared_errors(c, y))),
        nll=float(np.mean(log_losses(c, y))),
        auroc=float(auroc_from_groups(size[::-1] - errors[::-1], errors[::-1])),
        aurc=float(aurc_from_groups(size, errors, harmonic)),
        prr=float(prr_from_groups(size, errors, harmonic)),
        smece=smooth_ece(c, y) if smooth else None,
        n_bins=n_bins,
        strategy=strategy,
        bins=table_from_sums(edges, count, sum_confidence, sum_correct, strategy),
    )
