"""A write that fails mid-run rolls its batch back and names the path; rerunning the same eval
after the fault is fixed resumes with nothing lost and nothing duplicated, and ends with an
uninterrupted run's rows and metrics.

Faults are made, never by filling the real disk: a patched SQLite connection whose COMMIT fails
as on a full disk, a process whose files may not grow past a size (``RLIMIT_FSIZE``, so SQLite
meets a real failed ``write``), the run directory removed under the running eval, and a manifest
that cannot be replaced (permission revoked) at the end.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from eval_doubles import EchoVerbalized, FakeBackend, HashExtractor, install_loader, subprocess_env

from confalign.evaluate import EvalConfig, run_eval
from confalign.report import ReportOptions
from confalign.report.write import build_report
from confalign.runs import RunStore, RunWriteError

N, BATCH = 12, 2  # 8 multiple-choice + 12 verbalized rows, in 4 + 6 batches (hash ones first)
TOTAL = 8 + 12
DOUBLES = Path(__file__).with_name("eval_doubles.py")


@pytest.fixture(autouse=True)
def toy_data(monkeypatch: pytest.MonkeyPatch) -> None:
    install_loader(monkeypatch, {"toy": N})


def evaluate(run: Path, hook: Any = None) -> HashExtractor:
    """One ``run_eval`` of the toy data into ``run``; returns its hash extractor (its batches)."""
    hashx = HashExtractor(hook=hook)
    config = EvalConfig(datasets=("toy",), output=run, batch_size=BATCH)
    run_eval(config, progress=False, backend=FakeBackend(), extractors=[hashx, EchoVerbalized()])
    return hashx


def rows(run: Path) -> list[dict[str, Any]]:
    with RunStore.open(run) as store:
        return [r.to_dict() for r in store.rows()]


def metrics(run: Path) -> dict[str, Any]:
    return build_report(run, ReportOptions(n_bootstrap=20, seed=3)).data["datasets"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], dict]:
    """An uninterrupted run's rows and metrics."""
    run = tmp_path_factory.mktemp("reference") / "run"
    with pytest.MonkeyPatch.context() as mp:
        install_loader(mp, {"toy": N})
        evaluate(run)
    return rows(run), metrics(run)


def assert_resumes_to_reference(run: Path, reference: tuple[list[dict], dict]) -> None:
    got = rows(run)
    keys = [(r["dataset"], r["example_id"], r["method_key"]) for r in got]
    assert len(keys) == len(set(keys)) == TOTAL  # nothing duplicated, nothing missing
    assert got == reference[0]
    assert metrics(run) == reference[1]
    with RunStore.open(run) as store:
        assert store.manifest["status"] == "complete"


def failing_commits(monkeypatch: pytest.MonkeyPatch, at: int, message: str) -> None:
    """The writer's connection fails its ``at``-th COMMIT with ``message`` (as SQLite says it
    when the disk is full), leaving the transaction open for the store to roll back."""
    real = sqlite3.connect
    seen = {"commits": 0}

    class Connection(sqlite3.Connection):
        def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
            if sql == "COMMIT":
                seen["commits"] += 1
                if seen["commits"] == at:
                    raise sqlite3.OperationalError(message)
            return super().execute(sql, parameters)

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        return real(*args, factory=Connection, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", connect)


def test_disk_full_rolls_back_the_batch_and_a_rerun_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference: tuple[list[dict], dict]
) -> None:
    run = tmp_path / "run"
    with monkeypatch.context() as mp:
        failing_commits(mp, at=3, message="database or disk is full")
        with pytest.raises(RunWriteError) as info:
            evaluate(run)
    message = str(info.value)
    assert message == (
        f"cannot write results to {run / 'results.sqlite'}: database or disk is full; the batch "
        "of 2 rows was rolled back, 4 rows are stored; fix the cause and rerun the same command "
        "to resume"
    )
    stored = rows(run)  # exactly the two committed batches, nothing of the third
    assert len(stored) == 2 * BATCH
    assert stored == [r for r in reference[0] if r in stored]
    with RunStore.open(run) as store:
        assert store.manifest["status"] == "failed"

    hashx = evaluate(run)  # the fault is fixed: the same command again
    assert len(hashx.batches) == 4 - 2  # only what was not stored is computed
    assert_resumes_to_reference(run, reference)


