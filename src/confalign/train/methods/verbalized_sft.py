"""Supervised verbalized calibration (Lin, Hilton & Evans 2022, the CalibratedMath paper): teach
the model to say, after its own answer, the empirical accuracy of the question's group as a
verbalized probability. The baseline the other methods should beat.

Data: the untrained model's greedy answers to the training questions in the trained format's
prompt (its ``distribution``-mode run), graded by the dataset's matcher. A question's group is
its subject (CalibratedMath: operation/digits; MMLU: the subject) or, with ``--group-by
dataset``, the whole dataset; the target is the share of right answers in the group (answered
questions only), said as the format's nearest level (``score_percent``: round(100 * acc)%).
Questions without an answer are dropped and counted.

Loss: cross-entropy on the value tokens only: -Σ log P(value token | prompt, answer, cue) over
the batch's value tokens, divided by their number (``losses.chosen_nll``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from confalign.backends.packed import TreeItem, common_length
from confalign.confidence.formats import ConfidenceFormat, get_format
from confalign.confidence.prompts import ANSWER_PREFIX, prefill_text
from confalign.train.levels import OwnAnswer, own_answers
from confalign.train.losses import chosen_nll
from confalign.train.methods.base import (
    CALIBRATION_DATA,
    DataContext,
    OneFormat,
    Policy,
    TrainingMethod,
    TrainingRunError,
    option,
    simple_records,
)
from confalign.train.packing import ItemLoss, Objective


@dataclass(frozen=True)
class SFTOptions(OneFormat):
    """The trained format (its nearest level says the target) and how questions are grouped."""

    group_by: Literal["subject", "dataset"] = option(
        "subject", "Target = the accuracy of the question's subject, or of the whole dataset."
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.group_by not in ("subject", "dataset"):
            raise TrainingRunError(f"group-by: must be subject or dataset, got {self.group_by!r}")


@dataclass(frozen=True)
class Target:
    """One training instance: the model's answer and the level it should say after it.
    ``prompt``: the rendered prompt up to ``"Answer:"``; ``accuracy``: its group's."""

    example_id: str
    format: str
    prompt: str
    answer: str
    correct: bool
    group: str
    accuracy: float
    level: str


def nearest_level(fmt: ConfidenceFormat, value: float) -> str:
    """The level of ``fmt`` whose value is closest to ``value`` (the lower one on a tie)."""
    distances = [abs(v - value) for v in fmt.values]
    return fmt.level_strings[distances.index(min(distances))]


def targets(
    own: Iterable[OwnAnswer],
    prompts: Mapping[tuple[str, str], str],
    groups: Mapping[str, str],
) -> tuple[list[Target], Counter[str]]:
    """The targets of ``own`` (``groups``: example id -> group) and the counts (kept,
    dropped_no_answer, groups)."""
    answered = [a for a in own if a.correct is not None and a.answer.strip()]
    right: Counter[str] = Counter(groups[a.example_id] for a in answered if a.correct)
    total: Counter[str] = Counter(groups[a.example_id] for a in answered)
    counts: Counter[str] = Counter(dropped_no_answer=sum(1 for _ in own) - len(answered))
    out = []
    for a in answered:
        g = groups[a.example_id]
        acc = right[g] / total[g]
        level = nearest_level(get_format(a.format), acc)
        prompt = prompts[(a.example_id, a.format)]
        out.append(Target(a.example_id, a.format, prompt, a.answer, bool(a.correct), g, acc, level))
    counts["kept"], counts["groups"] = len(out), len(total)
    return out, +counts


def build(ctx: DataContext, options: SFTOptions) -> tuple[list[Target], Counter[str]]:
    own, prompts = own_answers(ctx, options.formats)
    by_subject = options.group_by == "subject"
    groups = {
        ex.id: (ex.subject if by_subject and ex.subject else ctx.dataset) for ex in ctx.examples
    }
    return targets(own, prompts, groups)


def value_item(tokenizer: Any, t: Target, *, special: bool) -> TreeItem:
    """The prompt, answer and cue as the shared part, the value's tokens as the completion
    (split where the joint encodings of the text with and without the value part)."""
    fmt = get_format(t.format)
    head = t.prompt + prefill_text(t.answer, fmt)[len(ANSWER_PREFIX) :]  # as ``levels`` lays out
    text = head + fmt.continuation(t.level)
    before, whole = tokenizer([head, text], add_special_tokens=special)["input_ids"]
    n = common_length([before, whole])
    return TreeItem(tuple(whole[:n]), (tuple(whole[n:]),))


def layout(policy: Policy, data: Sequence[Target], options: SFTOptions) -> list[TreeItem]:
    return [value_item(policy.tokenizer, t, special=policy.special) for t in data]


def sft_loss(scorer: Any) -> ItemLoss:
    """The method's ``LossFn``: the value tokens' mean negative log-likelihood (a sum over the
    items of their NLL over the batch's value-token count)."""

    def objective(batch: dict[str, Any]) -> Objective:
        items = batch["item"]
        tokens = sum(len(it.completions[0]) for it in items)

        def share(idx: Sequence[int], scores: list[torch.Tensor]) -> torch.Tensor:
            s = torch.stack([x[0] for x in scores])  # (n, 2): sum, tokens
            return chosen_nll(s[:, 0], s[:, 1], tokens)

        def metrics(scores: list[torch.Tensor]) -> dict[str, float]:
            return {"value_nll": float(share(range(len(scores)), scores))}

        return Objective(items, share, metrics)

    return ItemLoss(scorer, objective)


METHOD = TrainingMethod(
    name="verbalized-sft",
    summary="Supervised verbalized calibration (Lin et al. 2022): say the accuracy of the "
    "question's group after the answer; the baseline.",
    options=SFTOptions,
    record=Target,
    build=build,
    layout=layout,
    records=simple_records,
    loss=lambda scorer, o: sft_loss(scorer),
    describe=lambda o: (
        "Supervised verbalized calibration (Lin, Hilton & Evans 2022): cross-entropy on the "
        f"`{o.format}` value after the model's own answer, the target being the accuracy of "
        f"the question's {o.group_by}."
    ),
    evaluation="calibration",
    defaults=CALIBRATION_DATA,
)
