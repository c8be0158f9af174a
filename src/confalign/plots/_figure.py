"""Figures without pyplot: a ``matplotlib.figure.Figure`` on an Agg canvas, saved as PNG + SVG.

No global state is touched (no ``pyplot``, no rcParams changes), so figures can be made in
threads, tests and servers without a display and without leaking between calls.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

#: Colours used across the diagrams (matplotlib's default cycle, named).
BLUE, ORANGE, GREEN, RED, GREY = "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#7f7f7f"


def new_figure(width: float = 5.5, height: float = 5.5) -> Figure:
    """A figure of ``width x height`` inches on its own Agg canvas, constrained layout."""
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def with_density_panel(figure: Figure) -> tuple[Axes, Axes]:
    """A main panel over a short panel sharing its x axis (for counts or densities)."""
    main, below = figure.subplots(
        2, 1, sharex=True, gridspec_kw={"height_ratios": (3, 1)}, squeeze=True
    )
    return main, below


def draw_diagonal(ax: Axes, label: str = "Perfect calibration") -> None:
    """The y = x line on the unit square."""
    ax.plot([0.0, 1.0], [0.0, 1.0], linestyle="--", color=GREY, linewidth=1.0, label=label)
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.0)


def save_figure(figure: Figure, path_stem: str | Path, *, dpi: int = 150) -> tuple[Path, Path]:
    """Write ``<path_stem>.png`` and ``<path_stem>.svg`` (parent folders created).

    ``path_stem`` is used as given, dots included ("ece_0.5" -> "ece_0.5.png").
    Returns the two paths.
    """
    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    png = stem.parent / f"{stem.name}.png"
    svg = stem.parent / f"{stem.name}.svg"
    figure.savefig(png, dpi=dpi)
    figure.savefig(svg, metadata={"Date": None})
    return png, svg
