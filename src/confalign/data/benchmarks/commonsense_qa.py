"""CommonsenseQA (Talmor et al. 2019): ``tau/commonsense_qa``.

Hub schema: ``id`` (str), ``question`` (str), ``question_concept`` (str), ``choices``
{``label``: list of str ``A``..``E``, ``text``: list of str}, ``answerKey`` (str; empty on the
test split). Sizes: train 9,741 / validation 1,221 / test 1,140 (no answers). The concept is
kept in ``meta`` (it has thousands of values, too many to be a subject).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from confalign.data.benchmarks.base import Benchmark, per_row
from confalign.data.example import QAExample
from confalign.data.rows import RowProblem, get, index_of, text, text_list


def convert(row: Mapping[str, Any], number: int, split: str) -> QAExample:
    choices = get(row, "choices")
    if not isinstance(choices, Mapping):
        raise RowProblem("choices", f"expected {{label, text}}, got {type(choices).__name__}")
    labels, texts = text_list(choices, "label"), text_list(choices, "text")
    if len(labels) != len(texts):
        raise RowProblem("choices", f"{len(texts)} texts but {len(labels)} labels")
    concept = str(row.get("question_concept") or "").strip()
    return QAExample(
        id=f"commonsense_qa/{text(row, 'id')}",
        question=text(row, "question"),
        choices=tuple(texts),
        gold=index_of("answerKey", text(row, "answerKey"), labels),
        source="commonsense_qa",
        split=split,
        meta={"question_concept": concept} if concept else {},
    )


SPEC = Benchmark(
    name="commonsense_qa",
    description="CommonsenseQA, 5 options",
    splits=("validation", "train"),
    default_split="validation",
    converter=per_row(convert),
    hub_id="tau/commonsense_qa",
    sizes={"train": 9741, "validation": 1221},
    unlabeled_splits=("test",),
)
