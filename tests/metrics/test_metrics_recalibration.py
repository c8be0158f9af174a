"""Recalibration maps: fitted on one split, applied on another."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, logit, softmax
from sklearn.isotonic import IsotonicRegression

from confalign import metrics as M


def _overconfident(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    c = rng.uniform(0.02, 0.98, n)
    return c, (rng.random(n) < expit(0.5 * logit(c) - 0.3)).astype(float)


def test_temperature_is_recovered_and_lowers_the_nll() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(0, 3, size=(4000, 4))
    labels = np.array([rng.choice(4, p=p) for p in softmax(scores / 2.0, axis=1)])
    fitted = M.TemperatureScaling.fit(scores, labels)
    assert fitted.temperature == pytest.approx(2.0, rel=0.1)
    probs = fitted.transform(scores)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)

    def nll(p: np.ndarray) -> float:
        return float(-np.log(p[np.arange(len(labels)), labels]).mean())

    assert nll(probs) < nll(softmax(scores, axis=1))


def test_platt_recovers_slope_and_intercept() -> None:
    rng = np.random.default_rng(1)
    c = rng.uniform(0.01, 0.99, 20000)
    y = (rng.random(20000) < expit(2.0 * logit(c) + 0.5)).astype(float)
    fitted = M.PlattScaling.fit(c, y)
    assert fitted.slope == pytest.approx(2.0, abs=0.1)
    assert fitted.intercept == pytest.approx(0.5, abs=0.1)
    assert fitted.transform([0.0, 1.0]).tolist() == pytest.approx(
        expit(fitted.slope * logit([1e-7, 1 - 1e-7]) + fitted.intercept).tolist()
    )


def test_isotonic_equals_scikit_learn_out_of_sample() -> None:
    fit_c, fit_y = _overconfident(500, 2)
    test_c, _ = _overconfident(300, 3)
    ours = M.IsotonicCalibration.fit(fit_c, fit_y).transform(test_c)
    theirs = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(fit_c, fit_y)
    np.testing.assert_allclose(ours, theirs.predict(test_c), atol=1e-12)
    assert np.all(np.diff(ours[np.argsort(test_c)]) >= 0)


def test_histogram_binning_by_hand() -> None:
    # 2 bins: (0, .5] holds .1 (wrong) and .2 (right) -> .5; (.5, 1] holds .7, .8 (right) -> 1
    fitted = M.HistogramBinning.fit([0.1, 0.2, 0.7, 0.8], [0, 1, 1, 1], n_bins=2)
    assert fitted.transform([0.3, 0.6, 0.5, 0.0]).tolist() == [0.5, 1.0, 0.5, 0.5]
    # a bin empty in the fit split keeps the input confidence
    only_low = M.HistogramBinning.fit([0.1, 0.2], [0, 1], n_bins=2)
    assert only_low.transform([0.9]).tolist() == [0.9]


@pytest.mark.parametrize("method", ["platt", "isotonic", "histogram"])
def test_recalibration_on_a_disjoint_split_lowers_ece(method: str) -> None:
    fit_c, fit_y = _overconfident(3000, 4)
    test_c, test_y = _overconfident(3000, 5)
    after = M.recalibrate(method, fit_c, fit_y, test_c)
    assert after.shape == test_c.shape and np.all((after >= 0) & (after <= 1))
    assert M.ece(after, test_y) < M.ece(test_c, test_y) / 2


def test_recalibration_errors() -> None:
    with pytest.raises(ValueError, match="both 0 and 1"):
        M.PlattScaling.fit([0.2, 0.9], [1, 1])
    with pytest.raises(ValueError, match="method must be one of"):
        M.recalibrate("beta", [0.2, 0.9], [0, 1], [0.5])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^labels\[1\] = 4\.0 is not an integer label"):
        M.TemperatureScaling.fit([[0.0, 1.0], [1.0, 0.0]], [0, 4])
    with pytest.raises(ValueError, match=r"^confidence\[0\] = 1\.5 is outside"):
        M.IsotonicCalibration.fit([0.2, 0.9], [0, 1]).transform([1.5])
