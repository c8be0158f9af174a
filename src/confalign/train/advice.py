"""ADVICE as a training method: its contrastive loss on ``advice_data``'s triplets with the
shared core. One packed forward per triplet computes the question once for the correct and
the wrong answer and every level after each (``levels``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from confalign.confidence.formats import get_format
from confalign.train.advice_data import Triplet
from confalign.train.levels import LevelItem, level_item, level_logprobs
from confalign.train.losses import expected_value, jsd, jsd_hinge, margin_hinge, sum_penalty
from confalign.train.packing import PackedScorer


@dataclass(frozen=True)
class AdviceWeights:
    """The loss's weights and margins (the paper: weights 1, ``d_jsd`` 0.6, ``d_m`` 1.0)."""

    lm: float = 1.0
    jsd: float = 1.0
    margin: float = 1.0
    sum: float = 1.0
    d_jsd: float = 0.6
    d_m: float = 1.0

    def __post_init__(self) -> None:
        for name in ("lm", "jsd", "margin", "sum", "d_jsd", "d_m"):
            if getattr(self, name) < 0:
                raise ValueError(f"ADVICE {name} must be >= 0, got {getattr(self, name)}")


def advice_item(tokenizer: Any, t: Triplet, *, special: bool, lm: bool) -> LevelItem:
    """The packed layout of one triplet: answers (correct, wrong), the LM branch if ``lm``."""
    return level_item(
        tokenizer, t.prompt, (t.correct, t.wrong), get_format(t.format), special=special, lm=lm
    )


def advice_records(batches: Sequence[Sequence[LevelItem]]) -> list[dict[str, Any]]:
    """One training record per mini-batch of one format (the Trainer runs them one at a
    time: ``batch_size`` 1), so no batch mixes formats."""
    return [{"items": list(b)} for b in batches]


def advice_loss(scorer: PackedScorer, weights: AdviceWeights) -> Any:
    """The method's ``LossFn``: L_LM + JSD hinge + margin hinge + sum penalty (weighted),
    averaged over the mini-batch's triplets; logs mu_c, mu_w and JSD."""
    w = weights

    def loss(model: nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        (items,) = batch["items"]
        log_p, nll = level_logprobs(scorer, model, items)
        values = torch.tensor(items[0].values, device=log_p.device)
        mu = expected_value(log_p, values)
        mu_c, mu_w = mu[:, 0], mu[:, 1]
        total = (
            w.jsd * jsd_hinge(log_p[:, 0], log_p[:, 1], w.d_jsd)
            + w.margin * margin_hinge(mu_c, mu_w, w.d_m)
            + w.sum * sum_penalty(mu_c, mu_w)
        ).mean()
        if nll is not None and w.lm:
            total = total + w.lm * nll.mean()
        return total, {
            "mu_correct": float(mu_c.detach().mean()),
            "mu_wrong": float(mu_w.detach().mean()),
            "jsd": float(jsd(log_p[:, 0], log_p[:, 1]).detach().mean()),
        }

    return loss
