"""Training losses as pure functions of per-sequence log-probabilities (docs/design.md "Training
methods"). Shapes are ``(n_pairs,)``; every function returns the per-pair loss, and the caller
takes the mean, so a batch split over gradient-accumulation steps or processes averages the same.

Preference losses (DCA, DPO alignment) take the policy's and the reference's summed
log-probabilities of the chosen and rejected completions (nats) and, for IPO, their lengths
in tokens:

- ``sigmoid`` (DPO, Rafailov et al. 2023): ``-log sigmoid(beta * (r_c - r_r))`` with
  ``r = log pi(y|x) - log pi_ref(y|x)``.
- ``ipo`` (Azar et al. 2023): ``((r_c / n_c - r_r / n_r) - 1 / (2 beta))^2``. The division by
  the completion lengths ``n`` is TRL's (``DPOTrainer``, loss_type="ipo"; its authors confirmed
  it with the IPO authors), not in the IPO paper's equation 17; confalign matches TRL so that
  ``beta`` means the same in both.
- ``cal_dpo`` (Cal-DPO, Xiao et al. 2024): ``-log sigmoid(r_c - r_r) + 0.5 * ((r_c - 1/(2 beta))^2
  + (r_r + 1/(2 beta))^2)``: the contrastive term without ``beta``, plus a squared pull of
  each log-ratio toward the true reward's scale, ``+1/(2 beta)`` for the chosen completion and
  ``-1/(2 beta)`` for the rejected one (``beta * r`` toward +-1/2), so the chosen
  likelihood cannot fall while the rejected one falls faster. The 0.5 weight and the missing
  ``beta`` in the first term are the authors' code's (``tengxiao1/Cal-DPO``,
  ``scripts/dpo_trainer.py``, ``loss_type == "Cal-DPO"``); docs/papers.md has the paper's form.
  Their code takes the squared terms as batch means (``F.mse_loss`` against a scalar): per pair
  as here, the batch mean is the same.
- ``chosen_nll``: TRL's ``sft`` term, the chosen completions' NLL per token (a weight adds it).

Confidence-level losses (ADVICE, ConfTuner) take log-probabilities over a format's levels,
shape ``(n, n_levels)``, normalised over the levels (``log_softmax``), and the levels' values
in [0, 1] (docs/design.md "Training methods"):

- ADVICE's three terms, with ``P_c``/``P_w`` the level distributions after the correct and the
  wrong answer and ``mu = sum P(level) * value``: ``jsd_hinge = max(0, d_jsd - JSD(P_c, P_w))``,
  ``margin_hinge = max(0, d_m - (mu_c - mu_w))``, ``sum_penalty = |1 - (mu_c + mu_w)|``.
- ConfTuner's tokenized Brier: ``sum_i P(level_i) * (y - value_i)^2``, the Brier score in
  expectation over the level distribution (not the Brier score of the expected value, which
  a confident-but-split distribution would game).
"""

from __future__ import annotations

import math
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


def cal_dpo(
    chosen: torch.Tensor,
    rejected: torch.Tensor,
    ref_chosen: torch.Tensor,
    ref_rejected: torch.Tensor,
    *,
    beta: float,
    chosen_len: torch.Tensor | None = None,
    rejected_len: torch.Tensor | None = None,
) -> torch.Tensor:
    """Cal-DPO's loss per pair (module docstring); lengths are accepted and unused."""
    r_c, r_r = chosen - ref_chosen, rejected - ref_rejected
    target = 1.0 / (2.0 * beta)
    calibration = (r_c - target) ** 2 + (r_r + target) ** 2
    return -F.logsigmoid(r_c - r_r) + 0.5 * calibration


def chosen_nll(
    chosen: torch.Tensor, chosen_len: torch.Tensor, tokens: float | None = None
) -> torch.Tensor:
    """The chosen completions' negative log-likelihood per token over the whole batch (a
    scalar): TRL's ``sft`` loss type, added to a preference loss with a weight (RPO, Pang et al.
    2024). Preference losses alone can lower the chosen response's likelihood as long as the
    rejected one falls faster; this term anchors the model to actually say the chosen value.
    ``tokens``: the token count to divide by (default: ``chosen_len``'s sum); a share of a batch
    (``train.packing.Objective``) passes the whole batch's."""
    total = chosen_len.sum().clamp(min=1) if tokens is None else max(tokens, 1)
    return -chosen.sum() / total


def jsd(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """Jensen-Shannon divergence per row, natural log, in [0, ln 2], from log-probabilities.
    A zero probability (-inf) is floored at -1e4 (exp underflows to 0), so ``0 log 0`` is 0
    rather than NaN, and so is its gradient."""
    log_p, log_q = log_p.clamp(min=-1e4), log_q.clamp(min=-1e4)
    log_m = torch.logsumexp(torch.stack([log_p, log_q]), dim=0) - math.log(2.0)
    kl_pm = (log_p.exp() * (log_p - log_m)).sum(-1)
    kl_qm = (log_q.exp() * (log_q - log_m)).sum(-1)
    return 0.5 * (kl_pm + kl_qm)


def expected_value(log_p: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """mu = sum P(level) * value(level) per row: the ``distribution`` mode's Cv."""
    return log_p.exp() @ values.to(log_p.dtype)


def jsd_hinge(log_p_c: torch.Tensor, log_p_w: torch.Tensor, margin: float) -> torch.Tensor:
    """ADVICE's JSD term: ``max(0, margin - JSD(P_c, P_w))`` per question."""
    return F.relu(margin - jsd(log_p_c, log_p_w))


def margin_hinge(mu_c: torch.Tensor, mu_w: torch.Tensor, margin: float) -> torch.Tensor:
    """ADVICE's margin term: ``max(0, margin - (mu_c - mu_w))`` per question."""
    return F.relu(margin - (mu_c - mu_w))


def sum_penalty(mu_c: torch.Tensor, mu_w: torch.Tensor) -> torch.Tensor:
    """ADVICE's sum term: ``|1 - (mu_c + mu_w)|`` per question."""
    return (1.0 - (mu_c + mu_w)).abs()


def expected_brier(
    log_p: torch.Tensor, values: torch.Tensor, correct: torch.Tensor
) -> torch.Tensor:
    """ConfTuner's tokenized Brier per answer: ``sum_i P(level_i) * (y - value_i)^2``."""
    y = correct.to(log_p.dtype)[:, None]
    return (log_p.exp() * (y - values.to(log_p.dtype)[None, :]) ** 2).sum(-1)


PreferenceLoss = Callable[..., torch.Tensor]
PREFERENCE_LOSSES: dict[str, PreferenceLoss] = {
    "sigmoid": dpo_sigmoid,
    "ipo": ipo,
    "cal_dpo": cal_dpo,
}
