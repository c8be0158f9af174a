"""The report's grading section: which grader graded the run, how many verdicts each rule gave,
and a few seeded random examples of each (rule, verdict), so a reader can check the grading by
eye (STYLE.md item 13). Pure functions of the stored rows and the manifest."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from confalign.report import tables as T
from confalign.runs import LEGACY_GRADING, ResultRow

# How runs stored before graders were named were graded, as the report says it.
LEGACY = {**LEGACY_GRADING, "note": "stored before graders were named: normalised exact match"}
EXAMPLES_PER_CELL = 3
_MAX_TEXT = 160


def grading_section(
    rows_by_dataset: Mapping[str, Sequence[ResultRow]],
    manifest: Mapping[str, Any],
    *,
    seed: int = 0,
    per_cell: int = EXAMPLES_PER_CELL,
) -> dict[str, Any]:
    """``grader`` (the manifest's ``grading``), and per dataset the ``counts`` of records per
    (rule, verdict) and up to ``per_cell`` distinct (answer, gold) ``examples`` of each."""
    datasets = {}
    for dataset, rows in rows_by_dataset.items():
        cells: dict[tuple[str, str], list[ResultRow]] = defaultdict(list)
        for row in rows:
            cells[(rule_of(row), verdict_of(row))].append(row)
        counts = Counter({cell: len(found) for cell, found in cells.items()})
        datasets[dataset] = {
            "counts": [
                {"rule": rule, "verdict": verdict, "n": n}
                for (rule, verdict), n in sorted(counts.items())
            ],
            "examples": [
                example
                for cell in sorted(cells)
                for example in _sample(cells[cell], cell, seed=seed, k=per_cell)
            ],
        }
    return {"grader": dict(manifest.get("grading") or LEGACY), "datasets": datasets}


def rule_of(row: ResultRow) -> str:
    """The rule that decided ``row`` ("unrecorded" in a run stored before rules were)."""
    if row.correct is None:
        return row.rule or "none"
    return row.rule or "unrecorded"


def verdict_of(row: ResultRow) -> str:
    """``right``, ``wrong``, ``wrong (not attempted)`` (a judge's third grade), ``no answer``."""
    if row.correct is None:
        return "no answer"
    if row.correct:
        return "right"
    judged = row.extra.get("judge")
    if isinstance(judged, Mapping) and judged.get("grade") == "NOT_ATTEMPTED":
        return "wrong (not attempted)"
    return "wrong"


def _sample(
    rows: Sequence[ResultRow], cell: tuple[str, str], *, seed: int, k: int
) -> list[dict[str, Any]]:
    """Up to ``k`` distinct (example, answer) pairs of one cell, drawn with ``seed``."""
    distinct = {(r.example_id, r.prediction): r for r in rows}
    chosen = sorted(distinct)
    random.Random(f"{seed}:{cell}").shuffle(chosen)
    return [
        {
            "rule": cell[0],
            "verdict": cell[1],
            "example_id": example_id,
            "method_key": distinct[(example_id, answer)].method_key,
            "answer": answer,
            "gold": distinct[(example_id, answer)].gold,
        }
        for example_id, answer in chosen[:k]
    ]


def describe_grader(grader: Mapping[str, Any]) -> str:
    """``judge (model X on hf)``, ``contains``, ``exact (stored before ...)``."""
    text = str(grader.get("grader", "—"))
    if grader.get("judge_model"):
        text += f" (judge model {grader['judge_model']} on {grader.get('judge_backend', '—')})"
    if grader.get("note"):
        text += f" ({grader['note']})"
    if grader.get("regraded_at"):
        text += f"; regraded {grader['regraded_at']}"
    return text


def grading_tables(section: Mapping[str, Any]) -> list[T.Table]:
    """The counts table and the examples table of every dataset."""
    counts = T.Table("Verdicts per rule", ["dataset", "rule", "verdict", "records"])
    examples = T.Table("Examples of each rule and verdict", ["rule", "verdict", "answer", "gold"])
    for dataset, found in section["datasets"].items():
        counts.rows += [[dataset, c["rule"], c["verdict"], str(c["n"])] for c in found["counts"]]
        examples.rows += [
            [e["rule"], e["verdict"], _short(e["answer"]), _short(e["gold"])]
            for e in found["examples"]
        ]
    counts.note = f"Grader: {describe_grader(section['grader'])}."
    examples.note = "Drawn at random (seeded) among the distinct answers of each cell."
    return [counts, examples]


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"
