"""ADVICE (arXiv 2510.10913) as a training method: its contrastive loss on ``advice_data``'s
triplets (question, correct answer, wrong answer; one format per mini-batch). One packed
forward per triplet computes the question once for the correct and the wrong answer and
every level after each (``levels``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import torch

from confalign.confidence.formats import get_format
from confalign.train.advice_data import ADVICE_FORMATS, Triplet, build_triplets, shuffled_batches
from confalign.train.core import TrainSettings
from confalign.train.levels import LevelItem, level_item, level_objective, own_answers
from confalign.train.losses import expected_value, jsd, jsd_hinge, margin_hinge, sum_penalty
from confalign.train.methods.base import (
    CALIBRATION_DATA,
    CalibrationEval,
    DataContext,
    Policy,
    TrainingMethod,
    TrainingRunError,
    option,
)
from confalign.train.packing import ItemLoss, Objective, PackedScorer


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


@dataclass(frozen=True)
class AdviceOptions(CalibrationEval):
    """ADVICE's own settings: where correct answers come from, the loss's weights and margins
    (``AdviceWeights``); the trained formats are ADVICE's two."""

    correct_from: Literal["greedy", "gold"] = option(
        "greedy", "Correct answers: greedy (the model's right ones) or gold."
    )
    lm_weight: float = option(1.0, "Weight of L_LM.")
    jsd_weight: float = option(1.0, "Weight of the JSD hinge.")
    margin_weight: float = option(1.0, "Weight of the mean-confidence margin hinge.")
    sum_weight: float = option(1.0, "Weight of the |1 - (mu_c + mu_w)| term.")
    d_jsd: float = option(0.6, "JSD margin (nats).")
    d_m: float = option(1.0, "Mean-confidence margin.")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.correct_from not in ("greedy", "gold"):
            raise TrainingRunError(
                f"correct-from: must be greedy or gold, got {self.correct_from!r}"
            )
        self.weights  # noqa: B018  (validates them)

    @property
    def formats(self) -> tuple[str, ...]:
        return ADVICE_FORMATS

    @property
    def weights(self) -> AdviceWeights:
        return AdviceWeights(
            self.lm_weight, self.jsd_weight, self.margin_weight, self.sum_weight,
            self.d_jsd, self.d_m,
        )  # fmt: skip


def build(ctx: DataContext, options: AdviceOptions) -> tuple[list[Triplet], Any]:
    """The triplets of the training split in ADVICE's formats, and their counts."""
    own, prompts = own_answers(ctx, options.formats)
    return build_triplets(
        ctx.examples, own, prompts, correct_from=options.correct_from, seed=ctx.seed
    )


def layout(policy: Policy, data: Sequence[Triplet], options: AdviceOptions) -> list[LevelItem]:
    lm = options.lm_weight > 0
    return [advice_item(policy.tokenizer, t, special=policy.special, lm=lm) for t in data]


def records(
    items: Sequence[LevelItem], data: Sequence[Triplet], prepared: Any,
    options: AdviceOptions, settings: TrainSettings,
) -> tuple[list[dict[str, Any]], TrainSettings]:  # fmt: skip
    """One record per shuffled one-format mini-batch of ``settings.batch_size`` triplets; the
    Trainer then takes one record at a time."""
    index = {id(t): i for i, t in enumerate(data)}
    batches = shuffled_batches(data, settings.batch_size, seed=settings.seed)
    grouped = [[items[index[id(t)]] for t in batch] for batch in batches]
    return advice_records(grouped), replace(settings, batch_size=1)


def advice_item(tokenizer: Any, t: Triplet, *, special: bool, lm: bool) -> LevelItem:
    """The packed layout of one triplet: answers (correct, wrong), the LM branch if ``lm``."""
    return level_item(
        tokenizer, t.prompt, (t.correct, t.wrong), get_format(t.format), special=special, lm=lm
    )


def advice_records(batches: Sequence[Sequence[LevelItem]]) -> list[dict[str, Any]]:
    """One training record per mini-batch of one format (the Trainer runs them one at a
    time: ``batch_size`` 1), so no batch mixes formats."""
    return [{"items": list(b)} for b in batches]


def advice_loss(scorer: PackedScorer, weights: AdviceWeights) -> ItemLoss:
    """The method's ``LossFn``: L_LM + JSD hinge + margin hinge + sum penalty (weighted),
    averaged over the mini-batch's triplets; logs mu_c, mu_w and JSD."""
    w = weights

    def objective(batch: dict[str, Any]) -> Objective:
        (items,) = batch["items"]
        values = torch.tensor(items[0].values)

        def terms(idx: Sequence[int], log_p: torch.Tensor) -> torch.Tensor:
            mu = expected_value(log_p, values.to(log_p.device))
            mu_c, mu_w = mu[:, 0], mu[:, 1]
            return (
                w.jsd * jsd_hinge(log_p[:, 0], log_p[:, 1], w.d_jsd)
                + w.margin * margin_hinge(mu_c, mu_w, w.d_m)
                + w.sum * sum_penalty(mu_c, mu_w)
            )

        def metrics(log_p: torch.Tensor) -> dict[str, float]:
            mu = expected_value(log_p, values.to(log_p.device))
            return {
                "mu_correct": float(mu[:, 0].mean()),
                "mu_wrong": float(mu[:, 1].mean()),
                "jsd": float(jsd(log_p[:, 0], log_p[:, 1]).mean()),
            }

        return level_objective(items, terms, w.lm, metrics)

    return ItemLoss(scorer, objective)


def describe(options: AdviceOptions) -> str:
    w = options.weights
    return (
        "ADVICE (answer-dependent verbalized confidence): contrastive losses on the level "
        f"distributions after a correct and a wrong answer, L = {w.lm} L_LM + {w.jsd} "
        f"max(0, {w.d_jsd} - JSD) + {w.margin} max(0, {w.d_m} - (mu_c - mu_w)) + {w.sum} "
        f"|1 - (mu_c + mu_w)|; correct answers: {options.correct_from}; formats "
        f"{', '.join(options.formats)}."
    )


METHOD = TrainingMethod(
    name="advice",
    summary="ADVICE: contrastive losses that make the verbalized confidence depend on the "
    "answer (score_letter + score_number).",
    options=AdviceOptions,
    record=Triplet,
    build=build,
    layout=layout,
    records=records,
    loss=lambda scorer, o: advice_loss(scorer, o.weights),
    describe=describe,
    evaluation="calibration",
    defaults={
        **CALIBRATION_DATA,
        "lr": 1e-5,
        "epochs": 4.0,
        "batch_size": 16,
        "grad_accum": 2,
        "lora_r": 16,
        "lora_alpha": 32,
        "lora_targets": ("q_proj", "k_proj", "v_proj", "o_proj"),
    },
    hint="try --correct-from gold",
)
