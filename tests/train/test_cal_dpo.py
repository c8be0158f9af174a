"""Cal-DPO's loss: hand-computed values, equality with the authors' formula on the same
tensors (``tengxiao1/Cal-DPO``, ``scripts/dpo_trainer.py``, ``loss_type == "Cal-DPO"``, written
out below as that code computes it: batch-mean squared terms via ``F.mse_loss`` against a
scalar), and the property it adds to DPO: the chosen log-ratio is pulled up, not just apart."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from confalign.train.losses import PREFERENCE_LOSSES, cal_dpo, dpo_sigmoid


def authors_cal_dpo(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    reference_chosen: torch.Tensor,
    reference_rejected: torch.Tensor,
    beta: float,
) -> torch.Tensor:
    """The authors' per-batch loss, term for term (their ``losses``, then the Trainer's mean)."""
    chosen_rewards = policy_chosen - reference_chosen
    rejected_rewards = policy_rejected - reference_rejected
    dpo_term = -F.logsigmoid(chosen_rewards - rejected_rewards)
    cal_term = F.mse_loss(
        chosen_rewards, torch.tensor(1.0 / (2.0 * beta)).to(chosen_rewards)
    ) + F.mse_loss(rejected_rewards, torch.tensor(-1.0 / (2.0 * beta)).to(rejected_rewards))
    return (dpo_term + 0.5 * cal_term).mean()


def test_cal_dpo_hand_computed() -> None:
    # r_c = -1 - -2 = 1, r_r = -3 - -2.5 = -0.5; beta 0.1 -> targets +5 and -5
    # -log sigmoid(1.5) + 0.5 * ((1 - 5)^2 + (-0.5 + 5)^2) = log(1 + e^-1.5) + 0.5 * 36.25
    t = torch.tensor
    got = cal_dpo(t([-1.0]), t([-3.0]), t([-2.0]), t([-2.5]), beta=0.1)
    assert got.item() == pytest.approx(math.log1p(math.exp(-1.5)) + 18.125, abs=1e-6)


def test_cal_dpo_at_its_targets_is_the_contrastive_term_alone() -> None:
    # r_c = +1/(2 beta) = 2.5, r_r = -2.5 at beta 0.2: calibration 0, loss = log(1 + e^-5)
    t = torch.tensor
    got = cal_dpo(t([2.5]), t([-2.5]), t([0.0]), t([0.0]), beta=0.2)
    assert got.item() == pytest.approx(math.log1p(math.exp(-5.0)), abs=1e-7)


@pytest.mark.parametrize("beta", [0.01, 0.1, 0.5])
def test_cal_dpo_batch_mean_equals_the_authors_formula(beta: float) -> None:
    g = torch.Generator().manual_seed(0)
    chosen, rejected, ref_c, ref_r = (
        -torch.rand(64, generator=g, dtype=torch.float64) * 20 for _ in range(4)
    )
    ours = cal_dpo(chosen, rejected, ref_c, ref_r, beta=beta).mean()
    theirs = authors_cal_dpo(chosen, rejected, ref_c, ref_r, beta)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-12)
    assert PREFERENCE_LOSSES["cal_dpo"] is cal_dpo


def test_cal_dpo_raises_the_chosen_log_ratio_where_dpo_does_not() -> None:
    # Both log-ratios far below the chosen target: DPO's gradient moves r_c and r_r apart
    # symmetrically (d/dr_c = -d/dr_r), Cal-DPO's also pushes r_c up harder than r_r down.
    r_c = torch.tensor([-1.0], requires_grad=True)
    r_r = torch.tensor([-1.0], requires_grad=True)
    zero = torch.zeros(1)
    dpo_sigmoid(r_c, r_r, zero, zero, beta=0.1).sum().backward()
    assert r_c.grad is not None and r_r.grad is not None
    assert r_c.grad.item() == pytest.approx(-r_r.grad.item())
    r_c.grad, r_r.grad = None, None
    cal_dpo(r_c, r_r, zero, zero, beta=0.1).sum().backward()
    assert r_c.grad is not None and r_r.grad is not None
    # d/dr_c = -sigmoid(0) + (r_c - 5) = -0.5 - 6; d/dr_r = +0.5 + (r_r + 5) = 4.5
    assert r_c.grad.item() == pytest.approx(-6.5)
    assert r_r.grad.item() == pytest.approx(4.5)
