"""Smooth ECE and the smooth reliability curve (Blasiok & Nakkiran 2024).

``smooth_ece`` computes ``relplot.smECE`` (Apple's reference implementation) itself: the same
algorithm, grids and constants, with the kernel convolution done by FFT (see
``_smooth_ece_and_bandwidth``). The tests check it equal to ``relplot.smECE`` (to 1e-10, and the
same bandwidth). smECE kernel-smooths the residuals ``c - y`` with a reflected Gaussian kernel
whose bandwidth ``sigma`` is the fixed point ``smECE_sigma = sigma`` (found by bisection).

``smooth_reliability`` still draws its curve with ``relplot``'s kernel. ``relplot`` (PyPI) is
optional: it is imported only when that function runs, and its absence raises ``ImportError``
saying how to install it. It computes locally, with no network access.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import TypeVar

import numpy as np
import scipy.fft
from numpy.typing import ArrayLike, NDArray

from confalign.metrics._info import register_metric
from confalign.metrics._validation import FloatArray, IntArray, check_confidence_correct

ComplexArray = NDArray[np.complex128]
_Array = TypeVar("_Array", bound=np.ndarray)


def _relplot() -> ModuleType:
    try:
        return importlib.import_module("relplot")
    except ImportError as exc:
        raise ImportError(
            "the smooth reliability curve needs the optional package relplot (the reference "
            "implementation): pip install relplot  (or: pip install 'confalign[dev]')"
        ) from exc


def relplot_available() -> bool:
    """Whether ``relplot`` can be imported (``smooth_reliability`` needs it; ``smooth_ece``
    does not)."""
    try:
        _relplot()
    except ImportError:
        return False
    return True


# relplot.smECE, hand-written. relplot convolves directly, in O(G^2) for a grid of G >= 1001
# points (np.convolve of the reflected 3G-2 values, keeping G of the 2G-1 "valid" outputs),
# twice (residuals, ones) for each of up to 12 smooth_ece evaluations (11 of the bisection, and
# the answer's again); that made smECE most of the time of the report's bootstrap (one smECE
# per resample). This is the same computation, with the G kept outputs computed by FFT (the
# residuals and the ones in one batched transform, the data's transform reused for every
# bandwidth on the same grid, everything that depends only on the bandwidth cached),
# np.bincount for np.add.at, and the same order of every other floating-point step; the FFT
# changes the result by ~1e-16. tests/metrics/test_metrics_calibration.py checks it against
# relplot.smECE itself (value to 1e-10, and the same bandwidth).
# The constants, by where they are in relplot:
_BANDWIDTH_EPS = 0.001  # metrics.smECE(eps=0.001): a bandwidth below it counts as a fixed point
_REFINE = 10  # metrics.search_param(refine=10): bisection steps below the start bandwidth 1
_DENSITY_EPS = 0.0001  # kernels.BaseKernelMixin.smooth(eps=0.0001), added to the density
_MESH_POINTS = 200  # config.smECE_mesh_pts: the least number of evaluation points
_GRID_POINTS = 2000  # kernels.GaussianKernel.apply: G = max(2000, round(20 / sigma)) // 2 + 1


def _read_only(array: _Array) -> _Array:
    array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)
class _Mesh:
    """Linear interpolation from the grid ``linspace(0, 1, n_grid)`` to the evaluation mesh
    ``linspace(0, 1, n_points)`` (``relplot.kernels.interpolate``): mesh point ``j`` is
    ``grid[left[j]] * left_weight[j] + grid[left[j] + 1] * right_weight[j]``."""

    left: IntArray
    right: IntArray
    left_weight: FloatArray
    right_weight: FloatArray


@functools.lru_cache(maxsize=64)
def _mesh(n_grid: int, n_points: int) -> _Mesh:
    mesh = np.linspace(0, 1, n_points)
    step = 1 / (n_grid - 1)
    left = (mesh * (n_grid - 1)).astype(np.intp).clip(0, n_grid - 2)
    residual = (mesh - left * step) / step
    return _Mesh(
        left=_read_only(left),
        right=_read_only(left + 1),
        left_weight=_read_only(1 - residual),
        right_weight=_read_only(residual),
    )


@dataclass(frozen=True, eq=False)
class _Bandwidth:
    """What smooth ECE at one bandwidth ``sigma`` needs that does not depend on the data:
    ``n_grid``, the grid ``linspace(0, 1, n_grid)`` the values are binned on and smoothed;
    ``n_fft``, the transform length; ``kernel_spectrum``, ``rfft`` of the kernel on the grid;
    ``mesh``, the interpolation to the evaluation mesh."""

    n_grid: int
    n_fft: int
    kernel_spectrum: ComplexArray
    mesh: _Mesh


# The bisection visits multiples of 1/1024 only (at most 1023 of them): 512 entries hold all
# that a report meets, about 16 KB each (up to ~80 KB for the 9 below 0.01).
@functools.lru_cache(maxsize=512)
def _bandwidth(sigma: float) -> _Bandwidth:
    n_grid = max(_GRID_POINTS, round(20 / sigma)) // 2 + 1  # >= 1001
    # the 2 * n_grid - 1 reflected values that reach the kept outputs, unaliased at this length
    n_fft = scipy.fft.next_fast_len(2 * n_grid - 1, real=True)
    grid = np.linspace(0, 1, n_grid)
    kernel = np.exp(-(grid - 0.5) * (grid - 0.5) / (2 * sigma**2))  # GaussianKernel.kernel_ev
    kernel /= np.sqrt(2 * np.pi) * sigma
    return _Bandwidth(
        n_grid=n_grid,
        n_fft=n_fft,
        kernel_spectrum=_read_only(np.fft.rfft(kernel, n=n_fft)),
        mesh=_mesh(n_grid, max(round(10 / sigma), _MESH_POINTS)),
    )


def _grid_spectrum(c: FloatArray, residual: FloatArray, n_grid: int, n_fft: int) -> ComplexArray:
    """``rfft`` (length ``n_fft``) of the residuals and of the ones, each binned on the grid of
    ``n_grid`` points as ``relplot.kernels.smooth_round_to_grid`` does and reflected as
    ``ReflectedGaussianKernel.convolve`` does, cut to the window that reaches its kept outputs:
    shape ``(2, n_fft // 2 + 1)``."""
    scaled = c * (n_grid - 1)
    bins = scaled.astype(np.intp).clip(0, n_grid - 2)
    frac = scaled - bins
    # one bincount, in np.add.at's order of addition: row 0 the residuals, row 1 the ones
    index = np.concatenate((bins, bins + 1, bins + n_grid, bins + (n_grid + 1)))
    weights = np.concatenate(((1 - frac) * residual, frac * residual, 1 - frac, frac))
    values = np.bincount(index, weights, minlength=2 * n_grid).reshape(2, n_grid)
    # relplot convolves [flip(v)[:-1], v, flip(v)[1:]] (3G - 2 values) with the G-point
    # kernel and keeps the "valid" outputs [G // 2, G // 2 + G): they read only the window
    # [G // 2, G // 2 + 2G - 1) of it, whose valid convolution is exactly the G kept outputs
    half = n_grid // 2
    window = np.concatenate(
        (
            values[:, n_grid - 1 - half : 0 : -1],
            values,
            values[:, n_grid - 2 : n_grid - 2 - half : -1],  # n_grid >= 1001: never a -1 stop
        ),
        axis=1,
    )
    return np.fft.rfft(window, n=n_fft, axis=-1)


class _FixedBandwidth:
    """``relplot.metrics.smooth_ece(c, y, sigma)`` of one data set, at any ``sigma``: the
    data's transform is computed once per grid size (bandwidths >= 1/64 share one grid)."""

    def __init__(self, c: FloatArray, y: FloatArray) -> None:
        self.c = c
        self.residual = c - y
        self.spectra: dict[int, ComplexArray] = {}

    def __call__(self, sigma: float) -> float:
        plan = _bandwidth(sigma)
        n_grid = plan.n_grid
        spectrum = self.spectra.get(n_grid)
        if spectrum is None:
            spectrum = _grid_spectrum(self.c, self.residual, n_grid, plan.n_fft)
            self.spectra[n_grid] = spectrum
        smoothed = np.fft.irfft(spectrum * plan.kernel_spectrum, n=plan.n_fft, axis=-1)
        smoothed = smoothed[:, n_grid - 1 : 2 * n_grid - 1]  # the kept outputs
        m = plan.mesh
        on_mesh = smoothed[:, m.left] * m.left_weight + smoothed[:, m.right] * m.right_weight
        density = on_mesh[1] + _DENSITY_EPS
        rs = on_mesh[0] / density
        return float((np.abs(rs) * density).sum() / density.sum())


def _smooth_ece_and_bandwidth(c: FloatArray, y: FloatArray) -> tuple[float, float]:
    """``relplot.smECE(c, y, eps=0.001, return_width=True)``: smooth ECE and its bandwidth."""
    smooth_ece_at = _FixedBandwidth(c, y)
    values: dict[float, float] = {}

    def too_wide(alpha: float) -> bool:  # smECE's check_smooth_ece
        if alpha < _BANDWIDTH_EPS:
            return True
        values[alpha] = smooth_ece_at(alpha)
        return alpha < values[alpha]

    # metrics.search_param(too_wide, start=1, refine=10); every bandwidth it can return was
    # evaluated on the way (the ones below eps never are), so the last smooth_ece is a lookup
    start = 1.0
    if not too_wide(start):
        end = 0.0
        for _ in range(_REFINE):
            midpoint = (start + end) / 2
            if too_wide(midpoint):
                end = midpoint
            else:
                start = midpoint
    return values[start], start


@register_metric(
    "smece",
    label="smECE",
    higher_is_better=False,
    description="smooth ECE (kernel-smoothed, bandwidth at its fixed point; relplot's algorithm)",
)
def smooth_ece(confidence: ArrayLike, correct: ArrayLike) -> float:
    """Smooth ECE, in [0, 1]: ``relplot.smECE``'s algorithm (bisection for the bandwidth
    fixed point, reflected Gaussian kernel, same grids), computed here by FFT and tested equal
    to ``relplot.smECE``; ``relplot`` is not needed.

    Parameters
    ----------
    confidence : array-like of shape (n_samples,), values in [0, 1]
    correct : array-like of shape (n_samples,), values in {0, 1}
    """
    c, y = check_confidence_correct(confidence, correct)
    return _smooth_ece_and_bandwidth(c, y)[0]


@dataclass(frozen=True, eq=False)
class SmoothReliability:
    """The smooth reliability curve on a grid of confidences, all arrays ``(n_points,)``.

    ``accuracy``: kernel estimate of ``E[y | c = grid]``; ``density``: kernel density of the
    confidences; ``bandwidth``: the smECE fixed-point ``sigma`` used for both.
    """

    grid: FloatArray
    accuracy: FloatArray
    density: FloatArray
    bandwidth: float
    smece: float


def smooth_reliability(
    confidence: ArrayLike, correct: ArrayLike, *, n_points: int = 200
) -> SmoothReliability:
    """The smooth reliability curve and smECE with relplot's kernel (what ``relplot``'s own
    diagram draws, without its bootstrap band), for ``confalign.plots``."""
    if isinstance(n_points, bool) or not isinstance(n_points, int) or n_points < 2:
        raise ValueError(f"n_points must be an integer >= 2, got {n_points!r}")
    c, y = check_confidence_correct(confidence, correct)
    _relplot()
    smece, sigma = _smooth_ece_and_bandwidth(c, y)  # = relplot.smECE(c, y, return_width=True)
    kernel = importlib.import_module("relplot.kernels").ReflectedGaussianKernel(sigma)
    grid = np.linspace(0.0, 1.0, n_points)
    accuracy, _ = kernel.smooth(c, y, grid)
    return SmoothReliability(
        grid=grid,
        accuracy=np.asarray(accuracy, dtype=np.float64),
        density=np.asarray(kernel.kde(c, grid), dtype=np.float64),
        bandwidth=sigma,
        smece=smece,
    )
