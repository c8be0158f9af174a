"""Cv-vs-Ci scatter and grouped bars comparing runs or methods on one metric."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from confalign.metrics import METRICS, BootstrapResult, alignment_metrics
from confalign.plots._figure import BLUE, draw_diagonal, new_figure


def alignment_scatter(
    verbalized: ArrayLike,
    internal: ArrayLike,
    *,
    title: str = "Verbalized vs internal confidence",
) -> Figure:
    """Each example's Cv against its Ci, with the diagonal Cv = Ci.

    Parameters
    ----------
    verbalized, internal : array-like of shape (n_samples,), values in [0, 1]
    title : the title; "(Spearman ρ = ..., mean |ε| = ..., N = ...)" is added on a second line
    """
    stats = alignment_metrics(verbalized, internal)
    cv = np.asarray(verbalized, dtype=np.float64)
    ci = np.asarray(internal, dtype=np.float64)
    figure = new_figure(5.5, 5.5)
    ax = figure.subplots()
    alpha = float(min(0.8, max(0.05, 200.0 / len(cv))))
    ax.scatter(ci, cv, s=10, alpha=alpha, color=BLUE, edgecolors="none", label="Examples")
    draw_diagonal(ax, label="Cv = Ci")
    ax.set_xlabel("Internal confidence Ci")
    ax.set_ylabel("Verbalized confidence Cv")
    ax.set_aspect("equal")
    for handle in ax.legend(loc="upper left", frameon=False).legend_handles:
        handle.set_alpha(1.0)
    ax.set_title(
        f"{title}\n(Spearman ρ = {stats.spearman:.3f}, mean |ε| = {stats.mean_abs_gap:.3f}, "
        f"N = {stats.n})"
    )
    return figure


def _value_and_error(entry: float | BootstrapResult) -> tuple[float, float, float]:
    """(value, distance down to the interval's low end, up to its high end)."""
    if isinstance(entry, BootstrapResult):
        return entry.estimate, entry.estimate - entry.low, entry.high - entry.estimate
    return float(entry), math.nan, math.nan


def comparison_bars(
    results: Mapping[str, Mapping[str, float | BootstrapResult]],
    *,
    metric: str,
    title: str | None = None,
) -> Figure:
    """Grouped bars: one group per outer key (e.g. dataset), one bar per inner key (e.g.
    method or run), with bootstrap intervals as error bars where given.

    Parameters
    ----------
    results : ``{group: {series: value or BootstrapResult}}``; a series missing from a
        group leaves a gap
    metric : a ``metric_info`` key ("ece") for the axis label and its ↑/↓, or any label
    title : defaults to the metric's label
    """
    if not results:
        raise ValueError("results is empty")
    groups = list(results)
    series = list(dict.fromkeys(name for g in groups for name in results[g]))
    info = METRICS.get(metric)
    label = f"{info.label} {info.arrow}" if info else metric
    figure = new_figure(max(5.0, 1.2 * len(groups) * max(1, len(series)) ** 0.5 + 2.0), 4.0)
    ax = figure.subplots()
    width = 0.8 / max(1, len(series))
    x = np.arange(len(groups))
    for i, name in enumerate(series):
        triples = [_value_and_error(results[g].get(name, math.nan)) for g in groups]
        values, down, up = (np.array(t, dtype=np.float64) for t in zip(*triples, strict=True))
        has_error = ~np.isnan(down)
        ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width=width, label=name)
        if has_error.any():
            ax.errorbar(
                (x + (i - (len(series) - 1) / 2) * width)[has_error],
                values[has_error],
                yerr=np.vstack((down, up))[:, has_error],
                fmt="none",
                ecolor="black",
                capsize=3,
                linewidth=1.0,
            )
    ax.set_xticks(x, groups)
    ax.set_ylabel(label)
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.legend(frameon=False, ncols=min(4, len(series)))
    ax.set_title(title if title is not None else (info.label if info else metric))
    return figure
