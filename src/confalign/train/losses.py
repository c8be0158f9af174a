"""Training losses as pure functions of per-sequence log-probabilities (DESIGN.md "Training
methods"). Shapes are ``(n_pairs,)``; every function returns the per-pair loss, and the caller
takes the mean, so a batch split over gradient-accumulation steps or processes averages the same.

Preference losses take the policy's and the reference's summed log-probabilities of the chosen
and rejected completions (nats) and, for IPO, their lengths in tokens:

- ``sigmoid`` (DPO, Rafailov et al. 2023): ``-log sigmoid(beta * (r_c - r_r))`` with
  ``r = log pi(y|x) - log pi_ref(y|x)``.
- ``ipo`` (Azar et al. 2023): ``((r_c / n_c - r_r / n_r) - 1 / (2 beta))^2``. The division by
  the completion lengths ``n`` is TRL's (``DPOTrainer``, loss_type="ipo"; its authors confirmed
  it with the IPO authors), not in the IPO paper's equation 17; confalign matches TRL so that
  ``beta`` means the same in both.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def dpo_sigmoid(
    chosen: torch.Tensor,
    rejected: torch.Tensor,
    ref_chosen: torch.Tensor,
    ref_rejected: torch.Tensor,
    *,
    beta: float,
    chosen_len: torch.Tensor | None = None,
    rejected_len: torch.Tensor | None = None,
) -> torch.Tensor:
    """DPO's logistic loss per pair; lengths are accepted and unused."""
    delta = (chosen - ref_chosen) - (rejected - ref_rejected)
    return -F.logsigmoid(beta * delta)


def ipo(
    chosen: torch.Tensor,
    rejected: torch.Tensor,
    ref_chosen: torch.Tensor,
    ref_rejected: torch.Tensor,
    *,
    beta: float,
    chosen_len: torch.Tensor | None = None,
    rejected_len: torch.Tensor | None = None,
) -> torch.Tensor:
    """IPO's squared loss per pair, log-ratios averaged over completion tokens as TRL does."""
    if chosen_len is None or rejected_len is None:
        raise ValueError("ipo needs the completion lengths chosen_len and rejected_len")
    delta = (chosen - ref_chosen) / chosen_len.clamp(min=1) - (rejected - ref_rejected) / (
        rejected_len.clamp(min=1)
    )
    return (delta - 1.0 / (2.0 * beta)) ** 2


PreferenceLoss = Callable[..., torch.Tensor]
PREFERENCE_LOSSES: dict[str, PreferenceLoss] = {"sigmoid": dpo_sigmoid, "ipo": ipo}
