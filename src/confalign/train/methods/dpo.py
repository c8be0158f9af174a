"""DPO alignment of a (base) model on factuality preference pairs: plain DPO (``sigmoid``),
IPO, or Cal-DPO (``train.losses``), LoRA on every projection.

Data: ``train.preference_data``: per training question, chosen = the gold answer, rejected =
the untrained model's own wrong answer (its greedy ``answer_prob`` answer, graded), else a
plausible wrong one; or ``--pairs-file`` (TRL's prompt/chosen/rejected JSONL). Training is
DCA's preference machinery (``train.preference``): the reference log-probabilities once,
one packed forward per pair. The before/after evaluation is ``preference``: held-out
accuracy and the chosen-over-rejected preference on held-out pairs (``pipelines.evaluations``);
whether the alignment broke the model's internal calibration is ``confalign study``'s question.

LoRA rather than full fine-tuning: the reference is the same weights with the adapter off, so
one 270M-parameter model sits in memory instead of two, and the optimizer state is the
adapter's (a few MB) rather than 2 x 1 GB of fp32 Adam moments on a 2-core machine.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from confalign.backends.packed import TreeItem
from confalign.train.dca_data import read_pairs, tokenize_pair
from confalign.train.losses import PREFERENCE_LOSSES
from confalign.train.methods.base import (
    DataContext,
    Policy,
    TrainingMethod,
    TrainingRunError,
    option,
)
from confalign.train.preference import preference_loss, preference_records, reference_logps
from confalign.train.preference_data import (
    FILE,
    OwnAnswer,
    PreferencePair,
    build_factual_pairs,
)


@dataclass(frozen=True)
class DPOOptions:
    """The alignment's own settings (module docstring)."""

    loss: Literal["sigmoid", "ipo", "cal_dpo"] = option(
        "sigmoid", "Preference loss: sigmoid (DPO), ipo or cal_dpo (Cal-DPO)."
    )
    beta: float = option(0.1, "DPO/IPO/Cal-DPO beta.")
    sft_weight: float = option(0.0, "Weight of the chosen completions' NLL (TRL's 'sft').")
    pairs_file: Path | None = option(None, "Train on these pairs (JSONL, TRL format).")

    def __post_init__(self) -> None:
        if self.loss not in PREFERENCE_LOSSES:
            known = ", ".join(PREFERENCE_LOSSES)
            raise TrainingRunError(f"loss: must be one of {known}, got {self.loss!r}")
        if not self.beta > 0:
            raise TrainingRunError(f"beta: must be > 0, got {self.beta}")
        if not self.sft_weight >= 0:
            raise TrainingRunError(f"sft-weight: must be >= 0, got {self.sft_weight}")
        if self.pairs_file is not None and not Path(self.pairs_file).is_file():
            raise TrainingRunError(f"pairs-file: {self.pairs_file} does not exist")


def own_answers(rows: Sequence[Any]) -> dict[str, OwnAnswer]:
    """The model's graded greedy answers by example id, from stored ``answer_prob`` rows."""
    return {r.example_id: OwnAnswer(r.prediction or "", r.correct) for r in rows}


def answer_prompts(ctx: DataContext, examples: Sequence[Any]) -> dict[str, str]:
    """Each question's ``answer_prob`` prompt as the model sees it."""
    from confalign.confidence.prompts import answer_prompt

    return {ex.id: ctx.render(answer_prompt(ex)) for ex in examples}


def build(ctx: DataContext, options: DPOOptions) -> tuple[list[PreferencePair], Counter[str]]:
    """The pairs (``--pairs-file``'s, or built from the model's own answers) and counts."""
    if options.pairs_file is not None:
        pairs = [
            PreferencePair(p.example_id, p.prompt, p.chosen, p.rejected, FILE)
            for p in read_pairs(options.pairs_file)
        ]
        return pairs, Counter(kept=len(pairs), from_file=1)
    return build_factual_pairs(
        ctx.examples,
        own_answers(ctx.own_answers()),
        answer_prompts(ctx, ctx.examples),
        seed=ctx.seed,
    )


def layout(policy: Policy, pairs: Sequence[PreferencePair], options: DPOOptions) -> list[TreeItem]:
    """Each pair tokenised as TRL does (``dca_data.tokenize_pair``)."""
    return [
        tokenize_pair(
            policy.tokenizer, p.prompt, p.chosen, p.rejected, add_special_tokens=policy.special
        )
        for p in pairs
    ]


def prepare(policy: Policy, items: Sequence[TreeItem], options: DPOOptions) -> torch.Tensor:
    """The reference log-probabilities (the policy with its adapter disabled), once per pair."""
    return reference_logps(policy.model, policy.scorer, items)


def records(
    items: Sequence[TreeItem], pairs: Sequence[PreferencePair], reference: torch.Tensor,
    options: DPOOptions, settings: Any,
) -> tuple[list[dict[str, Any]], Any]:  # fmt: skip
    """Each pair's layout and its reference log-probabilities."""
    return preference_records(items, reference), settings


def describe(options: DPOOptions) -> str:
    """The card's paragraph."""
    names = {"sigmoid": "DPO", "ipo": "IPO", "cal_dpo": "Cal-DPO"}
    return (
        f"Preference alignment ({names[options.loss]}, loss `{options.loss}`, beta "
        f"{options.beta}, chosen-NLL weight {options.sft_weight}) on factuality pairs: the "
        "gold answer preferred to the untrained model's own wrong answer (or a plausible wrong "
        "one where it was right)."
    )


METHOD = TrainingMethod(
    name="dpo",
    summary="Preference alignment (DPO, IPO or Cal-DPO + LoRA) on factuality pairs: gold "
    "answer over the model's own wrong one.",
    options=DPOOptions,
    record=PreferencePair,
    answers=lambda o: ((), ()),
    build=build,
    layout=layout,
    prepare=prepare,
    records=records,
    loss=lambda scorer, o: preference_loss(
        scorer, loss_type=o.loss, beta=o.beta, sft_weight=o.sft_weight
    ),
    describe=describe,
    evaluation="preference",
    defaults={"ood_dataset": None, "train_limit": 1000, "eval_limit": 200, "lr": 5e-5},
    hint="the training split has no open questions",
)
