"""ConfTuner as a training method: the tokenized Brier loss on the model's own greedy answers
to training questions, each labelled right or wrong by the dataset's matcher (questions it
gave no answer to are dropped and counted). Every level is scored as its full token sequence
(the reference implementation reads only each level's first token, exact only when every
level is one token), in one packed forward per answer (``levels``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from confalign.confidence.formats import get_format
from confalign.train.levels import LevelItem, OwnAnswer, level_item, level_objective, own_answers
from confalign.train.losses import expected_brier, expected_value
from confalign.train.methods.base import (
    CALIBRATION_DATA,
    DataContext,
    OneFormat,
    Policy,
    TrainingMethod,
    TrainingRunError,
    option,
)
from confalign.train.packing import ItemLoss, Objective, PackedScorer


@dataclass(frozen=True)
class ConfTunerOptions(OneFormat):
    """ConfTuner's own settings: the trained format and the weight of the optional LM loss."""

    lm_weight: float = option(0.0, "Weight of the optional LM loss.")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.lm_weight < 0:
            raise TrainingRunError(f"lm-weight: must be >= 0, got {self.lm_weight}")


@dataclass(frozen=True)
class LabelledAnswer:
    """One answer and its correctness. ``prompt``: the rendered prompt up to ``"Answer:"``."""

    example_id: str
    format: str
    prompt: str
    answer: str
    correct: bool


def label_answers(
    own: Iterable[OwnAnswer], prompts: Mapping[tuple[str, str], str]
) -> tuple[list[LabelledAnswer], Counter[str]]:
    """The labelled answers of ``own`` and the counts (kept, right, wrong, dropped)."""
    out, counts = [], Counter[str]()
    for a in own:
        if a.correct is None or not a.answer.strip():
            counts["dropped_no_answer"] += 1
            continue
        out.append(
            LabelledAnswer(
                a.example_id, a.format, prompts[(a.example_id, a.format)], a.answer, a.correct
            )
        )
        counts["kept"] += 1
        counts["right" if a.correct else "wrong"] += 1
    return out, counts


def build(ctx: DataContext, options: ConfTunerOptions) -> tuple[list[LabelledAnswer], Any]:
    """The labelled answers of the training split in the trained format, and their counts."""
    return label_answers(*own_answers(ctx, options.formats))


def layout(
    policy: Policy, data: Sequence[LabelledAnswer], options: ConfTunerOptions
) -> list[LevelItem]:
    lm = options.lm_weight > 0
    return [conftuner_item(policy.tokenizer, a, special=policy.special, lm=lm) for a in data]


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


def records(
    items: Sequence[LevelItem], data: Sequence[LabelledAnswer], prepared: Any,
    options: ConfTunerOptions, settings: Any,
) -> tuple[list[dict[str, Any]], Any]:  # fmt: skip
    return conftuner_records(list(items), list(data)), settings


def conftuner_loss(scorer: PackedScorer, *, lm_weight: float = 0.0) -> ItemLoss:
    """The method's ``LossFn``: the mean expected Brier over the batch (+ ``lm_weight`` x the
    answers' mean token NLL); logs the mean Cv of right and wrong answers."""
    if lm_weight < 0:
        raise ValueError(f"ConfTuner lm_weight must be >= 0, got {lm_weight}")

    def objective(batch: dict[str, Any]) -> Objective:
        items, correct = batch["item"], batch["correct"]
        values = torch.tensor(items[0].values)

        def terms(idx: Sequence[int], log_p: torch.Tensor) -> torch.Tensor:
            y = correct[list(idx)].to(log_p.device)
            return expected_brier(log_p[:, 0], values.to(log_p.device), y)

        def metrics(log_p: torch.Tensor) -> dict[str, float]:
            mu = expected_value(log_p[:, 0], values.to(log_p.device))
            right = correct.to(log_p.device) > 0.5
            return {
                "cv_right": float(mu[right].mean()) if right.any() else float("nan"),
                "cv_wrong": float(mu[~right].mean()) if (~right).any() else float("nan"),
            }

        return level_objective(items, terms, lm_weight, metrics)

    return ItemLoss(scorer, objective)


METHOD = TrainingMethod(
    name="conftuner",
    summary="ConfTuner: the tokenized Brier loss over the confidence levels of the model's "
    "own answers.",
    options=ConfTunerOptions,
    record=LabelledAnswer,
    build=build,
    layout=layout,
    records=records,
    loss=lambda scorer, o: conftuner_loss(scorer, lm_weight=o.lm_weight),
    describe=lambda o: (
        "ConfTuner: the tokenized Brier loss sum_i P(level_i) (y - value_i)^2 over the "
        f"`{o.format}` levels of the model's own answers, + {o.lm_weight} L_LM."
    ),
    evaluation="calibration",
    defaults={
        **CALIBRATION_DATA,
        "lr": 1e-5,
        "epochs": 3.0,
        "batch_size": 4,
        "grad_accum": 1,
        "lora_r": 8,
        "lora_alpha": 32,
        "lora_dropout": 0.05,
        "lora_targets": ("q_proj", "v_proj"),
    },
)
