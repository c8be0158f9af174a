"""The run store's grading parts: the stored rule, schema-1 files, regrading, judge verdicts."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest
from runs_helpers import IDENTITY, make_records, to_rows

from confalign.runs import RunStore, RunStoreError


@pytest.fixture
def run(tmp_path: Path) -> Path:
    run_dir = tmp_path / "run"
    rows = [dataclasses.replace(r, rule="letter") for r in to_rows(make_records())]
    with RunStore.create(run_dir, IDENTITY) as s:
        s.write(rows)
    return run_dir


def _as_version_1(run_dir: Path) -> None:
    """What a confalign from before graders wrote: no rule column, no verdicts table."""
    with sqlite3.connect(run_dir / "results.sqlite") as conn:
        conn.execute("ALTER TABLE results DROP COLUMN rule")
        conn.execute("DROP TABLE verdicts")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    conn.close()


def _version(run_dir: Path) -> str:
    with sqlite3.connect(run_dir / "results.sqlite") as conn:
        found = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
    conn.close()
    return found


def test_rule_is_stored_with_each_row(run: Path) -> None:
    with RunStore.open(run) as s:
        assert [r.rule for r in s.rows()] == ["letter", "letter", "letter"]


def test_a_version_1_run_opens_read_only_unchanged_and_migrates_when_written(run: Path) -> None:
    _as_version_1(run)
    with RunStore.open(run) as s:
        rows = s.rows()
        assert [r.rule for r in rows] == ["", "", ""] and s.verdicts("j") == {}
    assert _version(run) == "1"  # reading changed nothing
    with RunStore.append(run) as s:
        s.regrade([dataclasses.replace(rows[0], rule="letter")], grading={"grader": "contains"})
    assert _version(run) == "2"
    with RunStore.open(run) as s:
        assert [r.rule for r in s.rows()] == ["letter", "", ""]
        assert [r.correct for r in s.rows()] == [r.correct for r in rows]


def test_regrade_updates_verdict_rule_and_extra_of_the_named_rows(run: Path) -> None:
    with RunStore.open(run) as s:
        before = s.rows()
    changed = dataclasses.replace(before[0], correct=False, rule="judge", extra={"judge": "B"})
    with RunStore.append(run) as s:
        assert s.regrade([changed], grading={"grader": "judge"}) == 1
    with RunStore.open(run) as s:
        after = s.rows()
    assert (after[0].correct, after[0].rule, dict(after[0].extra)) == (
        False,
        "judge",
        {"judge": "B"},
    )
    assert after[1:] == before[1:]
    with sqlite3.connect(run / "results.sqlite") as conn:
        meta = conn.execute("SELECT value FROM meta WHERE key = 'grading'").fetchone()[0]
    conn.close()
    assert meta == '{"grader": "judge"}'


def test_verdicts_are_kept_per_judge(run: Path) -> None:
    with RunStore.append(run) as s:
        s.store_verdicts("judge-1", {"item-a": ("A", "A"), "item-b": ("C", "C: unsure")})
        s.store_verdicts("judge-2", {"item-a": ("B", "B")})
    with RunStore.open(run) as s:
        assert s.verdicts("judge-1") == {"item-a": ("A", "A"), "item-b": ("C", "C: unsure")}
        assert s.verdicts("judge-2") == {"item-a": ("B", "B")}
        with pytest.raises(RunStoreError, match="read-only"):
            s.store_verdicts("judge-1", {})
