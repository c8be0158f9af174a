"""DCA alignment metrics and the Jensen-Shannon divergence."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import spearmanr

from confalign import metrics as M


def test_alignment_metrics_by_hand() -> None:
    # eps = Cv - Ci = .3, 0, -.2: mean 1/30, mean |eps| 1/6
    # sample std: deviations 4/15, -1/30, -7/30 -> squares sum 0.1266667 / 2 -> sqrt .2516611
    # sigma_M = .2516611 / sqrt(3) = .1452966; Spearman: ranks (3,1,2) vs (2,1,3), d = 1,0,-1,
    # rho = 1 - 6 * 2 / (3 * 8) = .5
    cv, ci = [0.9, 0.5, 0.7], [0.6, 0.5, 0.9]
    stats = M.alignment_metrics(cv, ci)
    assert stats.n == 3
    assert stats.mean_gap == pytest.approx(1 / 30)
    assert stats.mean_abs_gap == pytest.approx(1 / 6)
    assert stats.gap_std == pytest.approx(0.2516611478, abs=1e-9)
    assert stats.gap_sem == pytest.approx(0.1452966315, abs=1e-9)
    assert stats.spearman == pytest.approx(0.5)
    assert M.gap_std(cv, ci, ddof=0) == pytest.approx(np.std(np.subtract(cv, ci)))
    for key, value in stats.scalars().items():
        function = {
            "spearman": M.spearman_score,
            "mean_gap": M.mean_gap,
            "mean_abs_gap": M.mean_absolute_gap,
            "gap_std": M.gap_std,
            "gap_sem": M.gap_sem,
        }[key]
        assert M.metric_info(function).key == key
        assert function(cv, ci) == pytest.approx(value, abs=1e-15)


@pytest.mark.parametrize("seed", range(4))
def test_spearman_equals_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ci = rng.random(1500)
    cv = np.clip(np.round(ci + rng.normal(0, 0.2, 1500), 1), 0, 1)  # many ties in Cv
    assert M.spearman_score(cv, ci) == pytest.approx(spearmanr(cv, ci).statistic, abs=1e-9)


def test_undefined_cases_are_nan_with_a_warning() -> None:
    with pytest.warns(M.UndefinedMetricWarning, match="constant"):
        assert np.isnan(M.spearman_score([0.5, 0.5, 0.5], [0.1, 0.2, 0.3]))
    with pytest.warns(M.UndefinedMetricWarning, match="ddof=1"):
        assert np.isnan(M.gap_std([0.5], [0.1]))
    assert M.gap_std([0.5], [0.1], ddof=0) == 0.0
    with pytest.raises(ValueError, match="ddof"):
        M.gap_std([0.5], [0.1], ddof=-1)


def test_jsd_by_hand() -> None:
    assert M.jsd([1.0, 0.0], [0.0, 1.0]) == pytest.approx(np.log(2))  # disjoint: ln 2
    assert M.jsd([0.3, 0.7], [0.3, 0.7]) == 0.0
    # p = (.5,.5), q = (1,0), m = (.75,.25): KL(p||m) = .5 ln(2/3) + .5 ln 2 = 0.1438410,
    # KL(q||m) = ln(4/3) = 0.2876821 -> JSD = 0.2157616
    assert M.jsd([0.5, 0.5], [1.0, 0.0]) == pytest.approx(0.2157615543, abs=1e-9)


def test_jsd_equals_scipy_row_by_row() -> None:
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(5), size=200)
    q = rng.dirichlet(np.ones(5) * 0.3, size=200)
    ours = M.jensen_shannon_divergence(p, q)
    assert ours.shape == (200,)
    theirs = jensenshannon(p, q, axis=1) ** 2  # natural log by default
    np.testing.assert_allclose(ours, theirs, atol=1e-9)
    assert np.all((ours >= 0) & (ours <= np.log(2)))
