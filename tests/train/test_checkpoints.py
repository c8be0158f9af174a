"""Which checkpoint a run resumes from: the newest sealed one; an unsealed or damaged one is
set aside (renamed, never deleted) with one line naming it; rotation removes only sealed ones.
(That the Trainer's checkpoints get sealed and rotated: ``test_core.py``.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from confalign.runs import seal_dir
from confalign.train.checkpoints import checkpoint_dirs, resume_point, rotate


def make(folder: Path, step: int, *, sealed: bool = True) -> Path:
    path = folder / f"checkpoint-{step}"
    path.mkdir(parents=True)
    (path / "optimizer.pt").write_bytes(bytes([step]) * 100)
    if sealed:
        seal_dir(path)
    return path


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_the_newest_sealed_checkpoint_is_chosen_and_newer_broken_ones_set_aside(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make(tmp_path, 1)
    make(tmp_path, 10)  # newer than 9 by step, though older by name order
    make(tmp_path, 11).joinpath("optimizer.pt").write_bytes(b"cut")  # sealed, then damaged
    make(tmp_path, 12, sealed=False)  # killed while written
    (tmp_path / "checkpoint-12.incomplete-1").mkdir()  # set aside by an earlier rerun
    (tmp_path / ".checkpoint-0.deleting").mkdir()  # a removal a kill interrupted

    assert resume_point(tmp_path, main=False) == str(tmp_path / "checkpoint-10")
    assert capsys.readouterr().err == ""  # another process: it looks, the main one acts
    assert len(names(tmp_path)) == 6

    assert resume_point(tmp_path, main=True) == str(tmp_path / "checkpoint-10")
    assert capsys.readouterr().err.splitlines() == [
        f"{tmp_path / 'checkpoint-12'} is incomplete (no complete.json: it was being written): "
        "set aside as checkpoint-12.incomplete-2; resuming from checkpoint-10",
        f"{tmp_path / 'checkpoint-11'} is incomplete (optimizer.pt differs from complete.json): "
        "set aside as checkpoint-11.incomplete-1; resuming from checkpoint-10",
    ]
    assert names(tmp_path) == [
        "checkpoint-1",
        "checkpoint-10",
        "checkpoint-11.incomplete-1",
        "checkpoint-12.incomplete-1",
        "checkpoint-12.incomplete-2",
    ]
    assert resume_point(tmp_path, main=True) == str(tmp_path / "checkpoint-10")  # idempotent
    assert capsys.readouterr().err == ""


def test_without_a_complete_checkpoint_the_run_starts_afresh(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert resume_point(tmp_path / "absent", main=True) is None
    (tmp_path / "checkpoint-1").mkdir()  # what the issue found: a folder holding a README
    (tmp_path / "checkpoint-1" / "README.md").write_text("# model card")
    assert resume_point(tmp_path, main=True) is None
    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith("set aside as checkpoint-1.incomplete-1; starting from the first step")
    assert (tmp_path / "checkpoint-1.incomplete-1" / "README.md").is_file()


def test_rotation_keeps_the_newest_sealed_ones_and_nothing_else(tmp_path: Path) -> None:
    for step in (1, 2, 3):
        make(tmp_path, step)
    make(tmp_path, 4, sealed=False)
    (tmp_path / "checkpoint-9.incomplete-1").mkdir()
    rotate(tmp_path, None)
    assert len(checkpoint_dirs(tmp_path)) == 4
    rotate(tmp_path, 2)
    assert names(tmp_path) == [
        "checkpoint-2",
        "checkpoint-3",
        "checkpoint-4",
        "checkpoint-9.incomplete-1",
    ]
