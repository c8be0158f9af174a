"""Whole files and folders: a checksummed cache that a cut-short copy cannot pass for, a sealed
folder that tells complete from incomplete, an append-only log that drops a cut-short line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from confalign.runs import (
    jsonl_appender,
    read_checked,
    seal_dir,
    seal_problem,
    write_checked,
)


def lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.splitlines()


def test_a_checked_file_reads_back_and_an_absent_one_is_none_silently(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_checked(tmp_path / "pairs.jsonl", '{"a": 1}\n{"a": 2}\n')
    assert read_checked(path) == b'{"a": 1}\n{"a": 2}\n'
    assert (tmp_path / "pairs.jsonl.sha256").read_text().endswith("  pairs.jsonl\n")
    assert read_checked(tmp_path / "absent.jsonl") is None
    assert lines(capsys) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pairs.jsonl", "pairs.jsonl.sha256"]


def test_a_jsonl_cut_at_a_line_still_parses_but_is_recomputed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_checked(tmp_path / "pairs.jsonl", '{"a": 1}\n{"a": 2}\n')
    path.write_text('{"a": 1}\n')  # what an in-place write killed after one line leaves
    assert [json.loads(x) for x in path.read_text().splitlines()] == [{"a": 1}]  # it parses
    assert read_checked(path) is None
    assert lines(capsys) == [
        f"{path}: does not match pairs.jsonl.sha256 (cut short or changed); recomputing it"
    ]


def test_a_file_without_its_checksum_is_recomputed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "reference.pt"
    path.write_bytes(b"written by an older confalign")
    assert read_checked(path) is None
    (line,) = lines(capsys)
    assert line.startswith(f"{path}: no reference.pt.sha256") and line.endswith("recomputing it")


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "checkpoint-2"
    (folder / "sub").mkdir(parents=True)
    (folder / "optimizer.pt").write_bytes(b"x" * 1000)
    (folder / "sub" / "rng_state.pth").write_bytes(b"rng")
    return folder


def test_a_sealed_folder_is_complete_until_a_file_changes_or_goes(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    assert seal_problem(folder) == "no complete.json: it was being written"
    seal_dir(folder)
    assert seal_problem(folder) is None
    listed = json.loads((folder / "complete.json").read_text())["files"]
    assert sorted(listed) == ["optimizer.pt", "sub/rng_state.pth"]
    (folder / "optimizer.pt").write_bytes(b"x" * 999 + b"y")  # same size, other bytes
    assert seal_problem(folder) == "optimizer.pt differs from complete.json"
    (folder / "optimizer.pt").unlink()
    assert seal_problem(folder) == "optimizer.pt is missing"
    (folder / "complete.json").write_text('{"files": ')  # cut short
    assert seal_problem(folder) == "complete.json is unreadable"


def test_an_appended_log_drops_a_cut_short_last_line_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "records.jsonl"
    path.write_text('{"k": 1}\n{"k": 2, "p": [0.1, ')  # a kill mid-record
    with jsonl_appender(path) as append:
        append('{"k": 3}')
    assert path.read_text() == '{"k": 1}\n{"k": 3}\n'
    (line,) = lines(capsys)
    assert line.startswith(f"{path}: dropped its last line, cut short by a kill")


def test_an_appended_log_keeps_a_whole_last_line_without_its_newline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "records.jsonl"
    path.write_text('{"k": 1}\n{"k": 2}')  # killed between the record and its newline
    with jsonl_appender(path) as append:
        append('{"k": 3}')
    assert path.read_text() == '{"k": 1}\n{"k": 2}\n{"k": 3}\n'
    assert lines(capsys) == []
