"""Every plot returns a Figure with the expected axes, and saves as PNG + SVG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib import _pylab_helpers
from matplotlib.figure import Figure

from confalign import metrics as M
from confalign import plots as P


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    c = rng.beta(5, 2, 600)
    y = (rng.random(600) < c**1.5).astype(float)
    cv = np.clip(np.round(c + rng.normal(0, 0.1, 600), 1), 0, 1)
    return c, y, cv


def _saved(figure: Figure, tmp_path: Path, name: str) -> None:
    png, svg = P.save_figure(figure, tmp_path / "sub" / name)
    assert png == tmp_path / "sub" / f"{name}.png" and svg == tmp_path / "sub" / f"{name}.svg"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in svg.read_text()


def test_reliability_diagram(data, tmp_path: Path) -> None:
    c, y, _ = data
    summary = M.calibration_summary(c, y, n_bins=10, smooth=False)
    figure = P.reliability_diagram(summary, title="Base model")
    main, counts = figure.axes
    assert main.get_title().startswith("Base model\n(ECE = ")
    assert f"{summary.ece:.3f}" in main.get_title() and "N = 600" in main.get_title()
    assert main.get_ylabel() == "Accuracy"
    assert counts.get_xlabel() == "Confidence" and counts.get_ylabel() == "Count"
    full = int((summary.bins.count > 0).sum())
    assert len(main.patches) == 2 * full  # accuracy bars + gap bars, non-empty bins only
    assert [t.get_text() for t in main.get_legend().get_texts()] == [
        "Perfect calibration",
        "Accuracy",
        "Gap to mean confidence",
    ]
    _saved(figure, tmp_path, "reliability")


def test_reliability_diagram_from_a_bin_table(data) -> None:
    c, y, _ = data
    table = M.calibration_bins(c, y, n_bins=5, strategy="equal_mass")
    title = P.reliability_diagram(table).axes[0].get_title()
    assert f"ECE = {M.ece(c, y, n_bins=5, strategy='equal_mass'):.3f}" in title


def test_smooth_reliability_diagram(data, tmp_path: Path) -> None:
    c, y, _ = data
    figure = P.smooth_reliability_diagram(c, y)
    main, density = figure.axes
    assert f"smECE = {M.smooth_ece(c, y):.3f}" in main.get_title()
    assert density.get_ylabel() == "Density" and density.get_xlabel() == "Confidence"
    _saved(figure, tmp_path, "smooth")


def test_confidence_histogram(data, tmp_path: Path) -> None:
    c, y, _ = data
    figure = P.confidence_histogram(c, y, n_bins=10)
    (ax,) = figure.axes
    assert ax.get_xlabel() == "Confidence" and ax.get_ylabel() == "Count"
    assert f"accuracy {y.mean():.3f}" in ax.get_title()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Correct", "Incorrect"]
    heights = sum(p.get_height() for p in ax.patches)
    assert heights == 600  # stacked: every example counted once
    _saved(figure, tmp_path, "histogram")
    with pytest.raises(ValueError, match=r"^correct\[0\] = 2\.0"):
        P.confidence_histogram([0.5], [2])


def test_alignment_scatter(data, tmp_path: Path) -> None:
    c, _, cv = data
    figure = P.alignment_scatter(cv, c, title="DCA")
    (ax,) = figure.axes
    assert ax.get_xlabel() == "Internal confidence Ci"
    assert ax.get_ylabel() == "Verbalized confidence Cv"
    assert f"Spearman ρ = {M.spearman_score(cv, c):.3f}" in ax.get_title()
    assert ax.get_title().startswith("DCA\n")
    _saved(figure, tmp_path, "scatter")


def test_comparison_bars(data, tmp_path: Path) -> None:
    c, y, _ = data
    interval = M.bootstrap_ci(M.ece, c, y, n_resamples=50)
    results = {"MMLU": {"base": interval, "DCA": 0.05}, "TriviaQA": {"base": 0.12}}
    figure = P.comparison_bars(results, metric="ece")
    (ax,) = figure.axes
    assert ax.get_ylabel() == "ECE ↓" and ax.get_title() == "ECE"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["MMLU", "TriviaQA"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["base", "DCA"]
    assert len(ax.containers) == 3  # two bar series + one error bar set
    _saved(figure, tmp_path, "bars")
    custom = P.comparison_bars({"a": {"x": 1.0}}, metric="my score", title="T")
    assert custom.axes[0].get_ylabel() == "my score" and custom.axes[0].get_title() == "T"
    with pytest.raises(ValueError, match="results is empty"):
        P.comparison_bars({}, metric="ece")


def test_no_pyplot_figures_are_left_behind(data) -> None:
    c, y, cv = data
    P.reliability_diagram(M.calibration_bins(c, y))
    P.alignment_scatter(cv, c)
    assert _pylab_helpers.Gcf.get_num_fig_managers() == 0


def test_save_figure_keeps_dots_in_the_stem(tmp_path: Path) -> None:
    figure = P.new_figure()
    figure.subplots().plot([0, 1], [0, 1])
    png, svg = P.save_figure(figure, tmp_path / "ece_0.5")
    assert png.name == "ece_0.5.png" and svg.name == "ece_0.5.svg"
    assert png.exists() and svg.exists()


def test_risk_coverage_plot(data, tmp_path: Path) -> None:
    c, y, cv = data
    figure = P.risk_coverage_plot({"Ci": (c, y), "Ci+platt": (c**2, y), "Cv": (cv, 1 - y)})
    (ax,) = figure.axes
    labels = [t.get_text() for t in figure.legends[0].get_texts()]
    assert labels[0] == f"Ci (AURC {M.aurc_error(c, y):.3f})"
    # Ci and Ci+platt share their answers: one oracle and one random curve for both, one for Cv
    assert [lab.split(" (")[0] for lab in labels[3:]] == ["oracle", "random"] * 2
    assert labels[3] == f"oracle (Ci) ({M.aurc_error(y, y):.3f})"
    assert labels[4] == f"random (Ci) ({1 - y.mean():.3f})"
    coverage, risk = ax.lines[0].get_data()
    np.testing.assert_allclose(risk, M.selective_risk(c, y).risk)
    assert coverage[-1] == 1.0 and risk[-1] == pytest.approx(1 - y.mean())
    _saved(figure, tmp_path, "risk_coverage")
