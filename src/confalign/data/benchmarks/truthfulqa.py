"""TruthfulQA (Lin et al. 2022), multiple-choice MC1: ``truthfulqa/truthful_qa``, config
``multiple_choice``.

Hub schema: ``question`` (str), ``mc1_targets`` {``choices``: list of str, ``labels``: list of
int, exactly one 1}, ``mc2_targets`` (same shape, several true). One split, ``validation``,
817 rows. On the Hub the true MC1 answer is always listed first, so the options are put in a
fixed per-question order (a permutation seeded by a SHA-256 of the question), which puts the
answer at every letter about equally often and is the same on every run. Rows have no id:
``truthfulqa/<row>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from confalign.data._stable import stable_rng
from confalign.data.benchmarks.base import Benchmark, per_row
from confalign.data.example import QAExample
from confalign.data.rows import RowProblem, get, text, text_list


def convert(row: Mapping[str, Any], number: int, split: str) -> QAExample:
    targets = get(row, "mc1_targets")
    if not isinstance(targets, Mapping):
        raise RowProblem(
            "mc1_targets", f"expected {{choices, labels}}, got {type(targets).__name__}"
        )
    choices = text_list(targets, "choices")
    labels = list(get(targets, "labels"))
    if len(labels) != len(choices) or labels.count(1) != 1 or set(labels) - {0, 1}:
        raise RowProblem("mc1_targets", "labels must mark exactly one of the choices with 1")
    question = text(row, "question")
    order = list(range(len(choices)))
    stable_rng("truthfulqa", question).shuffle(order)
    return QAExample(
        id=f"truthfulqa/{number}",
        question=question,
        choices=tuple(choices[i] for i in order),
        gold=order.index(labels.index(1)),
        source="truthfulqa",
        split=split,
    )


SPEC = Benchmark(
    name="truthfulqa",
    description="TruthfulQA MC1, one true answer among 2-13 options",
    splits=("validation",),
    default_split="validation",
    converter=per_row(convert),
    hub_id="truthfulqa/truthful_qa",
    config="multiple_choice",
    sizes={"validation": 817},
)
