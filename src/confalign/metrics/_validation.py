"""The one input check every metric uses.

Each check returns a new-or-same ``float64`` (or ``intp`` for labels) array and raises
``ValueError`` naming the argument, the first bad index and its value, e.g.
``confidence[3] = 1.2 is outside [0, 1]``. Nothing is clipped, squashed or dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

#: Largest accepted ``|row sum - 1|`` of a probability vector (float32 softmax outputs pass).
ROW_SUM_ATOL = 1e-6


class UndefinedMetricWarning(UserWarning):
    """A metric is undefined on this input (e.g. AUROC with one class) and returned NaN."""


def _index_text(index: tuple[int, ...]) -> str:
    return ", ".join(str(int(i)) for i in index)


def _raise_first(name: str, values: NDArray[Any], bad: NDArray[np.bool_], problem: str) -> None:
    """Raise ``ValueError`` for the first ``True`` in ``bad`` (row-major order)."""
    index = tuple(np.argwhere(bad)[0])
    value = values[index]
    raise ValueError(f"{name}[{_index_text(index)}] = {value.item()!r} {problem}")


def _as_array(name: str, values: ArrayLike, ndim: int) -> FloatArray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be an array of numbers ({exc})") from None
    if array.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty")
    return array


def _check_bounds(name: str, array: FloatArray, low: float, high: float) -> None:
    """Every entry finite and in [low, high]. The passing case costs two reductions and no
    temporary array (min/max propagate NaN); masks are built only to name a bad entry."""
    smallest, largest = array.min(), array.max()
    if np.isfinite(smallest) and np.isfinite(largest) and low <= smallest and largest <= high:
        return
    finite = np.isfinite(array)
    if not finite.all():
        _raise_first(name, array, ~finite, "is not finite")
    _raise_first(name, array, (array < low) | (array > high), f"is outside [{low:g}, {high:g}]")


def as_float_array(name: str, values: ArrayLike, *, ndim: int = 1) -> FloatArray:
    """``values`` as a non-empty, finite float64 array of exactly ``ndim`` dimensions."""
    array = _as_array(name, values, ndim)
    _check_bounds(name, array, -np.inf, np.inf)
    return array


def check_unit_interval(name: str, values: ArrayLike, *, ndim: int = 1) -> FloatArray:
    """A finite float64 array with every entry in [0, 1] (confidences, probabilities)."""
    array = _as_array(name, values, ndim)
    _check_bounds(name, array, 0.0, 1.0)
    return array


def check_binary(name: str, values: ArrayLike) -> FloatArray:
    """A 1-D float64 array of 0.0 and 1.0 (bools and 0/1 integers are accepted)."""
    array = _as_array(name, values, 1)
    in_range = array.min() >= 0.0 and array.max() <= 1.0  # False with a NaN
    if not (in_range and np.count_nonzero(array) == np.count_nonzero(array == 1.0)):
        _check_bounds(name, array, -np.inf, np.inf)
        _raise_first(name, array, (array != 0.0) & (array != 1.0), "is not 0 or 1")
    return array


def check_same_length(names: Sequence[str], arrays: Sequence[NDArray[Any]]) -> None:
    """All arrays have the same first dimension."""
    first = len(arrays[0])
    for name, array in zip(names[1:], arrays[1:], strict=True):
        if len(array) != first:
            raise ValueError(
                f"{names[0]} has {first} values but {name} has {len(array)}; they must match"
            )


def check_confidence_correct(
    confidence: ArrayLike,
    correct: ArrayLike,
    *,
    names: tuple[str, str] = ("confidence", "correct"),
) -> tuple[FloatArray, FloatArray]:
    """The shared check of ``(confidence in [0, 1], correct in {0, 1})`` of equal length."""
    c = check_unit_interval(names[0], confidence)
    y = check_binary(names[1], correct)
    check_same_length(names, (c, y))
    return c, y


def check_confidence_pair(
    first: ArrayLike, second: ArrayLike, *, names: tuple[str, str]
) -> tuple[FloatArray, FloatArray]:
    """Two confidence arrays in [0, 1] on the same examples (e.g. Cv and Ci)."""
    a = check_unit_interval(names[0], first)
    b = check_unit_interval(names[1], second)
    check_same_length(names, (a, b))
    return a, b


def check_distributions(name: str, values: ArrayLike) -> FloatArray:
    """A (K,) vector or (n, K) matrix of distributions: entries in [0, 1], each row summing
    to 1 within ``ROW_SUM_ATOL``."""
    try:
        ndim = np.ndim(values)
    except ValueError as exc:
        raise ValueError(f"{name} must be an array of numbers ({exc})") from None
    if ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D (K,) or 2-D (n, K), got {ndim}-D")
    probs = check_unit_interval(name, values, ndim=ndim)
    sums = probs.sum(axis=-1, keepdims=True)
    bad = np.abs(sums - 1.0) > ROW_SUM_ATOL
    if bad.any():
        row = int(np.flatnonzero(bad.ravel())[0])
        where = f"{name}[{row}]" if probs.ndim == 2 else name
        raise ValueError(
            f"{where} sums to {float(sums.ravel()[row]):.10g}, not 1 (tolerance {ROW_SUM_ATOL:g})"
        )
    return probs


def check_labels(name: str, values: ArrayLike, n_classes: int) -> IntArray:
    """Integer class labels in ``range(n_classes)``, returned as ``intp``."""
    array = as_float_array(name, values)
    bad = (array != np.round(array)) | (array < 0) | (array >= n_classes)
    if bad.any():
        _raise_first(name, array, bad, f"is not an integer label in [0, {n_classes - 1}]")
    return array.astype(np.intp)


def check_n_bins(n_bins: int) -> int:
    """``n_bins`` is an integer >= 1 (bools refused)."""
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise ValueError(f"n_bins must be an integer >= 1, got {n_bins!r}")
    return int(n_bins)


def check_choice(name: str, value: str, choices: Sequence[str]) -> str:
    """``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_open_unit(name: str, value: float) -> float:
    """A number strictly between 0 and 1 (a confidence level)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating):
        raise ValueError(f"{name} must be a number in (0, 1), got {value!r}")
    if not 0.0 < float(value) < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")
    return float(value)
