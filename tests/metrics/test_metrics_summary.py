"""calibration_summary and smECE."""

from __future__ import annotations

import numpy as np
import pytest
import relplot

from confalign import metrics as M


def _data(n: int = 800, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    c = rng.beta(4, 2, n)
    return c, (rng.random(n) < c**1.5).astype(float)


@pytest.mark.parametrize("strategy", ["equal_width", "equal_mass"])
def test_summary_equals_the_individual_metrics(strategy: str) -> None:
    c, y = _data()
    s = M.calibration_summary(c, y, n_bins=12, strategy=strategy)
    assert s.n == 800 and s.n_bins == 12 and s.strategy == strategy
    assert s.accuracy == y.mean() and s.mean_confidence == pytest.approx(c.mean())
    expected = {
        "ece": M.ece(c, y, n_bins=12, strategy=strategy),
        "mce": M.mce(c, y, n_bins=12, strategy=strategy),
        "nce": M.nce(c, y),
        "abs_nce": M.absolute_net_calibration_error(c, y),
        "brier": M.brier_score_loss(c, y),
        "nll": M.log_loss(c, y),
        "auroc": M.auroc_score(c, y),
        "aurc": M.aurc_error(c, y),
        "prr": M.prr_score(c, y),
        "smece": M.smooth_ece(c, y),
    }
    scalars = s.scalars()
    for key, value in expected.items():
        assert scalars[key] == pytest.approx(value, abs=1e-12), key
        assert key in M.METRICS
    assert s.bins.count.sum() == 800
    assert s.bins.ece == pytest.approx(s.ece, abs=1e-12)


def test_summary_without_smooth_and_single_class() -> None:
    c, y = _data(50)
    assert M.calibration_summary(c, y, smooth=False).smece is None
    assert "smece" not in M.calibration_summary(c, y, smooth=False).scalars()
    with pytest.warns(M.UndefinedMetricWarning, match="AUROC and PRR are undefined"):
        s = M.calibration_summary(c, np.ones(50), smooth=False)
    assert np.isnan(s.auroc) and np.isnan(s.prr) and s.aurc == 0.0


def test_smooth_ece_is_relplots() -> None:
    c, y = _data(2000, 1)
    assert M.relplot_available()
    assert M.smooth_ece(c, y) == pytest.approx(relplot.smECE(c, y), abs=1e-12)
    # perfectly calibrated data has a small smECE, miscalibrated a large one
    calibrated = (np.random.default_rng(2).random(2000) < c).astype(float)
    assert M.smooth_ece(c, calibrated) < 0.03 < M.smooth_ece(c, y)


def test_smooth_reliability_curve() -> None:
    c, y = _data(2000, 3)
    curve = M.smooth_reliability(c, y, n_points=50)
    assert curve.grid.shape == curve.accuracy.shape == curve.density.shape == (50,)
    assert curve.smece == pytest.approx(M.smooth_ece(c, y), abs=1e-12)
    assert 0 < curve.bandwidth <= 1
    with pytest.raises(ValueError, match="n_points"):
        M.smooth_reliability(c, y, n_points=1)


@pytest.mark.usefixtures("no_relplot")
def test_missing_relplot_raises_a_clear_error() -> None:
    assert not M.relplot_available()
    with pytest.raises(ImportError, match="pip install relplot"):
        M.smooth_reliability([0.5, 0.2], [1, 0])
    # smECE itself is computed without relplot (relplot.smECE's value, checked above)
    assert M.calibration_summary([0.5, 0.2], [1, 0]).smece == M.smooth_ece([0.5, 0.2], [1, 0])
