"""PIQA (Bisk et al. 2020), physical commonsense: ``baber/piqa``, the Parquet copy that
lm-evaluation-harness loads (the original ``ybisk/piqa`` is a loading script, which
``datasets`` >= 4 no longer runs).

Hub schema: ``goal`` (str), ``sol1``, ``sol2`` (str), ``label`` (int 0/1). Splits: train
16,113 / validation 1,838; the test labels are not public. Rows have no id: ``piqa/<split>/<row>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from confalign.data.benchmarks.base import Benchmark, per_row
from confalign.data.example import QAExample
from confalign.data.rows import RowProblem, get, text


def convert(row: Mapping[str, Any], number: int, split: str) -> QAExample:
    label = get(row, "label")
    if isinstance(label, bool) or label not in (0, 1, "0", "1"):
        raise RowProblem("label", f"expected 0 or 1, got {label!r}")
    return QAExample(
        id=f"piqa/{split}/{number}",
        question=text(row, "goal"),
        choices=(text(row, "sol1"), text(row, "sol2")),
        gold=int(label),
        source="piqa",
        split=split,
    )


SPEC = Benchmark(
    name="piqa",
    description="PIQA, physical commonsense, 2 solutions",
    splits=("validation", "train"),
    default_split="validation",
    converter=per_row(convert),
    hub_id="baber/piqa",
    sizes={"train": 16113, "validation": 1838},
    unlabeled_splits=("test",),
)
