"""ConfTuner as a training method: the tokenized Brier loss on ``conftuner_data``'s labelled
answers with the shared core. Every level is scored as its full token sequence (the
reference implementation reads only each level's first token, exact only when every level is
one token), in one packed forward per answer (``levels``)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from confalign.confidence.formats import get_format
from confalign.train.conftuner_data import LabelledAnswer
from confalign.train.levels import LevelItem, level_item, level_logprobs
from confalign.train.losses import expected_brier, expected_value
from confalign.train.packing import PackedScorer


def conftuner_item(tokenizer: Any, a: LabelledAnswer, *, special: bool, lm: bool) -> LevelItem:
    """The packed layout of one labelled answer (with the LM branch if ``lm``)."""
    return level_item(
        tokenizer, a.prompt, (a.answer,), get_format(a.format), special=special, lm=lm
    )


def conftuner_records(
    items: list[LevelItem], answers: list[LabelledAnswer]
) -> list[dict[str, Any]]:
    """Training records: the layout and the correctness label (0/1)."""
    return [
        {"item": it, "correct": torch.tensor(float(a.correct))}
        for it, a in zip(items, answers, strict=True)
    ]


def conftuner_loss(scorer: PackedScorer, *, lm_weight: float = 0.0) -> Any:
    """The method's ``LossFn``: the mean expected Brier over the batch (+ ``lm_weight`` x the
    answers' mean token NLL); logs the mean Cv of right and wrong answers."""
    if lm_weight < 0:
        raise ValueError(f"ConfTuner lm_weight must be >= 0, got {lm_weight}")

    def loss(model: nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        items = batch["item"]
        log_p, nll = level_logprobs(scorer, model, items)
        log_p = log_p[:, 0]
        y = batch["correct"].to(log_p.device)
        values = torch.tensor(items[0].values, device=log_p.device)
        total = expected_brier(log_p, values, y).mean()
        if nll is not None and lm_weight:
            total = total + lm_weight * nll.mean()
        mu = expected_value(log_p, values).detach()
        right = y > 0.5
        return total, {
            "cv_right": float(mu[right].mean()) if right.any() else float("nan"),
            "cv_wrong": float(mu[~right].mean()) if (~right).any() else float("nan"),
        }

    return loss
