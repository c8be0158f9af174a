"""SimpleQA (Wei et al. 2024, OpenAI), short fact-seeking questions: ``basicv8vc/SimpleQA``, a
copy of OpenAI's ``simple_qa_test_set.csv``.

Hub schema: ``metadata`` (a Python-literal dict in a string, e.g. ``{'topic': 'Art',
'answer_type': 'Person', 'urls': [...]}``), ``problem`` (str), ``answer`` (str). One split,
``test``, 4,326 rows. The topic is the subject; ``answer_type`` is kept in ``meta`` (distractor
pools draw from the same answer type). SimpleQA is graded by a model in its paper; here the
answer is matched by normalised exact match (lenient ``contains`` available), which is stricter.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any

from confalign.data.benchmarks.base import Benchmark, per_row
from confalign.data.example import QAExample
from confalign.data.rows import RowProblem, text


def parse_metadata(value: Any) -> dict[str, Any]:
    """The metadata dict, whether stored as a dict or as its Python-literal text."""
    if value is None or value == "":
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    try:
        parsed = ast.literal_eval(str(value))
    except (ValueError, SyntaxError):
        raise RowProblem("metadata", "not a readable dict literal") from None
    if not isinstance(parsed, dict):
        raise RowProblem("metadata", f"expected a dict, got {type(parsed).__name__}")
    return parsed


def convert(row: Mapping[str, Any], number: int, split: str) -> QAExample:
    meta = parse_metadata(row.get("metadata"))
    kept = {k: str(meta[k]).strip() for k in ("answer_type",) if meta.get(k)}
    return QAExample(
        id=f"simpleqa/{number}",
        question=text(row, "problem"),
        gold=text(row, "answer"),
        subject=str(meta.get("topic") or "").strip(),
        source="simpleqa",
        split=split,
        meta=kept,
    )


SPEC = Benchmark(
    name="simpleqa",
    description="SimpleQA, short fact-seeking open questions",
    splits=("test",),
    default_split="test",
    converter=per_row(convert),
    hub_id="basicv8vc/SimpleQA",
    sizes={"test": 4326},
)
