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
from typing import Any

from confalign.train.dca_data import read_pairs
from confalign.train.methods.base import (
    DataContext,
    TrainingMethod,
)
from confalign.train.preference import (
    PreferenceOptions,
    options_loss,
    pair_layout,
    prepare_reference,
    records,
)
from confalign.train.preference_data import (
    FILE,
    OwnAnswer,
    PreferencePair,
    build_factual_pairs,
)


@dataclass(frozen=True)
class DPOOptions(PreferenceOptions):
    """The alignment's own settings (module docstring): the preference options, DPO's loss
    by default."""


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
    layout=pair_layout,
    prepare=prepare_reference,
    records=records,
    loss=options_loss,
    describe=describe,
    evaluation="preference",
    defaults={"ood_dataset": None, "train_limit": 1000, "eval_limit": 200, "lr": 5e-5},
    hint="the training split has no open questions",
)
