"""MedMCQA (Pal et al. 2022), medical entrance exams: ``openlifescienceai/medmcqa``.

Hub schema: ``id`` (str), ``question`` (str), ``opa``, ``opb``, ``opc``, ``opd`` (str),
``cop`` (ClassLabel int 0..3, ``a``..``d``; -1 on the test split), ``choice_type``
(``single``/``multi``), ``exp`` (explanation), ``subject_name``, ``topic_name`` (str). Sizes:
train 182,822 / validation 4,183 / test 6,150 (no answers); ``validation`` is the evaluation
split, as in lm-evaluation-harness. ``subject_name`` is the subject (21 medical subjects).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from confalign.data.benchmarks.base import Benchmark, per_row
from confalign.data.example import QAExample
from confalign.data.rows import RowProblem, get, text


def convert(row: Mapping[str, Any], number: int, split: str) -> QAExample:
    cop = get(row, "cop")
    if isinstance(cop, bool) or cop not in (0, 1, 2, 3):
        raise RowProblem("cop", f"expected an index 0..3, got {cop!r}")
    meta = {k: str(row[k]).strip() for k in ("choice_type", "topic_name") if row.get(k)}
    return QAExample(
        id=f"medmcqa/{text(row, 'id')}",
        question=text(row, "question"),
        choices=tuple(text(row, k) for k in ("opa", "opb", "opc", "opd")),
        gold=int(cop),
        subject=str(row.get("subject_name") or "").strip(),
        source="medmcqa",
        split=split,
        meta=meta,
    )


SPEC = Benchmark(
    name="medmcqa",
    description="MedMCQA, medical entrance exam questions, 4 options",
    splits=("validation", "train"),
    default_split="validation",
    converter=per_row(convert),
    hub_id="openlifescienceai/medmcqa",
    sizes={"train": 182822, "validation": 4183},
    unlabeled_splits=("test",),
)
