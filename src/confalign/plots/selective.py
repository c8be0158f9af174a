"""Risk-coverage curves of selective prediction: several methods on one plot, with the oracle
and random orders of the same answers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from confalign.metrics import aurc_error, selective_risk
from confalign.plots._figure import GREY, new_figure


def risk_coverage_plot(
    curves: Mapping[str, tuple[ArrayLike, ArrayLike]],
    *,
    title: str = "Risk-coverage",
) -> Figure:
    """Error rate of the kept answers against the share kept (most confident first), one line
    per method, with the oracle (dashed) and random (dotted) curves of its answers.

    Methods whose correctness arrays are equal (a method and its recalibrations) share one
    oracle and one random curve, drawn in the colour of the first of them and labelled with
    its name (grey and unlabelled when every method has the same answers).

    Parameters
    ----------
    curves : ``{method: (confidence, correct)}``, arrays of shape (n_samples,)
    title : the figure's title
    """
    if not curves:
        raise ValueError("curves is empty")
    figure = new_figure(10.0, 5.5)
    ax = figure.subplots()
    palette = colormaps["tab20"].colors if len(curves) > 10 else colormaps["tab10"].colors
    references: dict[bytes, tuple[str, Any]] = {}
    for i, (name, (confidence, correct)) in enumerate(curves.items()):
        colour = palette[i % len(palette)]
        curve = selective_risk(confidence, correct)
        aurc = aurc_error(confidence, correct)
        label = f"{name} (AURC {aurc:.3f})"
        ax.plot(curve.coverage, curve.risk, color=colour, linewidth=1.4, label=label)
        references.setdefault(np.asarray(correct, dtype=np.float64).tobytes(), (name, colour))
    for key, (first, colour) in references.items():
        correct = np.frombuffer(key, dtype=np.float64)
        curve = selective_risk(np.zeros_like(correct), correct)
        suffix = "" if len(references) == 1 else f" ({first})"
        colour = GREY if len(references) == 1 else colour
        oracle = aurc_error(correct, correct)
        style = {"color": colour, "linewidth": 1.0, "alpha": 0.8}
        ax.plot(curve.coverage, curve.oracle, "--", label=f"oracle{suffix} ({oracle:.3f})", **style)
        random = curve.random[0]
        ax.plot(curve.coverage, curve.random, ":", label=f"random{suffix} ({random:.3f})", **style)
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(bottom=0.0)
    ax.set_xlabel("Coverage (share of answers kept, most confident first)")
    ax.set_ylabel("Risk (error rate of the kept answers)")
    figure.legend(loc="outside right upper", frameon=False, fontsize="small")
    ax.set_title(title)
    return figure
