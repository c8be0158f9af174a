"""The run store: a run directory with ``manifest.json`` and an SQLite database of results.

Layout of a run directory::

    manifest.json     what produced the results (see ``confalign.runs.manifest``)
    results.sqlite    one row per (dataset, example, method key); WAL journal
    .lock             held (flock) by the one process writing to the run

Writes happen in one transaction per batch (``RunStore.write``), so a killed process loses at
most the batch it was computing; WAL with ``synchronous=NORMAL`` keeps every committed batch
across a process crash. ``UNIQUE(dataset, example_id, method_key)`` makes a duplicate row
impossible: writing one raises ``sqlite3.IntegrityError`` and the batch is rolled back.

Reading (for reports)::

    with RunStore.open("runs/mmlu-default") as store:
        store.manifest                        # dict, manifest.json
        store.datasets(), store.method_keys() # what is stored
        store.records(dataset="mmlu", method_key="choice")  # list[ConfidenceRecord]
        store.rows(...)                       # list[ResultRow] (records + dataset, order, subject)
        store.frame(...)                      # pandas.DataFrame, one column per ResultRow field
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from confalign.runs.manifest import (
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    Status,
    canonical,
    diff_identity,
    package_versions,
    read_manifest,
    utc_now,
    write_manifest,
)
from confalign.runs.rows import COLUMNS, ResultRow, dumps

if TYPE_CHECKING:
    import pandas as pd

    from confalign.confidence.base import ConfidenceRecord

DB_NAME = "results.sqlite"
LOCK_NAME = ".lock"
SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    dataset          TEXT    NOT NULL,
    example_order    INTEGER NOT NULL,
    example_id       TEXT    NOT NULL,
    subject          TEXT    NOT NULL,
    config_key       TEXT    NOT NULL,
    method_key       TEXT    NOT NULL,
    method           TEXT    NOT NULL,
    kind             TEXT    NOT NULL,
    prediction       TEXT    NOT NULL,
    correct          INTEGER CHECK (correct IN (0, 1)),
    confidence       REAL,
    format           TEXT    NOT NULL,
    mode             TEXT    NOT NULL,
    probs            TEXT,
    raw_text         TEXT,
    parse_failed     INTEGER NOT NULL CHECK (parse_failed IN (0, 1)),
    ambiguous        INTEGER NOT NULL CHECK (ambiguous IN (0, 1)),
    generated_tokens INTEGER NOT NULL,
    extra            TEXT    NOT NULL,
    gold             TEXT    NOT NULL,
    written_at       TEXT    NOT NULL,
    UNIQUE (dataset, example_id, method_key)
);
CREATE INDEX IF NOT EXISTS results_by_method ON results (method_key, dataset);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_INSERT = (
    f"INSERT INTO results ({', '.join(COLUMNS)}, written_at) "
    f"VALUES ({', '.join('?' for _ in COLUMNS)}, ?)"
)
_ORDER = "ORDER BY dataset, example_order, example_id, method_key"


class RunStoreError(ValueError):
    """A run directory cannot be used as asked (missing, not a run, in use, unwritable)."""


class ConfigMismatchError(RunStoreError):
    """An existing run directory was made by another configuration; ``differences`` lists
    ``field: old → new`` lines."""

    def __init__(self, run_dir: Path, differences: Sequence[str]) -> None:
        self.run_dir, self.differences = run_dir, list(differences)
        super().__init__(
            f"{run_dir} holds results of a different configuration "
            f"({'; '.join(self.differences)}); rerun with the original settings to resume, "
            "or choose another output directory"
        )


class RunStore:
    """One run directory and its one SQLite connection (one per process; not thread-safe).

    Create or resume with ``RunStore.create(run_dir, identity)``; read with
    ``RunStore.open(run_dir)``. Use as a context manager or call ``close()``.
    """

    def __init__(self, run_dir: Path, conn: sqlite3.Connection, lock_fd: int | None) -> None:
        self.run_dir = run_dir
        self._conn = conn
        self._lock_fd = lock_fd

    # ----------------------------------------------------------------- opening
    @classmethod
    def create(
        cls, run_dir: str | os.PathLike[str], identity: Mapping[str, Any], **info: Any
    ) -> RunStore:
        """Open ``run_dir`` for writing: a new run, or the resumption of one with this identity.

        ``identity``: JSON-like description of everything that determines the results; an
        existing run with another identity raises ``ConfigMismatchError`` (nothing is touched).
        ``info``: further manifest fields (not compared). The manifest's status becomes
        ``running``; a directory that exists, is not empty and has no manifest is refused.
        """
        root = Path(run_dir)
        new_identity = canonical(identity)
        existing = (root / MANIFEST_NAME).exists()
        if existing:
            manifest = _read_checked(root)
            differences = diff_identity(manifest.get("identity"), new_identity)
            if differences:
                raise ConfigMismatchError(root, differences)
        elif root.exists() and (not root.is_dir() or any(_foreign_entries(root))):
            raise RunStoreError(f"{root} exists and is not a confalign run directory")
        _make_dir(root)
        lock_fd = _lock(root)
        try:
            if existing:
                resumed = [*manifest.get("resumed", []), _resumption()]
                manifest = {**manifest, **info, "status": "running", "ended_at": None}
                manifest["resumed"] = resumed
            else:
                manifest = _new_manifest(new_identity, info)
            write_manifest(root, manifest)
            conn = _connect(root / DB_NAME, readonly=False)
        except BaseException:
            os.close(lock_fd)
            raise
        return cls(root, conn, lock_fd)

    @classmethod
    def append(cls, run_dir: str | os.PathLike[str]) -> RunStore:
        """Open an existing run for writing derived rows (e.g. recalibrated confidences)
        without resuming it: the manifest is left as it is; the write lock is held."""
        root = Path(run_dir)
        _read_checked(root)
        if not (root / DB_NAME).exists():
            raise RunStoreError(f"{root} has a manifest but no {DB_NAME}")
        lock_fd = _lock(root)
        try:
            conn = _connect(root / DB_NAME, readonly=False)
        except BaseException:
            os.close(lock_fd)
            raise
        return cls(root, conn, lock_fd)

    @classmethod
    def open(cls, run_dir: str | os.PathLike[str]) -> RunStore:
        """Open an existing run read-only (safe while another process is writing to it)."""
        root = Path(run_dir)
        _read_checked(root)
        if not (root / DB_NAME).exists():
            raise RunStoreError(f"{root} has a manifest but no {DB_NAME}")
        return cls(root, _connect(root / DB_NAME, readonly=True), None)

    def close(self) -> None:
        """Close the database connection and release the write lock."""
        self._conn.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> RunStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ---------------------------------------------------------------- manifest
    @property
    def manifest(self) -> dict[str, Any]:
        """``manifest.json`` as a dict, read from disk on each access."""
        return read_manifest(self.run_dir)

    def update_manifest(self, **fields: Any) -> dict[str, Any]:
        """Set top-level manifest fields (never ``identity``) and rewrite the file atomically."""
        self._require_writable()
        if "identity" in fields:
            raise ValueError("a run's identity cannot change")
        manifest = {**self.manifest, **fields}
        write_manifest(self.run_dir, manifest)
        return manifest

    def finish(self, status: Status) -> None:
        """Record the end of this process's work: ``status`` and ``ended_at``."""
        self.update_manifest(status=status, ended_at=utc_now())

    # ------------------------------------------------------------------ writing
    def write(self, rows: Sequence[ResultRow]) -> int:
        """Insert ``rows`` in one transaction (all or none); returns how many were written."""
        self._require_writable()
        now = utc_now()
        values = [(*_to_sql(row), now) for row in rows]
        with self._transaction():
            self._conn.executemany(_INSERT, values)
        return len(values)

    def replace(self, rows: Sequence[ResultRow], *, delete: Iterable[tuple[str, str]] = ()) -> int:
        """Delete the stored rows of every (dataset, method key) in ``rows`` and in ``delete``,
        then insert ``rows``, in one transaction; returns how many were written."""
        self._require_writable()
        now = utc_now()
        values = [(*_to_sql(row), now) for row in rows]
        keys = sorted({(row.dataset, row.method_key) for row in rows} | set(delete))
        with self._transaction():
            self._conn.executemany("DELETE FROM results WHERE dataset = ? AND method_key = ?", keys)
            self._conn.executemany(_INSERT, values)
        return len(values)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def _require_writable(self) -> None:
        if self._lock_fd is None:
            raise RunStoreError(f"{self.run_dir} was opened read-only (use RunStore.create)")

    # ------------------------------------------------------------------ reading
    def done(self, dataset: str) -> set[tuple[str, str]]:
        """The ``(example_id, method_key)`` pairs already stored for ``dataset``."""
        cur = self._conn.execute(
            "SELECT example_id, method_key FROM results WHERE dataset = ?", (dataset,)
        )
        return set(cur.fetchall())

    def count(self, dataset: str | None = None, method_key: str | None = None) -> int:
        """Number of stored rows, optionally for one dataset and/or method key."""
        where, params = _where(dataset, method_key)
        return self._conn.execute(f"SELECT COUNT(*) FROM results {where}", params).fetchone()[0]

    def datasets(self) -> list[str]:
        """Dataset names with stored rows, sorted."""
        cur = self._conn.execute("SELECT DISTINCT dataset FROM results ORDER BY dataset")
        return [r[0] for r in cur]

    def method_keys(self, dataset: str | None = None) -> list[str]:
        """Method keys with stored rows (for one dataset if given), sorted."""
        where, params = _where(dataset, None)
        cur = self._conn.execute(
            f"SELECT DISTINCT method_key FROM results {where} ORDER BY method_key", params
        )
        return [r[0] for r in cur]

    def rows(self, dataset: str | None = None, method_key: str | None = None) -> list[ResultRow]:
        """Stored rows ordered by dataset, example order, method key."""
        where, params = _where(dataset, method_key)
        cur = self._conn.execute(
            f"SELECT {', '.join(COLUMNS)} FROM results {where} {_ORDER}", params
        )
        return [_from_sql(r) for r in cur]

    def records(
        self, dataset: str | None = None, method_key: str | None = None
    ) -> list[ConfidenceRecord]:
        """Stored results as ``ConfidenceRecord``s, in the order of ``rows``."""
        return [row.to_record() for row in self.rows(dataset, method_key)]

    def frame(self, dataset: str | None = None, method_key: str | None = None) -> pd.DataFrame:
        """Stored rows as a DataFrame, one column per ``ResultRow`` field, in ``rows`` order.

        Column types: ``correct`` pandas ``boolean`` (NA when no prediction), ``confidence``
        float64 (NaN when extraction failed), ``probs`` lists of floats or None, ``extra``
        dicts, ``parse_failed``/``ambiguous`` bool, ``example_order``/``generated_tokens`` int64.
        """
        import pandas as pd

        data = [row.to_dict() for row in self.rows(dataset, method_key)]
        frame = pd.DataFrame(data, columns=list(COLUMNS))
        frame["correct"] = frame["correct"].astype("boolean")
        frame["confidence"] = frame["confidence"].astype("float64")
        for col in ("parse_failed", "ambiguous"):
            frame[col] = frame[col].astype(bool)
        for col in ("example_order", "generated_tokens"):
            frame[col] = frame[col].astype("int64")
        return frame


