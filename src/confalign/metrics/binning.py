"""Confidence bins: edges, assignment, per-bin sums and the per-bin table the diagrams draw.

Bin ``b`` holds the confidences in ``(lo_b, hi_b]``; ``c = 0`` goes in the first bin. So a
value on an edge belongs to the bin below it (torchmetrics bins ``[lo, hi)`` instead).

- ``equal_width``: edges ``b / n_bins`` (computed as an exact division, so ``c = 0.2`` with 5
  bins lies on the edge and goes in bin 0).
- ``equal_mass``: with the confidences sorted ascending, ``hi_b`` is the ``ceil(b N / B)``-th
  smallest value (b = 1..B-1), ``lo_1 = 0`` and ``hi_B = 1``. Without ties every bin holds
  ``N / B`` examples (rounded); tied values stay together in the lower bin, so bins may be
  uneven or empty.

Empty bins are skipped by every statistic (they carry weight ``n_b / N = 0``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from confalign.metrics._validation import (
    FloatArray,
    IntArray,
    check_choice,
    check_confidence_correct,
    check_n_bins,
)

Strategy = Literal["equal_width", "equal_mass"]
STRATEGIES: tuple[str, ...] = ("equal_width", "equal_mass")


#: Examples per block when accumulating bin sums: the temporaries stay in cache (and off
#: fresh memory pages, which cost more than the arithmetic at N = 10^6).
BLOCK = 2**16

#: Relative distance (times n_bins) from an integer below which c * n_bins counts as "on an
#: edge" and is binned by binary search: 8 eps covers +-4 ulps around every edge.
_NEAR_EDGE_EPS = 8 * float(np.finfo(np.float64).eps)


def check_binning(n_bins: int, strategy: str) -> tuple[int, Strategy]:
    """The binning options, checked once."""
    checked = check_choice("strategy", strategy, STRATEGIES)
    return check_n_bins(n_bins), checked  # type: ignore[return-value]


def bin_edges(confidence: FloatArray, n_bins: int, strategy: Strategy) -> FloatArray:
    """The ``(n_bins + 1,)`` edges from 0 to 1 (``confidence`` is only read for equal mass)."""
    if strategy == "equal_width":
        return np.arange(n_bins + 1, dtype=np.float64) / n_bins
    ordered = np.sort(confidence)
    n = len(ordered)
    positions = -(-np.arange(1, n_bins) * n // n_bins) - 1  # ceil(b N / B) - 1
    return np.concatenate(([0.0], ordered[positions], [1.0]))


def assign_bins(confidence: FloatArray, edges: FloatArray) -> IntArray:
    """``(N,)`` bin index of each confidence: the number of interior edges strictly below it."""
    return np.searchsorted(edges[1:-1], confidence, side="left").astype(np.intp)


def _index_in(confidence: FloatArray, edges: FloatArray, strategy: Strategy) -> IntArray:
    """Bin index of each confidence for the given edges."""
    if strategy == "equal_mass":
        return assign_bins(confidence, edges)
    # Equal width without a binary search: ceil(c B) - 1 is the bin of every confidence
    # farther than a few ulps from an edge (the rounding of c * B cannot cross an integer
    # there), and those near an edge are exactly the ones with c * B within ~5 B eps of an
    # integer; only they (and c = 0, c = 1) go through the binary search.
    n_bins = len(edges) - 1
    scaled = confidence * n_bins
    ceiling = np.ceil(scaled)
    distance = np.subtract(ceiling, scaled, out=scaled)  # ceil(x) - x, in [0, 1)
    distance -= 0.5
    np.abs(distance, out=distance)
    near = np.flatnonzero(distance > 0.5 - _NEAR_EDGE_EPS * n_bins)
    index = ceiling.astype(np.intp)
    index -= 1
    np.maximum(index, 0, out=index)
    index[near] = assign_bins(confidence[near], edges)
    return index


def bin_index(
    confidence: FloatArray, n_bins: int, strategy: Strategy
) -> tuple[IntArray, FloatArray]:
    """``(index (N,), edges (n_bins + 1,))``: the binning of one sample."""
    edges = bin_edges(confidence, n_bins, strategy)
    return _index_in(confidence, edges, strategy), edges


def _blocks(n: int) -> range:
    return range(0, n, BLOCK)


def residual_sums(c: FloatArray, y: FloatArray, n_bins: int, strategy: Strategy) -> FloatArray:
    """``R_b = sum_(i in b) (y_i - c_i)`` per bin, ``(n_bins,)``; inputs already checked."""
    edges = bin_edges(c, n_bins, strategy)
    residual = np.zeros(n_bins)
    for start in _blocks(len(c)):
        cb, yb = c[start : start + BLOCK], y[start : start + BLOCK]
        residual += np.bincount(_index_in(cb, edges, strategy), yb - cb, minlength=n_bins)
    return residual


def bin_sums(
    c: FloatArray, y: FloatArray, n_bins: int, strategy: Strategy
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """``(edges, count, sum of confidence, sum of correct)`` per bin; inputs already checked."""
    edges = bin_edges(c, n_bins, strategy)
    sums = np.zeros((3, n_bins))
    for start in _blocks(len(c)):
        cb, yb = c[start : start + BLOCK], y[start : start + BLOCK]
        index = _index_in(cb, edges, strategy)
        sums[0] += np.bincount(index, minlength=n_bins)
        sums[1] += np.bincount(index, cb, minlength=n_bins)
        sums[2] += np.bincount(index, yb, minlength=n_bins)
    return edges, sums[0], sums[1], sums[2]


def ece_from_sums(residual: FloatArray, n: float) -> FloatArray:
    """ECE along the last axis from the per-bin residual sums ``R_b = sum_(i in b) (y_i - c_i)``.

    ``ECE = sum_b (n_b / N) |acc_b - conf_b| = sum_b |R_b| / N``.
    """
    return np.abs(residual).sum(axis=-1) / n


def mce_from_sums(count: FloatArray, residual: FloatArray) -> FloatArray:
    """MCE along the last axis: the largest ``|acc_b - conf_b| = |R_b| / n_b`` over non-empty
    bins (an empty bin contributes 0, which never exceeds a non-empty bin's gap)."""
    gap = np.abs(residual)
    per_bin = np.divide(gap, count, out=np.zeros_like(gap), where=count > 0)
    return per_bin.max(axis=-1)


@dataclass(frozen=True, eq=False)
class BinTable:
    """Per-bin statistics of one (confidence, correct) sample; arrays are ``(n_bins,)``.

    ``accuracy`` and ``confidence`` are NaN in empty bins. ``lo``/``hi``: the bin edges.
    """

    lo: FloatArray
    hi: FloatArray
    count: IntArray
    accuracy: FloatArray
    confidence: FloatArray
    strategy: Strategy

    @property
    def n(self) -> int:
        """Number of examples."""
        return int(self.count.sum())

    @property
    def n_bins(self) -> int:
        return len(self.count)

    @property
    def gap(self) -> FloatArray:
        """``accuracy - confidence`` per bin (negative: over-confident); NaN when empty."""
        return self.accuracy - self.confidence

    @property
    def ece(self) -> float:
        """The ECE of this table (same formula as ``expected_calibration_error``)."""
        return float(ece_from_sums(self._residual(), self.n))

    @property
    def mce(self) -> float:
        """The MCE of this table (same formula as ``maximum_calibration_error``)."""
        return float(mce_from_sums(self.count.astype(np.float64), self._residual()))

    def _residual(self) -> FloatArray:
        return np.nan_to_num(self.gap) * self.count


def calibration_bins(
    confidence: ArrayLike,
    correct: ArrayLike,
    *,
    n_bins: int = 15,
    strategy: Strategy = "equal_width",
) -> BinTable:
    """The per-bin table of a reliability diagram.

    Parameters
    ----------
    confidence : array-like of shape (n_samples,), values in [0, 1]
    correct : array-like of shape (n_samples,), values in {0, 1}
    n_bins : int, default 15
    strategy : {"equal_width", "equal_mass"}, default "equal_width"
    """
    n_bins, strategy = check_binning(n_bins, strategy)
    c, y = check_confidence_correct(confidence, correct)
    return bin_table(c, y, n_bins, strategy)


def bin_table(c: FloatArray, y: FloatArray, n_bins: int, strategy: Strategy) -> BinTable:
    """``calibration_bins`` on arrays that are already checked."""
    return table_from_sums(*bin_sums(c, y, n_bins, strategy), strategy)


def table_from_sums(
    edges: FloatArray,
    count: FloatArray,
    sum_confidence: FloatArray,
    sum_correct: FloatArray,
    strategy: Strategy,
) -> BinTable:
    """The ``BinTable`` of ``bin_sums``' output."""
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(count > 0, sum_correct / count, np.nan)
        mean_confidence = np.where(count > 0, sum_confidence / count, np.nan)
    return BinTable(
        lo=edges[:-1],
        hi=edges[1:],
        count=count.astype(np.intp),
        accuracy=accuracy,
        confidence=mean_confidence,
        strategy=strategy,
    )
