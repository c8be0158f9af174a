"""Runs written straight into a real ``RunStore`` for the recalibration tests (imported by
name): multiple choice with ``choice`` (option log-scores and gold letters stored, as the
eval writes them) and a verbalized ``distribution`` key, on ids ``<prefix><i>``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from confalign.confidence.base import ConfidenceRecord
from confalign.evaluate.rows import row_from_record
from confalign.runs import ResultRow, RunStore

DATASET = "mmlu_offline"
LETTERS = "ABCD"
SUBJECTS = ("anatomy", "virology")
VERBAL = "verbalized/score_number/distribution"


def identity(seed: int) -> dict:
    return {
        "model": {"model": "default", "backend": "hf", "adapter": None, "adapter_hash": None},
        "datasets": [{"name": DATASET, "seed": seed}],
        "methods": ["choice", "verbalized"],
        "seed": seed,
    }


def records(prefix: str, n: int, seed: int, *, all_correct: bool = False) -> list[tuple]:
    """(record, gold letter) pairs: choice over-confident with signal; Cv noisy."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        g = int(rng.integers(0, 4))
        scores = rng.normal(0.0, 2.0, 4)
        scores[g] += 1.0
        p = np.exp(scores - scores.max())
        p /= p.sum()
        k = g if all_correct else int(np.argmax(p))
        choice = ConfidenceRecord(
            f"{prefix}{i}",
            "choice",
            "internal",
            LETTERS[k],
            k == g,
            float(p[k]),
            probs=tuple(float(x) for x in p),
            extra={"scores": [float(s) for s in scores]},
        )
        right = bool(rng.random() < 0.4)
        levels = rng.dirichlet(np.ones(10) * (0.5 + right))
        cv = float(np.dot(levels, np.arange(10) / 9))
        verbal = ConfidenceRecord(
            f"{prefix}{i}",
            "verbalized",
            "verbalized",
            LETTERS[g] if right else LETTERS[(g + 1) % 4],
            right,
            None if i % 17 == 5 else cv,  # a few failed extractions
            format="score_number",
            mode="distribution",
            probs=tuple(float(x) for x in levels),
            parse_failed=i % 17 == 5,
            extra={"answer_ci": float(p[g])},
        )
        out += [(choice, LETTERS[g]), (verbal, LETTERS[g])]
    return out


def make_run(
    run_dir: Path, prefix: str, n: int = 200, seed: int = 0, *, all_correct: bool = False
) -> Path:
    """A complete run of ``n`` questions ``<prefix>0..`` in ``run_dir``."""
    rows = [
        row_from_record(
            r,
            dataset=DATASET,
            example_order=int(r.example_id[len(prefix) :]),
            subject=SUBJECTS[int(r.example_id[len(prefix) :]) % 2],
            config_key="test",
            gold=gold,
        )
        for r, gold in records(prefix, n, seed, all_correct=all_correct)
    ]
    with RunStore.create(run_dir, identity(seed)) as store:
        store.write(rows)
        store.finish("complete")
    return run_dir


def stored(run_dir: Path, key: str) -> dict[str, ResultRow]:
    """The rows of one method key by example id."""
    with RunStore.open(run_dir) as store:
        return {r.example_id: r for r in store.rows(DATASET, key)}
