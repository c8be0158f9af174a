"""Preference training over packed pairs, shared by DCA and DPO alignment: each pair's
summed log-probabilities of chosen and rejected (one packed forward: the prompt once, then the
two completions; ``train.packing``), the reference's computed once before training (the
policy with its adapter disabled: no second model in memory), and the loss of a batch with
its logged reward margin and preference accuracy (``train.losses``)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from confalign.backends.packed import TreeItem
from confalign.train.losses import PREFERENCE_LOSSES, chosen_nll
from confalign.train.packing import PackedScorer


def pair_logps(scorer: PackedScorer, model: nn.Module, items: Sequence[TreeItem]) -> torch.Tensor:
    """(n, 2, 2): per pair, (chosen, rejected) x (summed log-prob, completion tokens)."""
    return torch.stack(scorer(model, items))


@torch.no_grad()
def reference_logps(
    policy: nn.Module, scorer: PackedScorer, items: Sequence[TreeItem], *, batch_size: int = 8
) -> torch.Tensor:
    """(n, 2) summed log-probabilities of chosen and rejected under the policy with its adapter
    disabled (the base model), float64 on the CPU."""
    was_training = policy.training
    policy.eval()
    disabled = policy.disable_adapter() if hasattr(policy, "disable_adapter") else None
    out = []
    with disabled if disabled is not None else contextlib.nullcontext():
        for i in range(0, len(items), batch_size):
            out.append(
                pair_logps(scorer, policy, items[i : i + batch_size])[:, :, 0].double().cpu()
            )
    policy.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, 2, dtype=torch.float64)


def preference_records(items: Sequence[TreeItem], reference: torch.Tensor) -> list[dict[str, Any]]:
    """The training records: the tokenised pair and its reference log-probabilities."""
    return [{"item": it, "ref": reference[i]} for i, it in enumerate(items)]


def preference_loss(
    scorer: PackedScorer, *, loss_type: str, beta: float, sft_weight: float = 0.0
) -> Any:
    """The method's ``LossFn``: mean preference loss over the batch (plus ``sft_weight`` times
    the chosen responses' NLL per token: TRL's ``loss_type=[loss, "sft"]``), with the mean
    reward margin (``(r_c - r_r)``, nats) and the share of pairs where it is positive."""
    if loss_type not in PREFERENCE_LOSSES:
        raise ValueError(
            f"unknown preference loss {loss_type!r}; known: {', '.join(PREFERENCE_LOSSES)}"
        )
    loss_of = PREFERENCE_LOSSES[loss_type]

    def loss(model: nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        s = pair_logps(scorer, model, batch["item"])
        ref = batch["ref"].to(s.device, s.dtype)
        per_pair = loss_of(
            s[:, 0, 0],
            s[:, 1, 0],
            ref[:, 0],
            ref[:, 1],
            beta=beta,
            chosen_len=s[:, 0, 1],
            rejected_len=s[:, 1, 1],
        )
        margin = ((s[:, 0, 0] - ref[:, 0]) - (s[:, 1, 0] - ref[:, 1])).detach()
        total = per_pair.mean()
        if sft_weight:
            total = total + sft_weight * chosen_nll(s[:, 0, 0], s[:, 0, 1])
        return total, {
            "margin": float(margin.mean()),
            "accuracy": float((margin > 0).float().mean()),
        }

    return loss
