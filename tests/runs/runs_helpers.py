"""Hand-written records and an identity shared by the run-store tests (imported by name)."""

from __future__ import annotations

import numpy as np

from confalign.confidence.base import ConfidenceRecord
from confalign.runs import ResultRow

IDENTITY = {
    "model": {"model": "default", "backend": "hf", "adapter": None, "adapter_hash": None},
    "datasets": [{"name": "mmlu", "size": 20, "limit": 20, "seed": 0}],
    "methods": ["choice"],
    "seed": 0,
}


def make_records() -> list[ConfidenceRecord]:
    return [
        ConfidenceRecord(
            "q1",
            "choice",
            "internal",
            "B",
            True,
            np.float32(0.75),
            probs=(np.float64(0.1), 0.75, 0.1, 0.05),
            extra={"argmax": np.int64(1)},
        ),
        ConfidenceRecord(
            "q1",
            "verbalized",
            "verbalized",
            "B",
            True,
            None,
            format="probability",
            mode="prefill",
            raw_text="Answer: B\nProbability: lots",
            parse_failed=True,
            generated_tokens=7,
            extra={"why": "no number"},
        ),
        ConfidenceRecord("q2", "choice", "internal", "", None, None, probs=None),
    ]


def to_rows(records: list[ConfidenceRecord], dataset: str = "mmlu") -> list[ResultRow]:
    order = {"q1": 0, "q2": 1}
    gold = {"q1": "B", "q2": ""}  # q2 exercises the empty string (CSV: an empty cell)
    return [
        ResultRow.from_record(
            r,
            dataset=dataset,
            example_order=order[r.example_id],
            subject="math",
            config_key="k1",
            gold=gold[r.example_id],
        )
        for r in records
    ]
