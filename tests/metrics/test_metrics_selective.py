"""Selective prediction at every coverage: risk, oracle, random, and accuracy at a coverage."""

from __future__ import annotations

import numpy as np
import pytest

from confalign import metrics as M

# Most confident first: 0.9 (right), then a tie 0.8 (one right, one wrong), then 0.3 (wrong).
C = [0.8, 0.3, 0.9, 0.8]
Y = [1, 0, 1, 0]


def test_risk_at_every_coverage_by_hand() -> None:
    curve = M.selective_risk(C, Y)
    # k=1: {0.9} no error; k=2: 0.9 + half of the tie's one error; k=3: the tie; k=4: all.
    np.testing.assert_allclose(curve.coverage, [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(curve.risk, [0.0, 0.25, 1 / 3, 0.5])
    np.testing.assert_allclose(curve.oracle, [0.0, 0.0, 1 / 3, 0.5])
    np.testing.assert_allclose(curve.random, [0.5] * 4)
    assert curve.risk.mean() == pytest.approx(M.aurc_error(C, Y), abs=1e-12)


@pytest.mark.parametrize(
    ("coverage", "expected"),
    [(0.25, 1.0), (0.5, 0.75), (0.75, 2 / 3), (0.8, 0.5), (1.0, 0.5), (0.01, 1.0)],
)
def test_accuracy_at_coverage_by_hand(coverage: float, expected: float) -> None:
    # k = ceil(coverage * 4): 0.8 keeps all four; 0.01 keeps the one most confident.
    assert M.accuracy_at_coverage(C, Y, coverage=coverage) == pytest.approx(expected, abs=1e-12)


def test_accuracy_at_coverage_keeps_exactly_the_share_asked() -> None:
    # 0.7 * 10 is 7.000000000000001 in floating point: seven answers are kept, not eight.
    c = np.linspace(1.0, 0.1, 10)
    y = np.array([1, 1, 1, 1, 1, 1, 1, 0, 0, 0])
    assert M.accuracy_at_coverage(c, y, coverage=0.7) == 1.0
    assert M.accuracy_at_coverage(c, y, coverage=0.8) == pytest.approx(7 / 8)
    with pytest.raises(ValueError, match="coverage must be in"):
        M.accuracy_at_coverage(c, y, coverage=0.0)


def test_perfect_ranking_has_zero_risk_down_to_the_accuracy_coverage() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.35).astype(float)
    c = np.where(y == 1, rng.uniform(0.6, 1.0, 300), rng.uniform(0.0, 0.5, 300))
    accuracy = y.mean()
    curve = M.selective_risk(c, y)
    kept = curve.coverage <= accuracy + 1e-12
    assert kept.sum() == y.sum()
    np.testing.assert_array_equal(curve.risk[kept], 0.0)
    assert (curve.risk[~kept] > 0).all()
    np.testing.assert_allclose(curve.risk, curve.oracle, atol=1e-12)
    steps = M.risk_coverage_curve(c, y)
    np.testing.assert_array_equal(steps.risk[steps.coverage <= accuracy + 1e-12], 0.0)
    assert M.accuracy_at_coverage(c, y, coverage=accuracy) == 1.0
    assert M.prr_score(c, y) == pytest.approx(1.0)
