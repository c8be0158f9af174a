"""ADVICE's and ConfTuner's loss terms against hand-computed values on fixed distributions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import jensenshannon

from confalign.train.losses import (
    expected_brier,
    expected_value,
    jsd,
    jsd_hinge,
    margin_hinge,
    sum_penalty,
)

LOG = torch.log


def t(*rows: list[float]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


def test_jsd_identical_is_zero_disjoint_is_ln2_and_equals_scipy() -> None:
    p = t([0.5, 0.5, 0.0], [0.2, 0.3, 0.5])
    q = t([0.0, 0.0, 1.0], [0.2, 0.3, 0.5])
    got = jsd(LOG(p), LOG(q))
    assert got[0].item() == pytest.approx(math.log(2), abs=1e-12)
    assert got[1].item() == pytest.approx(0.0, abs=1e-12)
    a, b = np.array([0.7, 0.2, 0.1]), np.array([0.1, 0.3, 0.6])
    expected = jensenshannon(a, b) ** 2  # scipy returns the distance, natural log by default
    assert jsd(LOG(t(list(a))), LOG(t(list(b))))[0].item() == pytest.approx(expected, abs=1e-12)


def test_advice_terms_hand_computed() -> None:
    values = torch.tensor([0.9, 0.7, 0.5, 0.3, 0.1], dtype=torch.float64)  # score_letter
    p_c = t([0.5, 0.5, 0.0, 0.0, 0.0])  # mu_c = 0.8
    p_w = t([0.0, 0.0, 0.0, 0.5, 0.5])  # mu_w = 0.2, disjoint from p_c: JSD = ln 2
    mu_c, mu_w = expected_value(LOG(p_c), values), expected_value(LOG(p_w), values)
    assert mu_c.item() == pytest.approx(0.8) and mu_w.item() == pytest.approx(0.2)
    assert jsd_hinge(LOG(p_c), LOG(p_w), 0.6).item() == 0.0  # ln 2 > 0.6
    assert jsd_hinge(LOG(p_c), LOG(p_c), 0.6).item() == pytest.approx(0.6)
    assert margin_hinge(mu_c, mu_w, 1.0).item() == pytest.approx(0.4)  # 1 - (0.8 - 0.2)
    assert margin_hinge(mu_c, mu_w, 0.5).item() == 0.0
    assert sum_penalty(mu_c, mu_w).item() == pytest.approx(0.0, abs=1e-12)
    assert sum_penalty(mu_c, mu_c).item() == pytest.approx(0.6)  # |1 - 1.6|


def test_expected_brier_is_not_the_brier_of_the_mean() -> None:
    values = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    # half the mass on 0, half on 1: the mean is 0.5, whose Brier for y = 1 is 0.25; the
    # expected Brier is 0.5 * (1 - 0)^2 + 0.5 * (1 - 1)^2 = 0.5
    p = t([0.5, 0.0, 0.5], [0.2, 0.3, 0.5])
    y = torch.tensor([1.0, 0.0], dtype=torch.float64)
    got = expected_brier(LOG(p), values, y)
    assert got[0].item() == pytest.approx(0.5)
    assert got[1].item() == pytest.approx(0.2 * 0 + 0.3 * 0.25 + 0.5 * 1.0)
    mean = expected_value(LOG(p), values)
    assert ((mean - y) ** 2)[0].item() == pytest.approx(0.25)  # what it is not
