"""Output directories for ``confalign train`` (and the run store): checked before work starts
without side effects, created with a write probe, written whole or not at all."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from confalign.runs import (
    OutputDirError,
    RunWriteError,
    atomic_dir,
    atomic_write,
    check_output_dir,
    make_output_dir,
    writing,
)


def test_new_empty_and_resumable_directories(tmp_path: Path) -> None:
    assert check_output_dir(tmp_path / "a" / "b", marker="manifest.json") is False
    assert not (tmp_path / "a").exists()  # the check creates nothing
    (tmp_path / "empty").mkdir()
    assert check_output_dir(tmp_path / "empty", marker="manifest.json") is False
    (tmp_path / "done").mkdir()
    (tmp_path / "done" / "manifest.json").write_text("{}")
    (tmp_path / "done" / "adapter").mkdir()
    assert check_output_dir(tmp_path / "done", marker="manifest.json") is True
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / ".lock").write_text("")
    assert check_output_dir(tmp_path / "locked", marker="m.json", ignore={".lock"}) is False
    (tmp_path / "killed").mkdir()  # a kill while the folder was being claimed
    (tmp_path / "killed" / ".write-test").write_text("")
    (tmp_path / "killed" / ".dca.json.tmp").write_text('{"mo')
    assert check_output_dir(tmp_path / "killed", marker="dca.json") is False


def test_foreign_content_is_named(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    for name in ("a.txt", "b.txt", "c.txt", "d.txt"):
        (out / name).write_text("mine")
    with pytest.raises(OutputDirError) as info:
        check_output_dir(out, marker="manifest.json", kind="training output directory")
    assert str(info.value) == (
        f"{out} is not a confalign training output directory: it holds files confalign did "
        "not write (a.txt, b.txt, c.txt, ...) and no manifest.json; choose another directory "
        "or empty this one"
    )


def test_a_file_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(OutputDirError, match="exists and is not a directory"):
        check_output_dir(tmp_path / "f", marker="m")
    with pytest.raises(
        OutputDirError, match=f"cannot write to output directory .*: {tmp_path / 'f'} is a file"
    ):
        check_output_dir(tmp_path / "f" / "sub", marker="m")
    with pytest.raises(OutputDirError, match="cannot write to output directory"):
        make_output_dir(tmp_path / "f" / "sub")


def test_unwritable_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # os.access as a non-root user would answer for a read-only folder (root passes anything)
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != tmp_path / "ro")
    (tmp_path / "ro").mkdir()
    with pytest.raises(OutputDirError, match="permission denied"):
        check_output_dir(tmp_path / "ro", marker="m")
    with pytest.raises(OutputDirError, match=rf"permission denied \({tmp_path / 'ro'} is not"):
        check_output_dir(tmp_path / "ro" / "new", marker="m")


def test_make_output_dir_creates_and_leaves_no_probe(tmp_path: Path) -> None:
    out = make_output_dir(tmp_path / "x" / "y")
    assert out.is_dir() and list(out.iterdir()) == []


def test_atomic_write_failure_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    target = tmp_path / "pairs.jsonl"
    atomic_write(target, "old\n")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(RunWriteError) as info:
        atomic_write(target, "new\n" * 1000)
    assert str(info.value) == (
        f"cannot write {target}: No space left on device (the file on disk is unchanged)"
    )
    assert target.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == [
        "pairs.jsonl"
    ]


def test_atomic_dir_replaces_whole_or_not_at_all(tmp_path: Path) -> None:
    adapter = tmp_path / "adapter"
    with atomic_dir(adapter) as tmp:
        (tmp / "weights.bin").write_bytes(b"v1")
    assert (adapter / "weights.bin").read_bytes() == b"v1"
    with pytest.raises(RunWriteError, match="No space left on device"), atomic_dir(adapter) as tmp:
        (tmp / "weights.bin").write_bytes(b"v2-partial")
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp / "weights.bin"))
    assert (adapter / "weights.bin").read_bytes() == b"v1"  # the old folder, untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter"]
    with atomic_dir(adapter) as tmp:
        (tmp / "weights.bin").write_bytes(b"v2")
    assert (adapter / "weights.bin").read_bytes() == b"v2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter"]


def test_writing_names_the_file(tmp_path: Path) -> None:
    def save(path: Any) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    with pytest.raises(RunWriteError) as info, writing(tmp_path / "ckpt"):
        save(tmp_path / "ckpt" / "optimizer.pt")
    assert (
        str(info.value) == f"cannot write {tmp_path / 'ckpt' / 'optimizer.pt'}: Permission denied"
    )


def test_writing_also_converts_what_torch_save_raises(tmp_path: Path) -> None:
    with pytest.raises(RunWriteError) as info, writing(tmp_path / "ckpt", also=(RuntimeError,)):
        raise RuntimeError(
            "[enforce fail at inline_container.cc:595] . PytorchStreamWriter\n failed"
        )
    assert str(info.value) == (
        f"cannot write {tmp_path / 'ckpt'}: [enforce fail at inline_container.cc:595] . "
        "PytorchStreamWriter failed"
    )
    with pytest.raises(KeyError), writing(tmp_path / "ckpt", also=(RuntimeError,)):
        raise KeyError("not a write failure: passes through")