def _where(dataset: str | None, method_key: str | None) -> tuple[str, tuple[str, ...]]:
    clauses, params = [], []
    if dataset is not None:
        clauses.append("dataset = ?")
        params.append(dataset)
    if method_key is not None:
        clauses.append("method_key = ?")
        params.append(method_key)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)


def _to_sql(row: ResultRow) -> tuple[Any, ...]:
    out = []
    for name in COLUMNS:
        value = getattr(row, name)
        if name == "probs":
            value = None if value is None else dumps(list(value))
        elif name == "extra":
            value = dumps(dict(value))
        elif isinstance(value, bool):
            value = int(value)
        out.append(value)
    return tuple(out)


def _from_sql(values: Sequence[Any]) -> ResultRow:
    import json

    row = dict(zip(COLUMNS, values, strict=True))
    row["probs"] = None if row["probs"] is None else tuple(json.loads(row["probs"]))
    row["extra"] = json.loads(row["extra"])
    row["correct"] = None if row["correct"] is None else bool(row["correct"])
    row["parse_failed"] = bool(row["parse_failed"])
    row["ambiguous"] = bool(row["ambiguous"])
    return ResultRow(**row)


def _read_checked(root: Path) -> dict[str, Any]:
    if not (root / MANIFEST_NAME).is_file():
        raise RunStoreError(f"{root} is not a confalign run directory (no {MANIFEST_NAME})")
    try:
        manifest = read_manifest(root)
    except (OSError, ValueError) as exc:
        raise RunStoreError(f"{root / MANIFEST_NAME} cannot be read: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise RunStoreError(f"{root / MANIFEST_NAME} is not a {MANIFEST_FORMAT} manifest")
    return manifest


def _new_manifest(identity: Any, info: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "format": MANIFEST_FORMAT,
        "status": "running",
        "started_at": utc_now(),
        "ended_at": None,
        "resumed": [],
        "versions": package_versions(),
        "identity": identity,
        **info,
    }


def _resumption() -> dict[str, Any]:
    """When a run was resumed, and with which package versions (they may differ from the
    versions the run started with)."""
    return {"at": utc_now(), "versions": package_versions()}


def _foreign_entries(root: Path) -> Iterator[Path]:
    """Entries of ``root`` other than a lock left by a run killed before its manifest."""
    return (p for p in root.iterdir() if p.name != LOCK_NAME)


def _make_dir(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise RunStoreError(f"cannot write to output directory {root}: {reason}") from None


def _lock(root: Path) -> int:
    fd = os.open(root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RunStoreError(f"{root} is in use by another confalign process") from None
    return fd


def _connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
        return conn
    conn = sqlite3.connect(path, isolation_level=None)  # autocommit; transactions explicit
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.executescript(SCHEMA)
    conn.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
        (str(SCHEMA_VERSION),),
    )
    return conn
