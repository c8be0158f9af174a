"""ARC, the AI2 Reasoning Challenge (Clark et al. 2018): ``allenai/ai2_arc``, configs
``ARC-Easy`` and ``ARC-Challenge``.

Hub schema: ``id`` (str), ``question`` (str), ``choices`` {``text``: list of str, ``label``:
list of str}, ``answerKey`` (str, one of the labels). Labels are ``A``..``E`` on most rows and
``1``..``5`` on a few; 3 to 5 options. Sizes: Easy train 2,251 / validation 570 / test 2,376;
Challenge train 1,119 / validation 299 / test 1,172.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from confalign.data.benchmarks.base import Benchmark, per_row
from confalign.data.example import QAExample
from confalign.data.rows import RowProblem, get, index_of, text, text_list

HUB_ID = "allenai/ai2_arc"


def _convert(name: str, row: Mapping[str, Any], number: int, split: str) -> QAExample:
    choices = get(row, "choices")
    if not isinstance(choices, Mapping):
        raise RowProblem("choices", f"expected {{text, label}}, got {type(choices).__name__}")
    texts, labels = text_list(choices, "text"), text_list(choices, "label")
    if len(texts) != len(labels):
        raise RowProblem("choices", f"{len(texts)} texts but {len(labels)} labels")
    return QAExample(
        id=f"{name}/{text(row, 'id')}",
        question=text(row, "question"),
        choices=tuple(texts),
        gold=index_of("answerKey", text(row, "answerKey"), labels),
        source=name,
        split=split,
    )


def convert_easy(row: Mapping[str, Any], number: int, split: str) -> QAExample:
    return _convert("arc_easy", row, number, split)


def convert_challenge(row: Mapping[str, Any], number: int, split: str) -> QAExample:
    return _convert("arc_challenge", row, number, split)


EASY_SPEC = Benchmark(
    name="arc_easy",
    description="ARC-Easy, grade-school science, 3-5 options",
    splits=("test", "validation", "train"),
    default_split="test",
    converter=per_row(convert_easy),
    hub_id=HUB_ID,
    config="ARC-Easy",
    sizes={"train": 2251, "validation": 570, "test": 2376},
)
CHALLENGE_SPEC = Benchmark(
    name="arc_challenge",
    description="ARC-Challenge, harder grade-school science, 3-5 options",
    splits=("test", "validation", "train"),
    default_split="test",
    converter=per_row(convert_challenge),
    hub_id=HUB_ID,
    config="ARC-Challenge",
    sizes={"train": 1119, "validation": 299, "test": 1172},
)
