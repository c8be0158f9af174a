"""Faults outside the input files, as a user meets them through ``confalign``: a damaged run
directory (report, compare, analyze, eval resuming), a device that is not there, a write that
fails mid-run. Each is one line naming the file or device, exit code 2, nothing changed."""

from __future__ import annotations

import shutil
import sqlite3
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
import torch

from confalign.cli import _register, app

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evaluate"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runs"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_faults as F
from cli_helpers import assert_user_error, run_app
from eval_doubles import install_loader, patch_pipeline

import confalign.evaluate.pipeline as pipeline


def invoke(*args: str) -> tuple[int, str, str]:
    _register()
    return run_app(app, args)


@pytest.fixture
def doubles(monkeypatch: pytest.MonkeyPatch) -> None:
    install_loader(monkeypatch, {"toy": 12})
    patch_pipeline(monkeypatch)


EVAL = ("eval", "--datasets", "toy", "--limit", "6", "--no-progress")

DAMAGE: dict[str, tuple[Callable[[Path], object], str, str]] = {
    "overwritten": (F.overwrite, "results.sqlite", "is not an SQLite database"),
    "truncated": (lambda r: F.truncate(r, 0.5), "results.sqlite", "rows can still be read"),
    "foreign": (F.foreign, "results.sqlite", "not a confalign results database"),
    "newer-db": (lambda r: F.schema_version(r, "7"), "results.sqlite", "schema version 7"),
    "newer-manifest": (
        lambda r: F.manifest_format(r, "confalign-run/9"),
        "manifest.json",
        "format confalign-run/9",
    ),
    "bad-manifest": (
        lambda r: (r / "manifest.json").write_text("{"),
        "manifest.json",
        "not valid JSON",
    ),
    "no-manifest": (lambda r: (r / "manifest.json").unlink(), "manifest.json", "is missing"),
}


@pytest.mark.parametrize("fault", list(DAMAGE))
def test_report_and_eval_on_a_damaged_run(fault: str, tmp_path: Path, doubles: None) -> None:
    run = tmp_path / "run"
    assert invoke(*EVAL, "-o", str(run))[0] == 0
    damage, name, what = DAMAGE[fault]
    damage(run)
    before = F.snapshot(run)
    for args in (
        ("report", str(run), "-o", str(tmp_path / "rep")),
        ("compare", str(run), str(run), "-o", str(tmp_path / "cmp")),
        ("analyze", "elicitation", str(run), "--dataset", "toy"),
        (*EVAL, "-o", str(run)),  # the same eval again: a resume
    ):
        assert_user_error(*invoke(*args), str(run / name), what)
        assert F.snapshot(run) == before, args  # nothing repaired, rewritten or added


def test_absent_device_is_refused_before_the_model_loads(
    tmp_path: Path, doubles: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    loads: list[str] = []
    monkeypatch.setattr(pipeline, "load_backend", lambda *a: loads.append("loaded"))
    run = tmp_path / "run"
    assert_user_error(
        *invoke(*EVAL, "-o", str(run), "--device", "cuda:9"),
        "device: 'cuda:9' is not available on this machine",
        "available: cpu",
    )
    assert loads == [] and not run.exists()


def test_a_failed_write_is_one_line_and_the_same_command_resumes(
    tmp_path: Path, doubles: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, reference = tmp_path / "run", tmp_path / "reference"
    assert invoke(*EVAL, "-o", str(reference))[0] == 0
    real = sqlite3.connect

    class FullDisk(sqlite3.Connection):
        def execute(self, sql: str, parameters: object = (), /) -> sqlite3.Cursor:
            if sql == "COMMIT":
                raise sqlite3.OperationalError("database or disk is full")
            return super().execute(sql, parameters)

    with monkeypatch.context() as mp:
        mp.setattr(sqlite3, "connect", partial(real, factory=FullDisk))
        assert_user_error(
            *invoke(*EVAL, "-o", str(run), "--batch-size", "2"),
            f"cannot write results to {run / 'results.sqlite'}: database or disk is full",
            "the batch of 2 rows was rolled back, 0 rows are stored",
        )
    code, _, err = invoke(*EVAL, "-o", str(run), "--batch-size", "2")
    assert code == 0, err
    with sqlite3.connect(F.db(run)) as a, sqlite3.connect(F.db(reference)) as b:
        columns = "dataset, example_id, method_key, confidence, correct, probs, config_key"
        query = f"SELECT {columns} FROM results ORDER BY 1, 2, 3"
        assert a.execute(query).fetchall() == b.execute(query).fetchall()
    shutil.rmtree(reference)
