"""Ways a run directory gets damaged outside confalign, as a file system crash, a bad copy or
another program would leave it (imported by name by the fault tests)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import numpy as np

from confalign.runs import ResultRow, RunStore

N_ROWS = 400  # about 60 pages of 4 KiB: enough that damage late in the file spares early rows
IDENTITY = {"model": {"model": "m"}, "datasets": [{"name": "d", "size": N_ROWS}], "seed": 0}


def make_run(run_dir: Path, n: int = N_ROWS) -> Path:
    """A complete run of ``n`` rows, closed (so the database is checkpointed: no -wal file)."""
    rows = [
        ResultRow.of(
            dataset="d",
            example_order=i,
            example_id=f"q{i:04d}",
            subject="s",
            config_key="k",
            method_key="choice",
            method="choice",
            kind="internal",
            prediction="A",
            correct=i % 3 == 0,
            confidence=np.float64((i % 10) / 10),
            raw_text="x" * 400,
        )
        for i in range(n)
    ]
    with RunStore.create(run_dir, IDENTITY) as store:
        for start in range(0, n, 50):
            store.write(rows[start : start + 50])
        store.finish("complete")
    return run_dir


def snapshot(directory: Path) -> dict[str, str]:
    """Every entry under ``directory`` and a hash of its bytes (folders: "dir")."""
    return {
        str(p.relative_to(directory)): "dir"
        if p.is_dir()
        else hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
    }


def db(run_dir: Path) -> Path:
    return run_dir / "results.sqlite"


def overwrite(run_dir: Path) -> None:
    """Another program wrote over the database file."""
    db(run_dir).write_bytes(b"PK\x03\x04 this is a zip file now" * 64)


def truncate(run_dir: Path, keep: float = 0.8) -> int:
    """Cut the database file to ``keep`` of its size (a partial copy); returns the old size."""
    size = db(run_dir).stat().st_size
    with db(run_dir).open("r+b") as fh:
        fh.truncate(int(size * keep) // 4096 * 4096)
    return size


def corrupt_pages(run_dir: Path, first: int, count: int) -> None:
    """Overwrite ``count`` 4 KiB pages from page ``first`` (0-based) with garbage."""
    with db(run_dir).open("r+b") as fh:
        fh.seek(first * 4096)
        fh.write(b"\xa5" * 4096 * count)


def foreign(run_dir: Path) -> None:
    """Someone else's SQLite database in place of ours."""
    db(run_dir).unlink()
    with sqlite3.connect(db(run_dir)) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER, text TEXT)")
        conn.execute("INSERT INTO notes VALUES (1, 'mine')")
    conn.close()


def schema_version(run_dir: Path, version: str) -> None:
    """A database written by a confalign with another results schema."""
    with sqlite3.connect(db(run_dir)) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (version,))
    conn.close()


def manifest_format(run_dir: Path, fmt: str) -> None:
    """A manifest written by another version (or another program)."""
    path = run_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["format"] = fmt
    path.write_text(json.dumps(manifest))