def test_size_limited_file_system_in_a_real_process(tmp_path: Path) -> None:
    """SQLite's own failure path, through ``confalign eval``: ``write()`` fails with EFBIG past
    the size limit, mid-transaction; the reference is the same command, uninterrupted."""

    def eval_cli(run: Path, **env: str) -> subprocess.CompletedProcess[str]:
        args = ["eval", "--datasets", "toy", "-o", str(run), "--batch-size", str(BATCH)]
        cmd = [sys.executable, str(DOUBLES), "cli", str(N), "0", "--", *args, "--no-progress"]
        return subprocess.run(
            cmd, env={**subprocess_env(), **env}, capture_output=True, text=True, timeout=120
        )

    assert eval_cli(tmp_path / "reference").returncode == 0
    reference = rows(tmp_path / "reference"), metrics(tmp_path / "reference")
    run = tmp_path / "run"
    failed = eval_cli(run, CONFALIGN_TEST_FSIZE=str(128 * 1024))
    assert failed.returncode == 2, failed.stderr
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in failed.stderr, failed.stderr
    assert lines[0].startswith(f"error: cannot write results to {run / 'results.sqlite'}: ")
    assert "rolled back" in lines[0] and "rerun the same command to resume" in lines[0]
    stored = rows(run)
    assert 0 < len(stored) < TOTAL and len(stored) % BATCH == 0  # whole batches only
    assert stored == [r for r in reference[0] if r in stored]

    done = eval_cli(run)
    assert done.returncode == 0, done.stderr
    assert_resumes_to_reference(run, reference)


def test_run_directory_removed_mid_run(tmp_path: Path, reference: tuple[list[dict], dict]) -> None:
    """SQLite would go on writing into the removed files; the store notices and stops."""
    run = tmp_path / "run"

    def remove_at_third_batch(batch: int) -> None:
        if batch == 3:
            shutil.rmtree(run)

    with pytest.raises(RunWriteError) as info:
        evaluate(run, hook=remove_at_third_batch)
    assert str(info.value).startswith(f"cannot write results to {run / 'results.sqlite'}: ")
    assert "removed or replaced while the run was writing" in str(info.value)
    assert not run.exists()
    evaluate(run)
    assert_resumes_to_reference(run, reference)


def test_manifest_unwritable_at_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference: tuple[list[dict], dict]
) -> None:
    """Permission revoked after the run started: every row is stored, the final manifest cannot
    be written; the error names it, and a rerun finishes without recomputing anything."""
    run = tmp_path / "run"
    manifest = run / "manifest.json"
    real_replace = os.replace
    revoked = {"now": False}

    def replace(src: Any, dst: Any, **kw: Any) -> None:
        if revoked["now"] and Path(dst) == manifest:
            raise PermissionError(errno.EACCES, "Permission denied", str(src))
        real_replace(src, dst, **kw)

    def revoke(batch: int) -> None:
        revoked["now"] = True

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(RunWriteError) as info:
        evaluate(run, hook=revoke)
    assert (
        str(info.value)
        == f"cannot write {manifest}: Permission denied (the file on disk is unchanged)"
    )
    before = manifest.read_text()
    assert '"status": "running"' in before  # the old manifest, whole
    assert not list(run.glob(".*.tmp"))  # no temporary left behind
    assert len(rows(run)) == TOTAL

    revoked["now"] = False
    hashx = evaluate(run)
    assert hashx.batches == []  # nothing recomputed
    assert_resumes_to_reference(run, reference)
