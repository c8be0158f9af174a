"""The report's figures, drawn by ``confalign.plots`` and kept as PNG bytes.

The HTML embeds each PNG as a ``data:`` URI (so the page needs no file and no network); the
Markdown links the same PNGs written next to it under ``figures/``. Figure ids are
``<dataset>/<kind>/<method key>`` (``mmlu/reliability/choice``); ``figure_file`` turns one into
a file name.
"""

from __future__ import annotations

import base64
import io
import re
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING

from confalign import plots
from confalign.metrics import UndefinedMetricWarning, calibration_bins

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from confalign.report.compute import RunReport

DPI = 90


def run_figures(report: RunReport) -> dict[str, bytes]:
    """Every figure of a run report: per method a reliability diagram and a confidence
    histogram, per dataset the risk-coverage curves of every method, per (verbalized key,
    internal key) pair a Cv-vs-Ci scatter."""
    n_bins = int(report.data["settings"]["n_bins"])
    out: dict[str, bytes] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)  # NaN rho in a title is fine
        for dataset, arrays in report.arrays.items():
            for key, arr in arrays.items():
                if not len(arr.confidence):
                    continue
                table = calibration_bins(arr.confidence, arr.correct, n_bins=n_bins)
                out[figure_id(dataset, "reliability", key)] = png(
                    plots.reliability_diagram(table, title=key)
                )
                out[figure_id(dataset, "histogram", key)] = png(
                    plots.confidence_histogram(arr.confidence, arr.correct, title=key)
                )
            curves = {k: (a.confidence, a.correct) for k, a in arrays.items() if len(a.confidence)}
            if curves:
                out[figure_id(dataset, "risk_coverage", "all")] = png(
                    plots.risk_coverage_plot(curves, title=f"Risk-coverage: {dataset}")
                )
            for (verbal, internal), pair in report.pairs.get(dataset, {}).items():
                if len(pair.cv) >= 2:
                    out[figure_id(dataset, "scatter", f"{verbal}|{internal}")] = png(
                        plots.alignment_scatter(pair.cv, pair.ci, title=f"{verbal}\nvs {internal}")
                    )
    from confalign.report import answer_dependence  # it imports ``png`` from here

    out.update(answer_dependence.figures(report.data.get("answer_dependence")))
    return out


def comparison_figures(
    groups: Mapping[str, Mapping[str, Mapping[str, float | None]]],
) -> dict[str, bytes]:
    """One grouped bar chart per metric: ``groups[metric][row label][run label] = value``."""
    out = {}
    for metric, rows in groups.items():
        values = {
            row: {run: v for run, v in runs.items() if v is not None} for row, runs in rows.items()
        }
        values = {row: runs for row, runs in values.items() if runs}
        if values:
            out[f"compare/{metric}"] = png(plots.comparison_bars(values, metric=metric))
    return out


def figure_id(dataset: str, kind: str, key: str) -> str:
    """``<dataset>/<kind>/<key>``."""
    return f"{dataset}/{kind}/{key}"


def figure_file(fig_id: str) -> str:
    """A file name for a figure id: ``mmlu__reliability__verbalized-probability-prefill.png``."""
    parts = [re.sub(r"[^A-Za-z0-9._-]+", "-", p).strip("-") for p in fig_id.split("/")]
    return "__".join(p for p in parts if p) + ".png"


def data_uri(png_bytes: bytes) -> str:
    """``data:image/png;base64,...``, for an ``<img src>`` that needs no file and no network."""
    return "data:image/png;base64," + base64.b64encode(png_bytes).decode("ascii")


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes, without metadata."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()
