"""Figures of the answer-dependence analysis: the per-question JSD histogram and the share of
attention rollout and integrated gradients per prompt segment."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from confalign.plots._figure import BLUE, GREY, ORANGE, new_figure


def jsd_histogram(
    jsd: ArrayLike, *, threshold: float = 0.1, n_bins: int = 20, title: str = "JSD"
) -> Figure:
    """Histogram of per-question JSD (nats) on [0, ln 2] with the paper's threshold marked;
    the title gives N, the median and the share at or below the threshold."""
    values = np.asarray(jsd, dtype=np.float64)
    figure = new_figure(5.5, 3.8)
    ax = figure.subplots()
    ax.hist(values, bins=n_bins, range=(0.0, math.log(2.0)), color=BLUE, edgecolor="white")
    ax.axvline(threshold, color=GREY, linestyle="--", linewidth=1.0, label=f"JSD = {threshold}")
    ax.set_xlim(0.0, math.log(2.0))
    ax.set_xlabel("JSD(P(level | correct), P(level | wrong)) [nats]")
    ax.set_ylabel("questions")
    ax.legend(frameon=False)
    share = float(np.mean(values <= threshold)) if len(values) else math.nan
    median = float(np.median(values)) if len(values) else math.nan
    ax.set_title(f"{title}\n(N = {len(values)}, median {median:.3f}, {share:.0%} <= {threshold})")
    return figure


def segment_bars(
    shares: Mapping[str, Mapping[str, float | None]],
    *,
    segments: Sequence[str],
    title: str = "Share per prompt segment",
) -> Figure:
    """Grouped bars: ``shares[series][segment]`` (e.g. series "attention rollout" and
    "integrated gradients"), one group per segment; a missing value is left out."""
    figure = new_figure(6.0, 3.8)
    ax = figure.subplots()
    x = np.arange(len(segments))
    width = 0.8 / max(1, len(shares))
    colors = [BLUE, ORANGE, GREY]
    for i, (series, values) in enumerate(shares.items()):
        heights = [values.get(s) for s in segments]
        keep = [j for j, h in enumerate(heights) if h is not None and math.isfinite(h)]
        ax.bar(
            x[keep] + (i - (len(shares) - 1) / 2) * width,
            [heights[j] for j in keep],
            width,
            label=series,
            color=colors[i % len(colors)],
        )
    ax.set_xticks(x, list(segments))
    ax.set_ylabel("share")
    ax.set_ylim(0.0, 1.0)
    ax.legend(frameon=False)
    ax.set_title(title)
    return figure
