"""ECE, MCE, SCE, NCE, Brier, NLL: hand-computed cases and reference implementations."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch
from sklearn.metrics import brier_score_loss as sk_brier
from sklearn.metrics import log_loss as sk_log_loss
from torchmetrics.classification import BinaryCalibrationError

from confalign import metrics as M
from confalign.metrics import binning, bootstrap, calibration, smooth


def test_ece_and_mce_by_hand() -> None:
    # 2 bins. (0, .5]: c .2 .3 -> conf .25, acc 1/2, gap .25, weight 2/5 -> .10
    #         (.5, 1]: c .7 .8 .9 -> conf .8, acc 2/3, gap 2/15, weight 3/5 -> .08
    # ECE = .18; MCE = max(.25, 2/15) = .25
    c, y = [0.2, 0.3, 0.7, 0.8, 0.9], [0, 1, 1, 1, 0]
    assert M.expected_calibration_error(c, y, n_bins=2) == pytest.approx(0.18, abs=1e-12)
    assert M.maximum_calibration_error(c, y, n_bins=2) == pytest.approx(0.25, abs=1e-12)
    assert M.ece is M.expected_calibration_error and M.mce is M.maximum_calibration_error


def test_values_on_edges_go_to_the_lower_bin_and_zero_to_the_first() -> None:
    # 5 bins of width .2: 0.0 -> bin 0 (rule for c = 0), 0.2 -> bin 0 ((0, .2]),
    # just above 0.2 -> bin 1, 1.0 -> bin 4
    table = M.calibration_bins([0.0, 0.2, np.nextafter(0.2, 1.0), 1.0], [0, 1, 1, 1], n_bins=5)
    assert table.count.tolist() == [2, 1, 0, 0, 1]
    assert table.accuracy[0] == 0.5 and np.isnan(table.accuracy[2])
    assert table.lo.tolist() == [0.0, 0.2, 0.4, 0.6, 0.8] and table.hi[-1] == 1.0


@pytest.mark.parametrize("n_bins", [1, 2, 3, 7, 10, 15, 20, 33, 100, 999])
def test_fast_equal_width_binning_matches_a_binary_search(n_bins: int) -> None:
    rng = np.random.default_rng(n_bins)
    # every float within 6 ulps of an edge, where rounding of c * n_bins could mislead
    edges = np.arange(n_bins + 1) / n_bins
    near, up, down = [edges], edges, edges
    for _ in range(6):
        up, down = np.nextafter(up, 2.0), np.nextafter(down, -1.0)
        near += [up, down]
    c = np.clip(np.concatenate([rng.random(5000), *near]), 0.0, 1.0)
    index, _ = binning.bin_index(c, n_bins, "equal_width")
    assert np.array_equal(index, np.searchsorted(edges[1:-1], c, side="left"))


def test_equal_mass_bins_hold_equal_counts_and_keep_ties_together() -> None:
    c = np.arange(1, 13) / 13  # 12 distinct values, 4 bins -> 3 per bin
    table = M.calibration_bins(c, np.ones(12), n_bins=4, strategy="equal_mass")
    assert table.count.tolist() == [3, 3, 3, 3]
    # ties: hi_1 is the 2nd smallest (ceil(1 * 4 / 2) - 1 = index 1) = 0.5; all 0.5s stay below
    tied = M.calibration_bins([0.5, 0.5, 0.5, 0.9], [1, 0, 1, 1], n_bins=2, strategy="equal_mass")
    assert tied.count.tolist() == [3, 1]
    # ECE: bin (0, .5]: conf .5 acc 2/3 -> 3/4 * 1/6 = .125; bin (.5, 1]: .9 vs 1 -> 1/4 * .1
    ece = M.expected_calibration_error(
        [0.5, 0.5, 0.5, 0.9], [1, 0, 1, 1], n_bins=2, strategy="equal_mass"
    )
    assert ece == pytest.approx(0.125 + 0.025, abs=1e-12)


def test_bin_table_matches_the_metrics() -> None:
    rng = np.random.default_rng(0)
    c = rng.random(500)
    y = (rng.random(500) < c**2).astype(float)
    for strategy in ("equal_width", "equal_mass"):
        table = M.calibration_bins(c, y, n_bins=10, strategy=strategy)
        assert table.n == 500 and table.n_bins == 10
        assert table.ece == pytest.approx(M.ece(c, y, n_bins=10, strategy=strategy), abs=1e-12)
        assert table.mce == pytest.approx(M.mce(c, y, n_bins=10, strategy=strategy), abs=1e-12)


def test_blocked_accumulation_equals_one_block(monkeypatch: pytest.MonkeyPatch) -> None:
    c, y = _random(1000, 7)
    expected = [M.ece(c, y), M.mce(c, y), M.ece(c, y, strategy="equal_mass")]
    table = M.calibration_bins(c, y)
    monkeypatch.setattr(binning, "BLOCK", 64)  # 16 blocks, the last one partial
    assert [M.ece(c, y), M.mce(c, y), M.ece(c, y, strategy="equal_mass")] == pytest.approx(
        expected, abs=1e-12
    )
    assert np.array_equal(M.calibration_bins(c, y).count, table.count)


def test_sce_by_hand() -> None:
    # class 0: p = .8 (label 0), .3 (label 0) -> bins (.5,1]: |1 - .8| / 2 and (0,.5]: |1 - .3| / 2
    #          = .1 + .35 = .45
    # class 1: p = .2, .7, neither labelled 1 -> |0 - .2| / 2 + |0 - .7| / 2 = .45
    # SCE = (.45 + .45) / 2 = .45
    probs = [[0.8, 0.2], [0.3, 0.7]]
    assert M.static_calibration_error(probs, [0, 0], n_bins=2) == pytest.approx(0.45, abs=1e-12)


def test_sce_of_two_classes_averages_the_per_class_eces() -> None:
    rng = np.random.default_rng(1)
    p1 = rng.random(400)
    labels = (rng.random(400) < p1).astype(int)
    probs = np.column_stack([1 - p1, p1])
    per_class = [M.ece(probs[:, k], labels == k, n_bins=10) for k in range(2)]
    assert M.sce(probs, labels, n_bins=10) == pytest.approx(np.mean(per_class), abs=1e-12)


def test_nce_brier_nll_by_hand() -> None:
    c, y = [0.9, 0.6], [1, 0]
    assert M.net_calibration_error(c, y) == pytest.approx(0.25)  # mean c .75 - mean y .5
    assert M.absolute_net_calibration_error([0.1], [1]) == pytest.approx(0.9)
    assert M.nce([0.1], [1]) == pytest.approx(-0.9)  # signed: under-confident < 0
    assert M.brier_score_loss(c, y) == pytest.approx(0.185)  # (.1^2 + .6^2) / 2
    # -(ln .9 + ln .4) / 2 = (0.1053605157 + 0.9162907319) / 2
    assert M.log_loss(c, y) == pytest.approx(0.5108256238, abs=1e-9)
    # c = 1 but wrong: clipped to 1 - 1e-7 -> -ln(1e-7) = 16.1180956510
    assert M.log_loss([1.0], [0]) == pytest.approx(16.118095651, abs=1e-6)


def _random(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    c = rng.uniform(0.01, 0.99, n)
    return c, (rng.random(n) < c**1.5).astype(float)


@pytest.mark.parametrize("seed", range(3))
def test_brier_and_nll_equal_scikit_learn(seed: int) -> None:
    c, y = _random(1000, seed)
    assert M.brier_score_loss(c, y) == pytest.approx(sk_brier(y, c), abs=1e-9)
    assert M.log_loss(c, y) == pytest.approx(sk_log_loss(y, c), abs=1e-9)


@pytest.mark.parametrize("n_bins", [5, 10, 15])
def test_ece_and_mce_equal_torchmetrics_off_the_edges(n_bins: int) -> None:
    # torchmetrics bins [lo, hi) (and c = 1.0 alone), confalign (lo, hi]: they agree only when
    # no confidence lies on an edge, which we assert about the data first.
    c, y = _random(2000, n_bins)
    assert not np.isin(c, np.arange(n_bins + 1) / n_bins).any()
    preds, target = torch.tensor(c), torch.tensor(y, dtype=torch.long)
    for norm, ours in (("l1", M.ece), ("max", M.mce)):
        theirs = BinaryCalibrationError(n_bins=n_bins, norm=norm)(preds, target).item()
        assert ours(c, y, n_bins=n_bins) == pytest.approx(theirs, abs=1e-9)


def test_metrics_are_registered_with_direction_and_range() -> None:
    for function in (
        M.ece,
        M.mce,
        M.sce,
        M.absolute_net_calibration_error,
        M.brier_score_loss,
        M.log_loss,
        M.aurc_error,
    ):
        info = M.metric_info(function)
        assert info.higher_is_better is False and info.arrow == "↓"
    for function in (M.auroc_score, M.prr_score, M.spearman_score):
        assert M.metric_info(function).higher_is_better is True
    assert M.metric_info("nce").higher_is_better is None and M.metric_info("nce").low == -1.0
    assert M.metric_info("nll").high == pytest.approx(16.118, abs=1e-3)
    assert M.metric_info("ece").arguments == ("confidence", "correct")
    assert M.metric_info("spearman").arguments == ("verbalized", "internal")
    assert M.metric_info("sce").arguments == ("probs", "labels")
    assert M.metric_info("jsd").arguments == ("p", "q")
    with pytest.raises(KeyError, match="Did you mean 'ece'"):
        M.metric_info("ecee")


def test_names_follow_the_direction_convention() -> None:
    registered = set()
    for name in M.__all__:
        function = getattr(M, name)
        if not callable(function) or isinstance(function, type):
            continue
        try:
            info = M.metric_info(function)
        except KeyError:
            continue
        registered.add(info.key)
        if function.__name__.endswith("_score"):
            assert info.higher_is_better is True, name
        if function.__name__.endswith(("_error", "_loss")) and info.higher_is_better is not None:
            assert info.higher_is_better is False, name
        assert info.low < info.high
    assert registered == set(M.METRICS)


def test_docstring_examples_run() -> None:
    for module in (calibration, bootstrap):
        assert doctest.testmod(module).failed == 0


def _smece_case(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (confidence, correct): n in 1..500 (1..10 for every 4th seed), six shapes of
    confidences and five kinds of correctness, crossed by the seed."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 11 if seed % 4 == 0 else 501))
    shape = seed % 6
    if shape == 0:  # uniform
        c = rng.random(n)
    elif shape == 1:  # beta, random parameters
        c = rng.beta(rng.uniform(0.3, 5.0), rng.uniform(0.3, 5.0), n)
    elif shape == 2:  # concentrated near 0 and near 1
        near = rng.exponential(0.01, n).clip(max=1.0)
        c = np.where(rng.random(n) < 0.5, near, 1.0 - near)
    elif shape == 3:  # ties: a few distinct values
        c = rng.choice(rng.random(int(rng.integers(1, 6))), n)
    elif shape == 4:  # exact 0.0 and 1.0 among uniform values
        c = rng.random(n)
        c[rng.random(n) < 0.25] = 0.0
        c[rng.random(n) < 0.25] = 1.0
    else:  # an over-confident model: near 1, with some 1.0
        c = 1.0 - rng.exponential(0.05, n).clip(max=1.0)
        c[rng.random(n) < 0.2] = 1.0
    kind = (seed // 6) % 5
    if kind == 0:  # calibrated
        y = rng.random(n) < c
    elif kind == 1:  # over-confident
        y = rng.random(n) < c**3
    elif kind == 2:  # a fixed rate, unrelated to c
        y = rng.random(n) < rng.choice([0.05, 0.3, 0.5, 0.7, 0.95])
    elif kind == 3:
        y = np.zeros(n, dtype=bool)
    else:
        y = np.ones(n, dtype=bool)
    return c, y.astype(float)


@pytest.mark.parametrize("seed", range(200))
def test_smooth_ece_equals_relplot(seed: int) -> None:
    relplot = pytest.importorskip("relplot")
    c, y = _smece_case(seed)
    expected, width = relplot.smECE(c, y, return_width=True)
    assert abs(M.smooth_ece(c, y) - expected) <= 1e-10
    assert smooth._smooth_ece_and_bandwidth(c, y)[1] == width  # the same bisection outcome


# every grid size relplot uses: sigma = k / 1024 for k = 2..10 (the bisection's bandwidths below
# 0.01, grids of 1025 to 5121 points, odd and even), and the 1001-point grid of all the others
@pytest.mark.parametrize("k", [*range(2, 12), 16, 51, 100, 512, 1024])
def test_smooth_ece_at_a_fixed_bandwidth_equals_relplot(k: int) -> None:
    relplot_metrics = pytest.importorskip("relplot.metrics")
    for seed in (1, 5):  # beta confidences, calibrated; an over-confident model, near 1
        c, y = _smece_case(seed)
        expected = relplot_metrics.smooth_ece(c, y, k / 1024)
        assert abs(smooth._FixedBandwidth(c, y)(k / 1024) - expected) <= 1e-10


@pytest.mark.parametrize(
    ("c", "y"),
    [
        ([0.0], [0]),
        ([0.0], [1]),
        ([1.0], [1]),
        ([1.0], [0]),
        ([0.5], [1]),
        ([0.5] * 7, [1, 0, 1, 1, 0, 1, 1]),
        ([1.0] * 50, [1] * 50),  # smECE 0: the bisection runs down to its smallest bandwidth
        ([0.0] * 50, [1] * 50),
        ([0.0, 1.0] * 20, [0, 1] * 20),
    ],
)
def test_smooth_ece_equals_relplot_on_edge_cases(c: list[float], y: list[int]) -> None:
    relplot = pytest.importorskip("relplot")
    c_array, y_array = np.asarray(c, dtype=float), np.asarray(y, dtype=float)
    expected, width = relplot.smECE(c_array, y_array, return_width=True)
    assert abs(M.smooth_ece(c, y) - expected) <= 1e-10
    assert smooth._smooth_ece_and_bandwidth(c_array, y_array)[1] == width


@pytest.mark.usefixtures("no_relplot")
def test_smooth_ece_does_not_need_relplot() -> None:
    assert not M.relplot_available()
    assert 0.0 < M.smooth_ece([0.9, 0.8, 0.7], [1, 0, 0]) < 1.0
