"""A damaged run directory is refused before anything is read into a report or written: one
``DamagedRunError`` naming the file and what is wrong (with how many rows can still be read),
for readers and writers alike, and nothing in the directory changes."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
import run_faults as F

from confalign.runs import DamagedRunError, RunStore, RunStoreError


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return F.make_run(tmp_path_factory.mktemp("pristine") / "run")


@pytest.fixture
def run(pristine: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(pristine, tmp_path / "run"))


def refused(run: Path, *fragments: str) -> str:
    """Both ways in (read for a report, resume for an eval) raise one line with ``fragments``
    and leave every byte of the directory as it was; returns the message."""
    before = F.snapshot(run)
    messages = []
    for opening in (lambda: RunStore.open(run), lambda: RunStore.create(run, F.IDENTITY)):
        with pytest.raises(DamagedRunError) as info:
            opening()
        messages.append(str(info.value))
        assert F.snapshot(run) == before  # nothing created, repaired or rewritten
    for message in messages:
        assert "\n" not in message
        for fragment in fragments:
            assert fragment in message, message
    return messages[0]


def readable(message: str) -> int:
    """The N of "N rows can still be read" (0 for "no row can be read")."""
    if "no row can be read" in message:
        return 0
    return int(message.split(" rows can still be read")[0].rsplit(" ", 1)[-1])


def test_a_sound_run_opens_and_resumes_without_a_change_to_its_rows(run: Path) -> None:
    with RunStore.open(run) as store:
        assert store.count() == F.N_ROWS
    with RunStore.create(run, F.IDENTITY) as store:
        assert store.count() == F.N_ROWS


def test_overwritten_database(run: Path) -> None:
    F.overwrite(run)
    message = refused(run, str(F.db(run)), "is not an SQLite database", "no row can be read")
    assert readable(message) == 0


def test_truncated_database_says_how_many_rows_survive(run: Path) -> None:
    size = F.truncate(run, keep=0.8)
    cut = F.db(run).stat().st_size
    message = refused(run, str(F.db(run)), f"truncated: {cut} of {size} bytes")
    assert 0 < readable(message) < F.N_ROWS, message


def test_corrupt_pages_in_the_middle(run: Path) -> None:
    pages = F.db(run).stat().st_size // 4096
    F.corrupt_pages(run, first=pages // 2, count=3)
    message = refused(run, str(F.db(run)), "is damaged", "it was left as it is")
    # the rows on the pages before the damage are still there to be salvaged
    assert 0 < readable(message) < F.N_ROWS, message


def test_foreign_sqlite_database(run: Path) -> None:
    F.foreign(run)
    refused(run, str(F.db(run)), "not a confalign results database", "its tables: notes")
    with sqlite3.connect(F.db(run)) as conn:  # the other program's data is untouched
        assert conn.execute("SELECT * FROM notes").fetchall() == [(1, "mine")]
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["notes"]


def test_unknown_schema_version(run: Path) -> None:
    F.schema_version(run, "3")
    refused(run, str(F.db(run)), "results schema version 3", "reads versions 1 and 2")


def test_empty_database_file(run: Path) -> None:
    F.db(run).write_bytes(b"")
    with pytest.raises(DamagedRunError, match=r"is empty \(0 bytes\)"):
        RunStore.open(run)


def test_missing_database_beside_a_manifest(run: Path) -> None:
    F.db(run).unlink()
    with pytest.raises(DamagedRunError, match=r"results\.sqlite is missing"):
        RunStore.open(run)


@pytest.mark.parametrize(
    ("damage", "fragments"),
    [
        (lambda m: m.write_text('{"format": "confalign-run/1", "identity": {'), ["not valid JSON"]),
        (lambda m: m.write_bytes(b"\xff\xfe\x00garbage"), ["not UTF-8"]),
        (lambda m: m.write_text("[1, 2]"), ["not a confalign-run/1 manifest", "list"]),
        (lambda m: m.write_text('{"format": "confalign-run/1"}'), ["no 'identity' object"]),
        (lambda m: F.manifest_format(m.parent, "confalign-run/2"), ["format confalign-run/2"]),
        (lambda m: F.manifest_format(m.parent, "mlflow/3"), ["not a confalign-run manifest"]),
        (lambda m: (m.unlink(), m.mkdir()), ["cannot be read"]),
    ],
    ids=["bad-json", "not-utf8", "not-object", "no-identity", "newer", "foreign", "unreadable"],
)
def test_damaged_manifest(run: Path, damage: Callable[[Path], object], fragments: list[str]):
    damage(run / "manifest.json")
    refused(run, str(run / "manifest.json"), *fragments)


def test_newer_manifest_names_both_versions(run: Path) -> None:
    F.manifest_format(run, "confalign-run/2")
    message = refused(run)
    assert "confalign-run/2" in message and "it reads confalign-run/1" in message


def test_missing_manifest_beside_results(run: Path) -> None:
    (run / "manifest.json").unlink()
    message = refused(run, str(run / "manifest.json"), "is missing", "results.sqlite")
    assert "not a confalign run directory" not in message


def test_a_directory_that_is_no_run_is_still_refused_as_before(tmp_path: Path) -> None:
    with pytest.raises(RunStoreError, match="not a confalign run directory"):
        RunStore.open(tmp_path)


def test_damage_found_while_reading_is_one_line_naming_the_file(run: Path) -> None:
    """Damage that appears after the check at opening (another program writing the file)."""
    with RunStore.open(run) as store:
        F.overwrite(run)
        with pytest.raises(DamagedRunError, match=str(F.db(run))):
            store.rows()
