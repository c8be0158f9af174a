"""Hand-written rows and an identity shared by the run-store tests (imported by name).

The run store depends on nothing of confalign, so its tests build plain values (numpy scalars
included, as extractors produce them), not ``ConfidenceRecord``s.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from confalign.runs import ResultRow

IDENTITY = {
    "model": {"model": "default", "backend": "hf", "adapter": None, "adapter_hash": None},
    "datasets": [{"name": "mmlu", "size": 20, "limit": 20, "seed": 0}],
    "methods": ["choice"],
    "seed": 0,
}


def make_records() -> list[dict[str, Any]]:
    """Three results as an extractor gives them: numpy values, a failed parse, no prediction."""
    return [
        dict(
            example_id="q1",
            method_key="choice",
            method="choice",
            kind="internal",
            prediction="B",
            correct=True,
            confidence=np.float32(0.75),
            probs=(np.float64(0.1), 0.75, 0.1, 0.05),
            extra={"argmax": np.int64(1)},
        ),
        dict(
            example_id="q1",
            method_key="verbalized/probability/prefill",
            method="verbalized",
            kind="verbalized",
            prediction="B",
            correct=True,
            confidence=None,
            format="probability",
            mode="prefill",
            raw_text="Answer: B\nProbability: lots",
            parse_failed=True,
            generated_tokens=7,
            extra={"why": "no number"},
        ),
        dict(
            example_id="q2",
            method_key="choice",
            method="choice",
            kind="internal",
            prediction="",
            correct=None,
            confidence=float("nan"),
            probs=None,
        ),
    ]


def to_rows(records: list[dict[str, Any]], dataset: str = "mmlu") -> list[ResultRow]:
    order = {"q1": np.int64(0), "q2": 1}
    gold = {"q1": "B", "q2": ""}  # q2 exercises the empty string (CSV: an empty cell)
    return [
        ResultRow.of(
            **r,
            dataset=dataset,
            example_order=order[r["example_id"]],
            subject="math",
            config_key="k1",
            gold=gold[r["example_id"]],
        )
        for r in records
    ]
