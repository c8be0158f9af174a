"""Sorting with ties: the groups of equal values that AUROC, risk-coverage and Spearman share.

Statistics here take per-example multiplicities ``w`` of shape ``(..., N)`` laid out in
*sorted* order, so the bootstrap evaluates all its resamples at once (a resample is the
multiset of examples with multiplicities ``w``; the sample itself is ``w = 1``). Because
bootstrap multiplicities are exchangeable, the bootstrap draws them directly in sorted order.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from confalign.metrics._validation import FloatArray, IntArray


@dataclass(frozen=True, eq=False)
class TieGroups:
    """Examples sorted ascending by value, cut into groups of equal values.

    ``order`` (N,): the sorting permutation; ``starts`` (G,): where each group begins in the
    sorted order.
    """

    order: IntArray
    starts: IntArray

    @property
    def n_groups(self) -> int:
        return len(self.starts)

    @property
    def has_ties(self) -> bool:
        return len(self.starts) < len(self.order)

    @cached_property
    def rank_of(self) -> IntArray:
        """(N,) the sorted position of each example (the inverse of ``order``)."""
        rank = np.empty(len(self.order), dtype=np.intp)
        rank[self.order] = np.arange(len(self.order))
        return rank

    @cached_property
    def group_at(self) -> IntArray:
        """(N,) the group of each sorted position."""
        new_group = np.zeros(len(self.order), dtype=np.intp)
        new_group[self.starts] = 1
        return np.cumsum(new_group) - 1

    def sums(self, w: FloatArray) -> FloatArray:
        """Per-group sums of sorted-order ``w`` along the last axis, ``(..., G)``."""
        return np.add.reduceat(w, self.starts, axis=-1) if self.has_ties else w

    def midranks(self, w: FloatArray) -> FloatArray:
        """Mid-ranks (1-based; ties share their average rank) of each sorted position.

        A group of weight ``w_g`` after ``W_before`` lower-valued copies has mid-rank
        ``W_before + (w_g + 1) / 2``.
        """
        size = self.sums(w)
        mid = np.cumsum(size, axis=-1) - size + (size + 1.0) / 2.0
        return mid[..., self.group_at] if self.has_ties else mid


def tie_groups(values: FloatArray) -> TieGroups:
    """The ascending tie groups of a 1-D array."""
    order = np.argsort(values)
    ordered = values[order]
    new_group = np.empty(len(values), dtype=bool)
    new_group[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new_group[1:])
    return TieGroups(order=order, starts=np.flatnonzero(new_group))


def sorted_label_keys(values: FloatArray, labels: FloatArray) -> NDArray[np.uint64]:
    """One uint64 per example, ``bits(value) * 2 + label``, sorted: ascending by value.

    For non-negative floats the IEEE bit pattern orders like the value; the shift drops the
    sign bit, so -0.0 and 0.0 get the same key. Sorting one integer array is several times
    faster than ``argsort`` followed by gathers.
    """
    key = values.view(np.uint64) << np.uint64(1)
    key |= labels.astype(np.uint64)
    key.sort()
    return key


def groups_from_keys(key: NDArray[np.uint64]) -> tuple[FloatArray, FloatArray]:
    """``(size, positive)`` per tie group of sorted label keys (ascending value)."""
    one = np.uint64(1)
    bits = key >> one
    new_group = np.empty(len(key), dtype=bool)
    new_group[0] = True
    np.not_equal(bits[1:], bits[:-1], out=new_group[1:])
    starts = np.flatnonzero(new_group)
    positive = np.add.reduceat((key & one).astype(np.float64), starts)
    size = np.diff(np.append(starts, len(key))).astype(np.float64)
    return size, positive


def label_groups(values: FloatArray, labels: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``(size, positive)`` per tie group of ``values`` (ascending), counting the examples
    and those with label 1; the fast unweighted path of ``tie_groups`` + ``sums``."""
    return groups_from_keys(sorted_label_keys(values, labels))


def weighted_pearson(x: FloatArray, y: FloatArray, w: FloatArray) -> FloatArray:
    """Pearson correlation along the last axis with frequency weights ``w``."""
    total = w.sum(axis=-1, keepdims=True)
    dx = x - (w * x).sum(axis=-1, keepdims=True) / total
    dy = y - (w * y).sum(axis=-1, keepdims=True) / total
    cov = (w * dx * dy).sum(axis=-1)
    var = (w * dx * dx).sum(axis=-1) * (w * dy * dy).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return cov / np.sqrt(var)


@dataclass(frozen=True, eq=False)
class SpearmanPlan:
    """Both sides' tie groups; ``rho(w)`` takes multiplicities in x-sorted order."""

    x: TieGroups
    y: TieGroups

    @cached_property
    def _x_to_y(self) -> IntArray:
        return self.x.rank_of[self.y.order]  # y-sorted position j -> x-sorted position

    @cached_property
    def _y_to_x(self) -> IntArray:
        return self.y.rank_of[self.x.order]  # x-sorted position i -> y-sorted position

    def rho(self, w: FloatArray) -> FloatArray:
        """Spearman's rho along the last axis; NaN where a side takes a single value."""
        rank_x = self.x.midranks(w)
        rank_y = self.y.midranks(w[..., self._x_to_y])[..., self._y_to_x]
        varies_x = (self.x.sums(w) > 0).sum(axis=-1) > 1
        varies_y = (self.y.sums(w[..., self._x_to_y]) > 0).sum(axis=-1) > 1
        return np.where(varies_x & varies_y, weighted_pearson(rank_x, rank_y, w), np.nan)


def spearman_plan(x: FloatArray, y: FloatArray) -> SpearmanPlan:
    return SpearmanPlan(tie_groups(x), tie_groups(y))
