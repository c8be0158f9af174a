"""Runs written straight into a real ``RunStore`` for the report tests (imported by name).

Each method gets its own confidence distribution, so a report that routed one method's arrays
to another's row would show different numbers. The gold option of every question is known here
(``gold``) and stored on every row as ``ResultRow.gold`` (the letter, as the pipeline writes it)
only when asked.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from confalign.confidence.base import ConfidenceRecord
from confalign.evaluate.rows import row_from_record
from confalign.runs import RunStore

DATASET = "mmlu_offline"
SUBJECTS = ("anatomy", "astronomy", "virology")
LETTERS = "ABCD"
N = 60
LEVELS = (0.9, 0.7, 0.5, 0.3, 0.1)  # score_letter A..E


def identity(seed: int) -> dict:
    return {
        "model": {"model": "default", "backend": "hf", "adapter": None, "adapter_hash": None},
        "datasets": [{"name": DATASET, "size": N, "limit": N, "seed": seed}],
        "methods": ["choice", "continuation_sum", "verbalized"],
        "seed": seed,
    }


def gold(n: int = N, seed: int = 0) -> list[int]:
    return [int(g) for g in np.random.default_rng(1000 + seed).integers(0, 4, n)]


def _option_record(
    i: int, method: str, rng: np.random.Generator, sharp: float, g: int
) -> ConfidenceRecord:
    logits = rng.normal(0.0, sharp, 4)
    logits[g] += 0.8  # some signal: the gold option is favoured
    p = np.exp(logits) / np.exp(logits).sum()
    k = int(np.argmax(p))
    return ConfidenceRecord(
        f"q{i}", method, "internal", LETTERS[k], k == g, float(p[k]), probs=tuple(p)
    )


def _prefill_record(i: int, rng: np.random.Generator, g: int, shift: float) -> ConfidenceRecord:
    answer = g if rng.random() < 0.4 else int(rng.integers(0, 4))
    ci = float(rng.uniform(0.25, 0.9))
    extra = {"answer_ci": ci}
    if i % 10 == 3:  # a parse failure: no confidence
        return ConfidenceRecord(
            f"q{i}",
            "verbalized",
            "verbalized",
            LETTERS[answer],
            answer == g,
            None,
            format="probability",
            mode="prefill",
            raw_text="Probability: lots",
            parse_failed=True,
            extra=extra,
        )
    value = float(np.clip(round(100 * (ci + shift + rng.normal(0, 0.15))) / 100, 0, 1))
    return ConfidenceRecord(
        f"q{i}",
        "verbalized",
        "verbalized",
        LETTERS[answer],
        answer == g,
        value,
        format="probability",
        mode="prefill",
        raw_text=f"Probability: {value:.0%}",
        ambiguous=i % 15 == 4,
        extra=extra,
    )


def _distribution_record(i: int, rng: np.random.Generator, g: int) -> ConfidenceRecord:
    answer = g if rng.random() < 0.3 else int(rng.integers(0, 4))
    p = rng.dirichlet(np.ones(5))
    cv = float(np.dot(p, LEVELS))
    extra = {"answer_ci": float(rng.uniform(0.2, 0.6)), "argmax_level": "ABCDE"[int(np.argmax(p))]}
    return ConfidenceRecord(
        f"q{i}",
        "verbalized",
        "verbalized",
        LETTERS[answer],
        answer == g,
        cv,
        format="score_letter",
        mode="distribution",
        probs=tuple(p),
        extra=extra,
    )


def make_records(seed: int = 0, *, shift: float = 0.0) -> list[ConfidenceRecord]:
    """Records of four method keys for N questions; ``shift`` moves verbalized confidence."""
    rng = np.random.default_rng(seed)
    golds = gold(seed=0)
    records = []
    for i, g in enumerate(golds):
        records.append(_option_record(i, "choice", rng, 1.0, g))
        if i == 5:  # a failed internal extraction
            records.append(
                ConfidenceRecord(
                    f"q{i}",
                    "continuation_sum",
                    "internal",
                    "",
                    None,
                    None,
                    extra={"error": "no finite score"},
                )
            )
        else:
            records.append(_option_record(i, "continuation_sum", rng, 3.0, g))
        records.append(_prefill_record(i, rng, g, shift))
        records.append(_distribution_record(i, rng, g))
    return records


def write_run(
    run_dir: Path, records: list[ConfidenceRecord], seed: int = 0, *, store_gold: bool = True
) -> Path:
    """Store ``records`` as a complete run in ``run_dir`` (the real run store); with
    ``store_gold`` every row carries its question's gold letter, as the pipeline writes it."""
    golds = gold(seed=0)
    rows = [
        row_from_record(
            r,
            dataset=DATASET,
            example_order=int(r.example_id[1:]),
            subject=SUBJECTS[int(r.example_id[1:]) % len(SUBJECTS)],
            config_key="test",
            gold=LETTERS[golds[int(r.example_id[1:])]] if store_gold else "",
        )
        for r in records
    ]
    with RunStore.create(run_dir, identity(seed)) as store:
        store.write(rows)
        store.finish("complete")
    return run_dir


def make_run(run_dir: Path, seed: int = 0, *, shift: float = 0.0, store_gold: bool = True) -> Path:
    return write_run(run_dir, make_records(seed, shift=shift), seed, store_gold=store_gold)
