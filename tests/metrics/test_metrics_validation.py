"""Bad input raises ValueError naming the argument, the first bad index and its value."""

from __future__ import annotations

import numpy as np
import pytest

from confalign import metrics as M

BINARY_METRICS = [
    M.expected_calibration_error,
    M.maximum_calibration_error,
    M.net_calibration_error,
    M.absolute_net_calibration_error,
    M.brier_score_loss,
    M.log_loss,
    M.auroc_score,
    M.aurc_error,
    M.prr_score,
    M.risk_coverage_curve,
    M.selective_risk,
    M.accuracy_at_coverage,
    M.calibration_bins,
    M.calibration_summary,
    M.smooth_ece,
]
PAIR_METRICS = [
    M.spearman_score,
    M.mean_gap,
    M.mean_absolute_gap,
    M.gap_std,
    M.gap_sem,
    M.alignment_metrics,
]

BAD_PAIRS = [
    ([0.1, 0.2, 0.3], [1, 0], r"^confidence has 3 values but correct has 2"),
    ([], [], r"^confidence is empty"),
    ([0.1, np.nan], [1, 0], r"^confidence\[1\] = nan is not finite"),
    ([0.1, 0.2], [np.inf, 0], r"^correct\[0\] = inf is not finite"),
    ([0.1, 0.2, 1.5, 2.0], [1, 0, 1, 1], r"^confidence\[2\] = 1\.5 is outside \[0, 1\]"),
    ([0.1, -0.1], [1, 0], r"^confidence\[1\] = -0\.1 is outside \[0, 1\]"),
    ([1.0000001], [1], r"^confidence\[0\] = 1\.0000001 is outside"),  # never clipped
    ([0.1, 0.2], [1, 0.5], r"^correct\[1\] = 0\.5 is not 0 or 1"),
    ([0.1, 0.2], [1, 2], r"^correct\[1\] = 2\.0 is not 0 or 1"),
    ([[0.1, 0.2]], [1], r"^confidence must be 1-D, got shape \(1, 2\)"),
    (["a", "b"], [1, 0], r"^confidence must be an array of numbers"),
]


@pytest.mark.parametrize("metric", BINARY_METRICS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(("confidence", "correct", "message"), BAD_PAIRS)
def test_every_metric_names_the_argument_and_index(metric, confidence, correct, message) -> None:
    with pytest.raises(ValueError, match=message):
        metric(confidence, correct)


@pytest.mark.parametrize("metric", PAIR_METRICS, ids=lambda f: f.__name__)
def test_alignment_metrics_name_their_arguments(metric) -> None:
    with pytest.raises(ValueError, match=r"^internal\[1\] = 2\.0 is outside \[0, 1\]"):
        metric([0.1, 0.2], [0.3, 2.0])
    with pytest.raises(ValueError, match=r"^verbalized has 2 values but internal has 1"):
        metric([0.1, 0.2], [0.3])


def test_inputs_are_not_modified() -> None:
    c = np.array([0.3, 0.9, 0.0])
    y = np.array([1.0, 0.0, 1.0])
    before = c.copy(), y.copy()
    M.calibration_summary(c, y, smooth=False)
    M.bootstrap_ci(M.ece, c, y, n_resamples=5)
    assert np.array_equal(c, before[0]) and np.array_equal(y, before[1])


def test_bool_and_integer_inputs_are_accepted() -> None:
    assert M.brier_score_loss(np.array([1, 0]), np.array([True, False])) == 0.0


@pytest.mark.parametrize(
    ("probs", "labels", "message"),
    [
        ([[0.5, 0.5], [0.6, 0.3]], [0, 1], r"^probs\[1\] sums to 0\.9.*tolerance 1e-06"),
        ([[0.5, 0.5], [1.2, -0.2]], [0, 1], r"^probs\[1, 0\] = 1\.2 is outside \[0, 1\]"),
        ([[0.5, 0.5], [0.5, 0.5], [1, 0]], [0, 1, 2], r"^labels\[2\] = 2\.0 is not an integer"),
        ([[0.5, 0.5], [0.5, 0.5]], [0, 0.5], r"^labels\[1\] = 0\.5 is not an integer label"),
        ([[0.5, 0.5], [0.5, 0.5]], [0], r"^probs has 2 values but labels has 1"),
        ([0.5, 0.5], [0], r"^probs must be 2-D"),
    ],
)
def test_sce_input_errors(probs, labels, message) -> None:
    with pytest.raises(ValueError, match=message):
        M.static_calibration_error(probs, labels)


def test_row_sums_within_the_tolerance_pass() -> None:
    almost = [[0.5, 0.5 + 5e-7], [0.25, 0.75]]
    assert M.static_calibration_error(almost, [0, 1]) >= 0.0


@pytest.mark.parametrize(
    ("p", "q", "message"),
    [
        ([0.5, 0.5], [0.5, 0.4], r"^q sums to 0\.9"),
        ([[0.5, 0.5]], [[0.5, 0.5], [1, 0]], r"^p has shape \(1, 2\) but q has shape \(2, 2\)"),
        ([[0.5, 0.5], [0.2, 0.9]], [[0.5, 0.5], [1, 0]], r"^p\[1\] sums to 1\.1"),
        (0.5, 0.5, r"^p must be 1-D \(K,\) or 2-D"),
    ],
)
def test_jsd_input_errors(p, q, message) -> None:
    with pytest.raises(ValueError, match=message):
        M.jensen_shannon_divergence(p, q)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_bins": 0}, r"^n_bins must be an integer >= 1, got 0"),
        ({"n_bins": 2.5}, r"^n_bins must be an integer"),
        ({"n_bins": True}, r"^n_bins must be an integer"),
        ({"strategy": "quantile"}, r"^strategy must be one of 'equal_width', 'equal_mass'"),
    ],
)
def test_binning_option_errors(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        M.expected_calibration_error([0.5], [1], **kwargs)


def test_options_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        M.expected_calibration_error([0.5], [1], 10)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_resamples": 0}, r"^n_resamples must be an integer >= 1"),
        ({"confidence_level": 1.0}, r"^confidence_level must be in \(0, 1\)"),
        ({"confidence_level": "high"}, r"^confidence_level must be a number"),
    ],
)
def test_bootstrap_option_errors(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        M.bootstrap_ci(M.ece, [0.5, 0.2], [1, 0], **kwargs)


def test_bootstrap_validates_its_arrays() -> None:
    with pytest.raises(ValueError, match=r"^confidence\[0\] = 3\.0 is outside"):
        M.bootstrap_ci(M.auroc_score, [3.0, 0.2], [1, 0])
    with pytest.raises(ValueError, match=r"^arrays\[0\] has 2 values but arrays\[1\] has 1"):
        M.bootstrap_ci(lambda a, b: 0.0, [0.5, 0.2], [1])
