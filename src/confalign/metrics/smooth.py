"""Smooth ECE and the smooth reliability curve (Blasiok & Nakkiran 2024), via ``relplot``.

``relplot`` (PyPI, Apple's reference implementation) is optional: it is imported only when
one of these functions runs, and its absence raises ``ImportError`` saying how to install it.
It computes locally, with no network access. smECE kernel-smooths the residuals ``c - y``
with a reflected Gaussian kernel whose bandwidth ``sigma`` is the fixed point
``smECE_sigma = sigma`` (found by bisection).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

import numpy as np
from numpy.typing import ArrayLike

from confalign.metrics._info import register_metric
from confalign.metrics._validation import FloatArray, check_confidence_correct


def _relplot() -> ModuleType:
    try:
        return importlib.import_module("relplot")
    except ImportError as exc:
        raise ImportError(
            "smooth ECE needs the optional package relplot (the reference implementation): "
            "pip install relplot  (or: pip install 'confalign[dev]')"
        ) from exc


def relplot_available() -> bool:
    """Whether ``relplot`` can be imported (smooth ECE and the smooth diagram need it)."""
    try:
        _relplot()
    except ImportError:
        return False
    return True


@register_metric(
    "smece",
    label="smECE",
    higher_is_better=False,
    description="smooth ECE (kernel-smoothed, bandwidth at its fixed point; relplot)",
)
def smooth_ece(confidence: ArrayLike, correct: ArrayLike) -> float:
    """Smooth ECE, in [0, 1], computed by ``relplot.smECE``.

    Parameters
    ----------
    confidence : array-like of shape (n_samples,), values in [0, 1]
    correct : array-like of shape (n_samples,), values in {0, 1}
    """
    c, y = check_confidence_correct(confidence, correct)
    return float(_relplot().smECE(c, y))


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
    relplot = _relplot()
    smece, sigma = relplot.smECE(c, y, return_width=True)
    kernel = importlib.import_module("relplot.kernels").ReflectedGaussianKernel(sigma)
    grid = np.linspace(0.0, 1.0, n_points)
    accuracy, _ = kernel.smooth(c, y, grid)
    return SmoothReliability(
        grid=grid,
        accuracy=np.asarray(accuracy, dtype=np.float64),
        density=np.asarray(kernel.kde(c, grid), dtype=np.float64),
        bandwidth=float(sigma),
        smece=float(smece),
    )
