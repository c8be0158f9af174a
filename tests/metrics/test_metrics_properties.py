"""Properties that hold for any input (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from confalign import metrics as M

SETTINGS = settings(max_examples=40, deadline=None)


@st.composite
def samples(draw, min_size: int = 2, max_size: int = 60):
    n = draw(st.integers(min_size, max_size))
    # a small grid of values makes ties and values on bin edges likely
    grid = st.sampled_from([0.0, 0.1, 0.2, 0.25, 0.5, 0.6, 0.75, 0.9, 1.0])
    value = st.one_of(grid, st.floats(0.0, 1.0, allow_nan=False))
    c = np.array(draw(st.lists(value, min_size=n, max_size=n)))
    y = np.array(draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=n, max_size=n)))
    return c, y


n_bins = st.integers(1, 20)
strategy = st.sampled_from(["equal_width", "equal_mass"])


@SETTINGS
@given(samples(), n_bins, strategy)
def test_ece_is_in_range_and_at_most_mce(data, bins, how) -> None:
    c, y = data
    ece = M.ece(c, y, n_bins=bins, strategy=how)
    mce = M.mce(c, y, n_bins=bins, strategy=how)
    assert 0.0 <= ece <= 1.0 and 0.0 <= mce <= 1.0
    assert mce >= ece - 1e-12
    assert M.absolute_net_calibration_error(c, y) <= ece + 1e-12  # |sum of gaps| <= sum |gaps|


@st.composite
def calibrated(draw):
    """Each distinct confidence v appears 4m times with exactly 4mv correct answers."""
    levels = draw(
        st.lists(
            st.tuples(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]), st.integers(1, 5)),
            min_size=1,
            max_size=6,
        )
    )
    c, y = [], []
    for value, m in levels:
        c += [value] * 4 * m
        hits = round(4 * m * value)
        y += [1.0] * hits + [0.0] * (4 * m - hits)
    return np.array(c), np.array(y)


@SETTINGS
@given(calibrated(), n_bins, strategy)
def test_ece_is_zero_when_every_bin_is_calibrated(data, bins, how) -> None:
    c, y = data
    assert M.ece(c, y, n_bins=bins, strategy=how) < 1e-12
    assert M.mce(c, y, n_bins=bins, strategy=how) < 1e-12


@SETTINGS
@given(samples(min_size=3), st.randoms(use_true_random=False))
def test_metrics_do_not_depend_on_example_order(data, random) -> None:
    c, y = data
    y[0], y[1] = 0.0, 1.0  # both classes, so every metric is defined
    order = np.array(random.sample(range(len(c)), len(c)))
    for metric in (
        M.ece,
        M.mce,
        M.brier_score_loss,
        M.log_loss,
        M.auroc_score,
        M.aurc_error,
        M.prr_score,
    ):
        assert abs(metric(c, y) - metric(c[order], y[order])) < 1e-12, metric.__name__
    assert (
        abs(M.ece(c, y, strategy="equal_mass") - M.ece(c[order], y[order], strategy="equal_mass"))
        < 1e-12
    )
    ci = np.linspace(0, 1, len(c))
    assert abs(M.mean_absolute_gap(c, ci) - M.mean_absolute_gap(c[order], ci[order])) < 1e-12


@SETTINGS
@given(samples(min_size=3))
def test_ranking_metrics_are_in_range(data) -> None:
    c, y = data
    y[0], y[1] = 0.0, 1.0
    assert 0.0 <= M.auroc_score(c, y) <= 1.0
    assert 0.0 <= M.aurc_error(c, y) <= 1.0
    assert M.prr_score(c, y) <= 1.0 + 1e-12


@settings(max_examples=15, deadline=None)
@given(st.integers(60, 300), st.integers(0, 2**32 - 1))
def test_bootstrap_interval_contains_the_estimate(n, seed) -> None:
    # statistics whose bootstrap distribution is centred on the estimate (a mean, AUROC), and
    # ECE of clearly miscalibrated data (its binned estimate is biased upwards near 0)
    rng = np.random.default_rng(seed)
    c = rng.uniform(0.05, 0.95, n)
    y = (rng.random(n) < c).astype(float)
    y[:2] = [0.0, 1.0]
    for metric in (M.brier_score_loss, M.nce, M.auroc_score):
        result = M.bootstrap_ci(metric, c, y, n_resamples=200, seed=seed)
        assert result.low <= result.estimate <= result.high, metric.__name__
    wrong = (rng.random(n) < c / 3).astype(float)
    result = M.bootstrap_ci(M.ece, c, wrong, n_bins=5, n_resamples=200, seed=seed)
    assert result.low <= result.estimate <= result.high


@SETTINGS
@given(st.integers(2, 6), st.integers(1, 20), st.integers(0, 10_000))
def test_jsd_is_symmetric_and_bounded(k, rows, seed) -> None:
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(k) * 0.5, size=rows)
    q = rng.dirichlet(np.ones(k) * 0.5, size=rows)
    jsd = M.jsd(p, q)
    np.testing.assert_allclose(jsd, M.jsd(q, p), atol=1e-15)
    assert np.all((jsd >= 0.0) & (jsd <= np.log(2) + 1e-15))
