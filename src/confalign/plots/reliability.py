"""Reliability diagrams (binned and smooth) and the confidence histogram."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from confalign.metrics import BinTable, CalibrationSummary, smooth_reliability
from confalign.metrics._validation import check_confidence_correct
from confalign.plots._figure import (
    BLUE,
    GREEN,
    GREY,
    RED,
    draw_diagonal,
    new_figure,
    with_density_panel,
)


def reliability_diagram(
    source: BinTable | CalibrationSummary, *, title: str = "Reliability diagram"
) -> Figure:
    """Accuracy per confidence bin over the diagonal, the gap to it shaded, counts below.

    Parameters
    ----------
    source : a ``BinTable`` (``calibration_bins(c, y)``) or a ``CalibrationSummary``
    title : the title; "(ECE = ..., N = ...)" is added on a second line

    Returns
    -------
    Figure with two axes: the diagram (y "Accuracy") and the counts (y "Count",
    x "Confidence").
    """
    table = source.bins if isinstance(source, CalibrationSummary) else source
    ece = source.ece if isinstance(source, CalibrationSummary) else table.ece
    full = table.count > 0
    lo, width = table.lo[full], (table.hi - table.lo)[full]
    figure = new_figure(5.5, 6.0)
    ax, counts = with_density_panel(figure)
    ax.bar(
        lo,
        table.accuracy[full],
        width=width,
        align="edge",
        color=BLUE,
        edgecolor="white",
        label="Accuracy",
    )
    ax.bar(
        lo,
        (table.confidence - table.accuracy)[full],
        bottom=table.accuracy[full],
        width=width,
        align="edge",
        color=RED,
        alpha=0.3,
        edgecolor=RED,
        hatch="//",
        label="Gap to mean confidence",
    )
    draw_diagonal(ax)
    ax.set_ylabel("Accuracy")
    ax.legend(loc="upper left", frameon=False)
    ax.set_title(f"{title}\n(ECE = {ece:.3f}, N = {table.n})")
    counts.bar(
        table.lo,
        table.count,
        width=table.hi - table.lo,
        align="edge",
        color=GREY,
        edgecolor="white",
    )
    counts.set_xlabel("Confidence")
    counts.set_ylabel("Count")
    return figure


def smooth_reliability_diagram(
    confidence: ArrayLike,
    correct: ArrayLike,
    *,
    title: str = "Smooth reliability diagram",
    n_points: int = 200,
) -> Figure:
    """The kernel-smoothed reliability curve (Blasiok & Nakkiran 2024) with the confidence
    density below; needs ``relplot`` (``ImportError`` otherwise).

    Parameters
    ----------
    confidence : array-like of shape (n_samples,), values in [0, 1]
    correct : array-like of shape (n_samples,), values in {0, 1}
    title : the title; "(smECE = ...)" is added on a second line
    n_points : grid size of the curve
    """
    curve = smooth_reliability(confidence, correct, n_points=n_points)
    figure = new_figure(5.5, 6.0)
    ax, density = with_density_panel(figure)
    ax.fill_between(
        curve.grid, curve.accuracy, curve.grid, color=RED, alpha=0.25, label="Gap to confidence"
    )
    ax.plot(curve.grid, curve.accuracy, color=BLUE, linewidth=2.0, label="Smoothed accuracy")
    draw_diagonal(ax)
    ax.set_ylabel("Accuracy")
    ax.legend(loc="upper left", frameon=False)
    ax.set_title(f"{title}\n(smECE = {curve.smece:.3f}, bandwidth {curve.bandwidth:.3f})")
    density.fill_between(curve.grid, curve.density, color=GREY, alpha=0.6)
    density.set_xlabel("Confidence")
    density.set_ylabel("Density")
    density.set_ylim(bottom=0.0)
    return figure


def confidence_histogram(
    confidence: ArrayLike,
    correct: ArrayLike,
    *,
    n_bins: int = 20,
    title: str = "Confidence of correct and incorrect answers",
) -> Figure:
    """Stacked histogram of confidences, correct answers and incorrect ones apart.

    Parameters
    ----------
    confidence : array-like of shape (n_samples,), values in [0, 1]
    correct : array-like of shape (n_samples,), values in {0, 1}
    n_bins : equal-width bins on [0, 1]
    title : the title; "(accuracy ..., mean confidence ..., N)" is added below
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"n_bins must be an integer >= 1, got {n_bins!r}")
    c, y = check_confidence_correct(confidence, correct)
    figure = new_figure(6.0, 4.0)
    ax = figure.subplots()
    ax.hist(
        [c[y == 1.0], c[y == 0.0]],
        bins=np.linspace(0.0, 1.0, n_bins + 1),
        stacked=True,
        color=[GREEN, RED],
        alpha=0.8,
        label=["Correct", "Incorrect"],
    )
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("Confidence")
    ax.set_ylabel("Count")
    ax.legend(frameon=False)
    ax.set_title(
        f"{title}\n(accuracy {y.mean():.3f}, mean confidence {c.mean():.3f}, N = {len(c)})"
    )
    return figure
