"""LogiQA (Liu et al. 2020), logical reasoning over a passage: ``lighteval/logiqa_harness``,
config ``logiqa``, a Parquet copy of ``EleutherAI/logiqa`` (which lm-evaluation-harness names;
it is a loading script that ``datasets`` >= 4 no longer runs).

Schema (both repositories): ``context`` (the passage), ``question`` (str), ``options`` (list of
4 str), ``label`` (str ``a``..``d``). Splits: train 7,376 / validation 651 / test 651. The
question text here is the passage, a blank line, then the question. Rows have no id:
``logiqa/<split>/<row>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from confalign.data.benchmarks.base import Benchmark, per_row
from confalign.data.example import QAExample
from confalign.data.rows import RowProblem, text, text_list


def convert(row: Mapping[str, Any], number: int, split: str) -> QAExample:
    label = text(row, "label").lower()
    if label not in ("a", "b", "c", "d"):
        raise RowProblem("label", f"expected a..d, got {label!r}")
    return QAExample(
        id=f"logiqa/{split}/{number}",
        question=f"{text(row, 'context')}\n\n{text(row, 'question')}",
        choices=tuple(text_list(row, "options")),
        gold="abcd".index(label),
        source="logiqa",
        split=split,
    )


SPEC = Benchmark(
    name="logiqa",
    description="LogiQA, logical reasoning over a passage, 4 options",
    splits=("test", "validation", "train"),
    default_split="test",
    converter=per_row(convert),
    hub_id="lighteval/logiqa_harness",
    config="logiqa",
    sizes={"train": 7376, "validation": 651, "test": 651},
)
