"""Percentile bootstrap intervals, every resample computed at once.

A bootstrap resample draws N examples with replacement. Two exact, vectorised samplers
compute the metric for blocks of resamples without a Python loop per resample, reusing the
metric's own sufficient statistics and finishing formula:

- *cells* (ECE/MCE with equal-width bins, NCE, Brier, NLL, the gap statistics): the metric
  depends only on counts and sums of per-example values within fixed cells (bin x correct).
  Cell counts are drawn from ``Multinomial(N, n_cell / N)``, then each cell's draws uniformly
  within the cell: the same distribution as drawing N indices, but each cell's values are
  read from a small contiguous block and summed with ``np.add.reduceat``.
- *multiplicities* (AUROC, AURC, PRR, Spearman, equal-mass ECE/MCE): an index matrix
  ``(rows, N)`` becomes per-example multiplicities ``w`` via one ``bincount``; the metric's
  weighted form (tie groups, cumulative sums) evaluates every row at once.

Rows are processed in blocks of about ``CHUNK_DRAWS`` draws, so memory stays bounded at
N = 10^6. Any other metric (SCE, smECE, your own callable) falls back to calling it once per
resample. The interval is the percentile interval of the resampled values; resamples where
the metric is undefined (NaN, e.g. AUROC with one class drawn) are left out and counted.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from confalign.metrics import alignment, calibration, ranking
from confalign.metrics._ranks import spearman_plan, tie_groups
from confalign.metrics._validation import (
    FloatArray,
    IntArray,
    UndefinedMetricWarning,
    check_confidence_correct,
    check_confidence_pair,
    check_open_unit,
    check_same_length,
)
from confalign.metrics.binning import (
    Strategy,
    bin_index,
    check_binning,
    ece_from_sums,
    mce_from_sums,
)

#: Draws per block of resamples (rows per block = draws // N, at least 1). The cell sampler's
#: block of int64 indices is 32 MiB; the multiplicity sampler makes several (rows, N) float
#: temporaries, so its blocks are smaller: arrays over glibc's 32 MiB mmap threshold are
#: page-faulted afresh on every allocation, which measured 4x slower at N = 10^6.
CHUNK_DRAWS = 2**22
WEIGHT_CHUNK_DRAWS = 2**20

Finish = Callable[[FloatArray, FloatArray], FloatArray]


@dataclass(frozen=True, eq=False)
class BootstrapResult:
    """A point estimate with its percentile bootstrap interval.

    ``resamples`` (n_resamples,): the metric on every resample (NaN where undefined);
    ``n_undefined``: how many of them are NaN and left out of ``low``/``high``.
    """

    estimate: float
    low: float
    high: float
    confidence_level: float
    n_resamples: int
    n_undefined: int
    resamples: FloatArray = field(repr=False)

    @property
    def standard_error(self) -> float:
        """Standard deviation of the defined resampled values (NaN if fewer than two)."""
        valid = self.resamples[~np.isnan(self.resamples)]
        return float(valid.std(ddof=1)) if len(valid) > 1 else float("nan")


@dataclass(frozen=True, eq=False)
class _Cells:
    """A metric of per-cell counts ``(rows, K)`` and per-cell sums ``(rows, K, d)``."""

    cell_of: IntArray
    values: FloatArray
    n_cells: int
    finish: Finish


@dataclass(frozen=True, eq=False)
class _Weights:
    """A metric of per-example multiplicities ``(rows, N)``, columns in the order the spec
    chose (a sorted order): multiplicities are exchangeable, so drawing them directly in that
    order gives the same bootstrap distribution and saves a gather."""

    n: int
    finish: Callable[[FloatArray], FloatArray]


def _blocks(n: int, n_resamples: int, draws: int) -> Iterator[int]:
    """Row counts of the successive blocks of resamples."""
    rows = max(1, min(n_resamples, draws // n))
    for first in range(0, n_resamples, rows):
        yield min(rows, n_resamples - first)


def _cell_resamples(spec: _Cells, n_resamples: int, rng: np.random.Generator) -> FloatArray:
    n = len(spec.cell_of)
    order = np.argsort(spec.cell_of, kind="stable")
    values = spec.values[order]
    size = np.bincount(spec.cell_of, minlength=spec.n_cells)
    start = np.cumsum(size) - size
    out = []
    for rows in _blocks(n, n_resamples, CHUNK_DRAWS):
        counts = rng.multinomial(n, size / n, size=rows)
        sums = np.zeros((rows, spec.n_cells, values.shape[1]))
        for cell in np.flatnonzero(size):
            m = counts[:, cell]
            drawn = rng.integers(0, size[cell], size=int(m.sum())) + start[cell]
            if len(drawn) == 0:
                continue
            begin = np.cumsum(m) - m
            sums[m > 0, cell] = np.add.reduceat(values[drawn], begin[m > 0], axis=0)
        out.append(spec.finish(counts.astype(np.float64), sums))
    return np.concatenate(out)


def _weight_resamples(spec: _Weights, n_resamples: int, rng: np.random.Generator) -> FloatArray:
    n = spec.n
    out = []
    for rows in _blocks(n, n_resamples, WEIGHT_CHUNK_DRAWS):
        index = rng.integers(0, n, size=(rows, n))
        index += np.arange(rows)[:, None] * n
        weights = np.bincount(index.ravel(), minlength=rows * n).reshape(rows, n)
        out.append(spec.finish(weights.astype(np.float64)))
    return np.concatenate(out)


def _loop_resamples(
    metric: Callable[..., float],
    arrays: list[np.ndarray],
    options: dict[str, Any],
    n_resamples: int,
    rng: np.random.Generator,
) -> FloatArray:
    n = len(arrays[0])
    out = np.empty(n_resamples)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        for row in range(n_resamples):  # the fallback for metrics without a batched form
            index = rng.integers(0, n, size=n)
            out[row] = metric(*(a[index] for a in arrays), **options)
    return out


# --- batched forms of the metrics: the same sufficient statistics and finishing formulas ---


def _binned(which: str) -> Callable[..., _Cells | _Weights]:
    def prepare(
        confidence: ArrayLike,
        correct: ArrayLike,
        *,
        n_bins: int = 15,
        strategy: Strategy = "equal_width",
    ) -> _Cells | _Weights:
        n_bins, strategy = check_binning(n_bins, strategy)
        c, y = check_confidence_correct(confidence, correct)
        if strategy == "equal_mass":
            return _Weights(len(c), _equal_mass_finish(c, y, n_bins, which))
        index, _ = bin_index(c, n_bins, strategy)

        def finish(counts: FloatArray, sums: FloatArray) -> FloatArray:
            # cells are 2 * bin + correct: R_b = (#correct in b) - (sum of c in b)
            residual = counts[:, 1::2] - sums[:, 0::2, 0] - sums[:, 1::2, 0]
            if which == "ece":
                return ece_from_sums(residual, len(c))
            return mce_from_sums(counts[:, 0::2] + counts[:, 1::2], residual)

        return _Cells(2 * index + y.astype(np.intp), c[:, None], 2 * n_bins, finish)

    return prepare


def _equal_mass_finish(
    c: FloatArray, y: FloatArray, n_bins: int, which: str
) -> Callable[[FloatArray], FloatArray]:
    """Equal-mass bins re-estimated in every resample (``binning`` module doc), from
    cumulative sums over the examples sorted by confidence."""
    n = len(c)
    order = np.argsort(c)
    ordered = c[order]
    tie_end = np.searchsorted(ordered, ordered, side="right")
    residual = (y - c)[order]
    position = -(-np.arange(1, n_bins) * n // n_bins) - 1  # the edges' ranks in a resample

    def finish(weights: FloatArray) -> FloatArray:
        rows, w = len(weights), weights  # columns in ascending confidence
        count = np.cumsum(w, axis=1)
        offset = np.arange(rows)[:, None] * (n + 1.0)
        flat = np.searchsorted((count + offset).ravel(), (position + offset).ravel(), "right")
        edge = flat.reshape(rows, -1) - np.arange(rows)[:, None] * n  # sorted index of hi_b
        upto = np.concatenate(
            (np.zeros((rows, 1), np.intp), tie_end[edge], np.full((rows, 1), n)), axis=1
        )
        cum_count = np.concatenate((np.zeros((rows, 1)), count), axis=1)
        cum_res = np.concatenate((np.zeros((rows, 1)), np.cumsum(w * residual, axis=1)), axis=1)
        bin_count = np.diff(np.take_along_axis(cum_count, upto, axis=1), axis=1)
        bin_res = np.diff(np.take_along_axis(cum_res, upto, axis=1), axis=1)
        if which == "ece":
            return ece_from_sums(bin_res, n)
        return mce_from_sums(bin_count, bin_res)

    return finish


def _mean_of(
    per_example: Callable[[FloatArray, FloatArray], FloatArray],
    post: Callable[[FloatArray], FloatArray] = lambda x: x,
) -> Callable[..., _Cells]:
    """A metric ``post(mean(per_example(c, y)))``: one cell, summed."""

    def prepare(confidence: ArrayLike, correct: ArrayLike) -> _Cells:
        c, y = check_confidence_correct(confidence, correct)
        values = per_example(c, y)[:, None]
        return _Cells(np.zeros(len(c), np.intp), values, 1, lambda m, s: post(s[:, 0, 0] / len(c)))

    return prepare


def _mean_gap_of(per_example: Callable[[FloatArray], FloatArray]) -> Callable[..., _Cells]:
    def prepare(verbalized: ArrayLike, internal: ArrayLike) -> _Cells:
        cv, ci = check_confidence_pair(verbalized, internal, names=alignment.NAMES)
        values = per_example(cv - ci)[:, None]
        return _Cells(np.zeros(len(cv), np.intp), values, 1, lambda m, s: s[:, 0, 0] / len(cv))

    return prepare


def _gap_spread(sem: bool) -> Callable[..., _Cells]:
    def prepare(verbalized: ArrayLike, internal: ArrayLike, *, ddof: int = 1) -> _Cells:
        ddof = alignment._check_ddof(ddof)
        cv, ci = check_confidence_pair(verbalized, internal, names=alignment.NAMES)
        d = (cv - ci) - np.mean(cv - ci)
        n = len(d)
        scale = np.sqrt(n) if sem else 1.0

        def finish(counts: FloatArray, sums: FloatArray) -> FloatArray:
            return alignment.gap_std_from_sums(sums[:, 0, 0], sums[:, 0, 1], n, ddof) / scale

        return _Cells(np.zeros(n, np.intp), np.column_stack((d, d * d)), 1, finish)

    return prepare


def _ranked(which: str) -> Callable[..., _Weights]:
    def prepare(confidence: ArrayLike, correct: ArrayLike) -> _Weights:
        c, y = check_confidence_correct(confidence, correct)
        groups = tie_groups(c)
        harmonic = ranking.harmonic_numbers(len(c))
        y_sorted = y[groups.order]

        def finish(weights: FloatArray) -> FloatArray:  # columns in ascending confidence
            positive = groups.sums(weights * y_sorted)
            size = groups.sums(weights)
            if which == "auroc":
                return ranking.auroc_from_groups(positive, size - positive)
            descending = size[:, ::-1], (size - positive)[:, ::-1], harmonic
            if which == "aurc":
                return ranking.aurc_from_groups(*descending)
            return ranking.prr_from_groups(*descending)

        return _Weights(len(c), finish)

    return prepare


def _prepare_spearman(verbalized: ArrayLike, internal: ArrayLike) -> _Weights:
    cv, ci = check_confidence_pair(verbalized, internal, names=alignment.NAMES)
    return _Weights(len(cv), spearman_plan(cv, ci).rho)  # columns in ascending Cv


_BATCHED: dict[Callable[..., Any], Callable[..., _Cells | _Weights]] = {
    calibration.expected_calibration_error: _binned("ece"),
    calibration.maximum_calibration_error: _binned("mce"),
    calibration.net_calibration_error: _mean_of(calibration.signed_errors),
    calibration.absolute_net_calibration_error: _mean_of(calibration.signed_errors, np.abs),
    calibration.brier_score_loss: _mean_of(calibration.squared_errors),
    calibration.log_loss: _mean_of(calibration.log_losses),
    ranking.auroc_score: _ranked("auroc"),
    ranking.aurc_error: _ranked("aurc"),
    ranking.prr_score: _ranked("prr"),
    alignment.spearman_score: _prepare_spearman,
    alignment.mean_gap: _mean_gap_of(lambda e: e),
    alignment.mean_absolute_gap: _mean_gap_of(np.abs),
    alignment.gap_std: _gap_spread(sem=False),
    alignment.gap_sem: _gap_spread(sem=True),
}


def bootstrap_resamples(
    metric: Callable[..., float],
    *arrays: ArrayLike,
    n_resamples: int = 1000,
    seed: int | None = 0,
    **options: Any,
) -> FloatArray:
    """The metric on ``n_resamples`` bootstrap resamples, shape ``(n_resamples,)`` (NaN where
    undefined); ``bootstrap_ci`` without the interval."""
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 1:
        raise ValueError(f"n_resamples must be an integer >= 1, got {n_resamples!r}")
    rng = np.random.default_rng(seed)
    prepare = _BATCHED.get(metric)
    if prepare is None:
        data = [np.asarray(a) for a in arrays]
        if not data or any(a.ndim == 0 for a in data):
            raise ValueError("bootstrap needs at least one array with a first (example) axis")
        check_same_length([f"arrays[{i}]" for i in range(len(data))], data)
        return _loop_resamples(metric, data, options, n_resamples, rng)
    spec = prepare(*arrays, **options)
    if isinstance(spec, _Cells):
        return _cell_resamples(spec, n_resamples, rng)
    return _weight_resamples(spec, n_resamples, rng)


def bootstrap_ci(
    metric: Callable[..., float],
    *arrays: ArrayLike,
    n_resamples: int = 1000,
    confidence_level: float = 0.95,
    seed: int | None = 0,
    **options: Any,
) -> BootstrapResult:
    """Percentile bootstrap confidence interval of ``metric(*arrays, **options)``.

    Parameters
    ----------
    metric : a metric function of this package (vectorised), or any callable returning a
        float (resampled one call at a time)
    *arrays : the metric's data arguments, resampled together along their first axis
    n_resamples : int, default 1000
    confidence_level : float in (0, 1), default 0.95
    seed : int or None, default 0; the same seed gives the same interval
    **options : the metric's keyword options (e.g. ``n_bins=10``)

    Examples
    --------
    >>> from confalign.metrics import expected_calibration_error
    >>> r = bootstrap_ci(expected_calibration_error, [0.9, 0.8, 0.3, 0.6], [1, 1, 0, 0])
    >>> r.low <= r.estimate <= r.high
    True
    """
    level = check_open_unit("confidence_level", confidence_level)
    estimate = float(metric(*arrays, **options))
    values = bootstrap_resamples(metric, *arrays, n_resamples=n_resamples, seed=seed, **options)
    defined = values[~np.isnan(values)]
    n_undefined = len(values) - len(defined)
    if n_undefined:
        warnings.warn(
            f"{n_undefined} of {n_resamples} resamples left the metric undefined; "
            "the interval uses the others",
            UndefinedMetricWarning,
            stacklevel=2,
        )
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(defined, [alpha, 1.0 - alpha]) if len(defined) else (np.nan, np.nan)
    return BootstrapResult(
        estimate=estimate,
        low=float(low),
        high=float(high),
        confidence_level=level,
        n_resamples=n_resamples,
        n_undefined=n_undefined,
        resamples=values,
    )
