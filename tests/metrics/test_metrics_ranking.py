"""AUROC, risk-coverage, AURC, PRR: hand-computed cases and reference implementations."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from confalign import metrics as M


def test_auroc_by_hand_with_and_without_ties() -> None:
    # pairs (correct, wrong): (.35,.1)=1 (.35,.4)=0 (.8,.1)=1 (.8,.4)=1 -> 3/4
    assert M.auroc_score([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == 0.75
    # correct .5 vs wrong .5, .5: two ties = 1/2 + 1/2; correct .9 beats both = 2 -> 3/4
    assert M.auroc_score([0.5, 0.5, 0.5, 0.9], [0, 1, 0, 1]) == 0.75
    assert M.auroc_score([0.0, -0.0, 1.0], [1, 0, 1]) == 0.75  # -0.0 ties with 0.0


@pytest.mark.parametrize("seed", range(4))
def test_auroc_equals_scikit_learn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    c = np.round(rng.random(3000), 2 if seed % 2 else 12)  # with and without many ties
    y = (rng.random(3000) < c).astype(float)
    assert M.auroc_score(c, y) == pytest.approx(roc_auc_score(y, c), abs=1e-9)


@pytest.mark.parametrize("metric", [M.auroc_score, M.prr_score])
def test_single_class_is_nan_with_a_warning(metric) -> None:
    with pytest.warns(M.UndefinedMetricWarning, match="every answer is correct"):
        assert np.isnan(metric([0.2, 0.9], [1, 1]))
    with pytest.warns(M.UndefinedMetricWarning, match="every answer is wrong"):
        assert np.isnan(metric([0.2, 0.9], [0, 0]))


def test_risk_coverage_and_aurc_by_hand() -> None:
    # most confident first: y = 1, 0, 1, 1 -> risk@k = 0, 1/2, 1/3, 1/4
    # AURC = (0 + .5 + .3333 + .25) / 4 = 0.2708333
    c, y = [0.9, 0.8, 0.7, 0.6], [1, 0, 1, 1]
    curve = M.risk_coverage_curve(c, y)
    assert curve.coverage.tolist() == [0.25, 0.5, 0.75, 1.0]
    np.testing.assert_allclose(curve.risk, [0, 1 / 2, 1 / 3, 1 / 4])
    assert curve.threshold.tolist() == [0.9, 0.8, 0.7, 0.6]
    assert M.aurc_error(c, y) == pytest.approx(1.0833333333 / 4, abs=1e-9)
    assert curve.aurc == M.aurc_error(c, y)


def test_aurc_breaks_ties_in_expectation() -> None:
    # the tie at .9 (one right, one wrong) kept first: expected risk@1 = .5, risk@2 = .5,
    # risk@3 = 1/3 -> AURC = (.5 + .5 + 1/3) / 3 = 0.444444
    assert M.aurc_error([0.9, 0.9, 0.5], [1, 0, 1]) == pytest.approx(4 / 9, abs=1e-12)
    curve = M.risk_coverage_curve([0.9, 0.9, 0.5], [1, 0, 1])
    assert curve.coverage.tolist() == [2 / 3, 1.0]


def _naive_aurc(c: np.ndarray, y: np.ndarray) -> float:
    order = np.argsort(-c, kind="stable")
    errors = np.cumsum(1 - y[order])
    return float(np.mean(errors / np.arange(1, len(c) + 1)))


@pytest.mark.parametrize("seed", range(5))
def test_aurc_is_the_average_over_every_tie_breaking_order(seed: int) -> None:
    rng = np.random.default_rng(seed)
    c = rng.choice([0.2, 0.5, 0.8], size=6)
    y = rng.integers(0, 2, size=6).astype(float)
    orders = list(itertools.permutations(range(6)))
    mean = np.mean([_naive_aurc(c[list(p)], y[list(p)]) for p in orders])
    assert M.aurc_error(c, y) == pytest.approx(mean, abs=1e-12)


def _lm_polygraph_prr(c: np.ndarray, y: np.ndarray) -> float:
    """LM-Polygraph's PredictionRejectionArea with max_rejection = 1, normalised by the
    oracle (uncertainty = -y) and random (expected accuracy = mean y) areas."""

    def area(uncertainty: np.ndarray) -> float:
        ordered = y[np.argsort(uncertainty, kind="stable")]
        n = len(y)
        return float(np.sum((np.cumsum(ordered) / np.arange(1, n + 1))[::-1]) / n)

    random = float(np.mean(y))
    return (area(-c) - random) / (area(-y) - random)


def test_prr_by_hand() -> None:
    # A_conf = 1 - AURC = 1 - .2708333 = .7291667; A_random = mean y = .75;
    # oracle keeps 1,1,1,0: acc@k = 1,1,1,.75 -> .9375; PRR = (.7291667-.75)/(.9375-.75) = -1/9
    c, y = [0.9, 0.8, 0.7, 0.6], [1, 0, 1, 1]
    assert M.prr_score(c, y) == pytest.approx(-1 / 9, abs=1e-9)
    assert M.prr_score([0.9, 0.1], [1, 0]) == pytest.approx(1.0)  # the oracle ranking
    assert M.prr_score([0.1, 0.9], [1, 0]) == pytest.approx(-1.0)


@pytest.mark.parametrize("seed", range(3))
def test_prr_and_aurc_equal_reference_implementations_without_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    c = rng.random(2000)
    y = (rng.random(2000) < c).astype(float)
    assert M.prr_score(c, y) == pytest.approx(_lm_polygraph_prr(c, y), abs=1e-9)
    assert M.aurc_error(c, y) == pytest.approx(_naive_aurc(c, y), abs=1e-9)
