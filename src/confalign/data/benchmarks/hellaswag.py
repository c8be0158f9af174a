"""HellaSwag (Zellers et al. 2019), sentence completion: ``Rowan/hellaswag``.

Hub schema: ``ind`` (int), ``activity_label`` (str), ``ctx_a``, ``ctx_b``, ``ctx`` (str),
``endings`` (list of 4 str), ``source_id``, ``split``, ``split_type`` (str), ``label`` (str
``"0"``..``"3"``; empty on the test split). Sizes: train 39,905 / validation 10,042 / test
10,003 (no labels). Text is prepared as lm-evaluation-harness does: the question is
``activity_label + ": " + ctx_a + " " + ctx_b.capitalize()``; in it and in each ending
`` [title]`` becomes ``". "``, other ``[...]`` tags (WikiHow artifacts) are removed, double
spaces collapsed and the ends stripped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from confalign.data.benchmarks.base import Benchmark, per_row
from confalign.data.example import QAExample
from confalign.data.rows import RowProblem, get, text, text_list

_TAG_RE = re.compile(r"\[.*?\]")


def clean(s: str) -> str:
    s = s.strip().replace(" [title]", ". ")
    return _TAG_RE.sub("", s).replace("  ", " ").strip()


def convert(row: Mapping[str, Any], number: int, split: str) -> QAExample:
    label = text(row, "label")
    if label not in ("0", "1", "2", "3"):
        raise RowProblem("label", f"expected '0'..'3', got {label!r}")
    activity = text(row, "activity_label")
    ctx = (
        text(row, "ctx_a", allow_empty=True)
        + " "
        + text(row, "ctx_b", allow_empty=True).capitalize()
    )
    return QAExample(
        id=f"hellaswag/{text(row, 'ind')}",
        question=clean(f"{activity}: {ctx}"),
        choices=tuple(clean(e) for e in text_list(row, "endings")),
        gold=int(label),
        subject=activity,
        source="hellaswag",
        split=split,
        meta={"source_id": str(get(row, "source_id"))} if row.get("source_id") else {},
    )


SPEC = Benchmark(
    name="hellaswag",
    description="HellaSwag, commonsense sentence completion, 4 endings",
    splits=("validation", "train"),
    default_split="validation",
    converter=per_row(convert),
    hub_id="Rowan/hellaswag",
    sizes={"train": 39905, "validation": 10042},
    unlabeled_splits=("test",),
)
