"""confalign.plots: the diagrams of a run, as ``matplotlib.figure.Figure`` objects.

Plots depend on ``confalign.metrics`` (never the other way) and take its outputs or arrays.
No pyplot and no global matplotlib state: every function returns a new Figure on an Agg
canvas; ``save_figure(fig, "out/name")`` writes ``out/name.png`` and ``out/name.svg``.

``reliability_diagram(bins_or_summary, *, title=...) -> Figure``
    accuracy bars per bin over the diagonal, gap shaded, counts below, ECE in the title.
``smooth_reliability_diagram(confidence, correct, *, title=..., n_points=200) -> Figure``
    the smECE curve (needs ``relplot``).
``confidence_histogram(confidence, correct, *, n_bins=20, title=...) -> Figure``
``alignment_scatter(verbalized, internal, *, title=...) -> Figure``
    Cv against Ci with the diagonal; Spearman ρ in the title.
``comparison_bars(results, *, metric, title=None) -> Figure``
    ``{group: {method: float | BootstrapResult}}`` as grouped bars with intervals.
``risk_coverage_plot({method: (confidence, correct)}, *, title=...) -> Figure``
    risk against coverage per method, with the oracle and random curves.
``save_figure(figure, path_stem, *, dpi=150) -> (png_path, svg_path)``
"""

from confalign.plots._figure import new_figure, save_figure
from confalign.plots.comparison import alignment_scatter, comparison_bars
from confalign.plots.reliability import (
    confidence_histogram,
    reliability_diagram,
    smooth_reliability_diagram,
)
from confalign.plots.selective import risk_coverage_plot

__all__ = [
    "alignment_scatter",
    "comparison_bars",
    "confidence_histogram",
    "new_figure",
    "reliability_diagram",
    "risk_coverage_plot",
    "save_figure",
    "smooth_reliability_diagram",
]
