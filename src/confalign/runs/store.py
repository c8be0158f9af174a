"""The run store: a run directory with ``manifest.json`` and an SQLite database of results.

Layout of a run directory::

    manifest.json     what produced the results (see ``confalign.runs.manifest``)
    results.sqlite    one row per (dataset, example, method key); WAL journal
    .lock             held (flock) by the one process writing to the run

Writes happen in one transaction per batch (``RunStore.write``), so a killed process loses at
most the batch it was computing; WAL with ``synchronous=NORMAL`` keeps every committed batch
across a process crash. ``UNIQUE(dataset, example_id, method_key)`` makes a duplicate row
impossible: writing one raises ``sqlite3.IntegrityError`` and the batch is rolled back. A write
that fails (disk full, I/O error, the directory removed) rolls the batch back and raises
``RunWriteError`` naming the file; rerunning the same command resumes after the last stored
batch.

Opening (for reading or writing) first checks the directory and changes nothing in it when
something is wrong: a missing, unreadable or unknown-version manifest, a damaged or foreign
database each raise ``DamagedRunError`` (see ``confalign.runs.database``).

Reading (for reports)::

    with RunStore.open("runs/mmlu-default") as store:
        store.manifest                        # dict, manifest.json
        store.datasets(), store.method_keys() # what is stored
        store.rows(dataset="mmlu", method_key="choice")  # list[ResultRow]
        store.frame(...)                      # pandas.DataFrame, one column per ResultRow field
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from confalign.runs.database import DB_NAME, check_database, connect, select_list
from confalign.runs.errors import DamagedRunError, RunStoreError, RunWriteError
from confalign.runs.manifest import (
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    Status,
    canonical,
    check_manifest,
    diff_identity,
    package_versions,
    utc_now,
    write_manifest,
)
from confalign.runs.outdir import check_output_dir, make_output_dir
from confalign.runs.rows import COLUMNS, ResultRow, dumps

if TYPE_CHECKING:
    import pandas as pd

LOCK_NAME = ".lock"

_INSERT = (
    f"INSERT INTO results ({', '.join(COLUMNS)}, written_at) "
    f"VALUES ({', '.join('?' for _ in COLUMNS)}, ?)"
)
_ORDER = "ORDER BY dataset, example_order, example_id, method_key"


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
        self.db_path = run_dir / DB_NAME
        self._conn = conn
        self._lock_fd = lock_fd
        self._db_inode = _inode(self.db_path)
        self._select = select_list(conn)

    # ----------------------------------------------------------------- opening
    @classmethod
    def create(
        cls, run_dir: str | os.PathLike[str], identity: Mapping[str, Any], **info: Any
    ) -> RunStore:
        """Open ``run_dir`` for writing: a new run, or the resumption of one with this identity.

        ``identity``: JSON-like description of everything that determines the results; an
        existing run with another identity raises ``ConfigMismatchError`` (nothing is touched).
        ``info``: further manifest fields (not compared). The manifest's status becomes
        ``running``; a directory that exists, is not empty and has no manifest is refused. A
        damaged manifest or database raises ``DamagedRunError`` before anything is written;
        a manifest without a database (a run stopped before creating it) gets a new one.
        """
        root = Path(run_dir)
        new_identity = canonical(identity)
        existing = (root / MANIFEST_NAME).exists()
        if existing:
            manifest = check_manifest(root)
            differences = diff_identity(manifest.get("identity"), new_identity)
            if differences:
                raise ConfigMismatchError(root, differences)
            if (root / DB_NAME).exists():
                check_database(root / DB_NAME, allow_new=True)
        else:
            _refuse_orphan_database(root)
            check_output_dir(root, marker=MANIFEST_NAME, ignore={LOCK_NAME}, kind="run directory")
        make_output_dir(root)
        lock_fd = _lock(root)
        try:
            if existing:
                resumed = [*manifest.get("resumed", []), _resumption()]
                manifest = {**manifest, **info, "status": "running", "ended_at": None}
                manifest["resumed"] = resumed
            else:
                manifest = _new_manifest(new_identity, info)
            write_manifest(root, manifest)
            conn = _connect_for_writing(root / DB_NAME)
        except BaseException:
            os.close(lock_fd)
            raise
        return cls(root, conn, lock_fd)

    @classmethod
    def append(cls, run_dir: str | os.PathLike[str]) -> RunStore:
        """Open an existing run for writing derived rows (e.g. recalibrated confidences)
        without resuming it: the manifest is left as it is; the write lock is held."""
        root = Path(run_dir)
        if not (root / MANIFEST_NAME).exists():
            raise RunStoreError(f"{root} is not a confalign run directory (no {MANIFEST_NAME})")
        check_manifest(root)
        if not (root / DB_NAME).exists():
            raise DamagedRunError(f"{root / DB_NAME} is missing (the run has no results database)")
        check_database(root / DB_NAME)
        lock_fd = _lock(root)
        try:
            conn = _connect_for_writing(root / DB_NAME)
        except BaseException:
            os.close(lock_fd)
            raise
        return cls(root, conn, lock_fd)

    @classmethod
    def open(cls, run_dir: str | os.PathLike[str]) -> RunStore:
        """Open an existing run read-only (safe while another process is writing to it)."""
        root = Path(run_dir)
        if not (root / MANIFEST_NAME).exists():
            _refuse_orphan_database(root)
            raise RunStoreError(f"{root} is not a confalign run directory (no {MANIFEST_NAME})")
        check_manifest(root)
        if not (root / DB_NAME).exists():
            raise DamagedRunError(
                f"{root / DB_NAME} is missing (the run has a manifest but no results database)"
            )
        check_database(root / DB_NAME)
        try:
            conn = connect(root / DB_NAME, readonly=True)
        except sqlite3.Error as exc:
            raise DamagedRunError(f"{root / DB_NAME} cannot be opened: {exc}") from None
        return cls(root, conn, None)

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
        """``manifest.json`` as a dict, read (and checked) from disk on each access."""
        return check_manifest(self.run_dir)

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
        """Insert ``rows`` in one transaction (all or none); returns how many were written.

        A failed write (disk full, I/O error, the file or its directory removed) rolls the
        transaction back and raises ``RunWriteError`` naming the file; a duplicate row raises
        ``sqlite3.IntegrityError`` (a bug, not a fault of the machine).
        """
        self._require_writable()
        now = utc_now()
        values = [(*_to_sql(row), now) for row in rows]
        try:
            with self._transaction():
                self._conn.executemany(_INSERT, values)
                self._check_still_there(len(values))
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            raise self._write_error(str(exc), len(values)) from None
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

    def regrade(self, rows: Sequence[ResultRow], *, grading: Mapping[str, Any]) -> int:
        """Set ``correct``, ``rule`` and ``extra`` of the stored rows ``rows`` name (by dataset,
        example id, method key) in one transaction, so a run never holds half of two gradings;
        ``grading`` (the grader's description) goes to the database's meta table with them."""
        self._require_writable()
        values = [
            (
                None if r.correct is None else int(r.correct),
                r.rule,
                dumps(dict(r.extra)),
                r.dataset,
                r.example_id,
                r.method_key,
            )
            for r in rows
        ]
        with self._transaction():
            self._conn.executemany(
                "UPDATE results SET correct = ?, rule = ?, extra = ? "
                "WHERE dataset = ? AND example_id = ? AND method_key = ?",
                values,
            )
            self._conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('grading', ?)", (dumps(grading),)
            )
        return len(values)

    def verdicts(self, judge: str) -> dict[str, tuple[str, str]]:
        """The stored verdicts of ``judge``: ``{item: (verdict, raw text)}``."""
        if "verdicts" not in self._tables():
            return {}  # a version-1 file opened read-only
        found = self._query("SELECT item, verdict, raw FROM verdicts WHERE judge = ?", (judge,))
        return {item: (verdict, raw) for item, verdict, raw in found}

    def store_verdicts(self, judge: str, verdicts: Mapping[str, tuple[str, str]]) -> None:
        """Keep ``judge``'s ``{item: (verdict, raw text)}`` in one transaction."""
        self._require_writable()
        values = [(judge, item, v, raw) for item, (v, raw) in verdicts.items()]
        with self._transaction():
            self._conn.executemany("INSERT OR REPLACE INTO verdicts VALUES (?, ?, ?, ?)", values)

    def _tables(self) -> set[str]:
        return {r[0] for r in self._query("SELECT name FROM sqlite_master WHERE type='table'")}

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._conn.execute("COMMIT")
        except BaseException:
            # SQLite rolls back by itself after some failures (a full disk during COMMIT).
            # If ROLLBACK fails too, the first error is the one to report.
            if self._conn.in_transaction:
                with suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
            raise

    def _check_still_there(self, n: int) -> None:
        """SQLite keeps writing into a database whose file or directory was removed (its file
        descriptors stay valid), so a removal is detected by the file's inode before COMMIT."""
        if _inode(self.db_path) != self._db_inode:
            raise RunWriteError(
                f"cannot write results to {self.db_path}: the file or its directory was removed "
                f"or replaced while the run was writing; the batch of {n} rows was rolled back; "
                "rerun the same command to start the run again"
            )

    def _write_error(self, what: str, n: int) -> RunWriteError:
        try:
            stored = self._conn.execute("SELECT COUNT(*) FROM results").fetchone()[0]
            kept = f", {stored} rows are stored"
        except sqlite3.Error:
            kept = ""
        return RunWriteError(
            f"cannot write results to {self.db_path}: {what}; the batch of {n} rows was rolled "
            f"back{kept}; fix the cause and rerun the same command to resume"
        )

    def _require_writable(self) -> None:
        if self._lock_fd is None:
            raise RunStoreError(f"{self.run_dir} was opened read-only (use RunStore.create)")

    # ------------------------------------------------------------------ reading
    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """All result rows of ``sql``; damage found while reading (after the check at opening,
        or in rows written since) raises ``DamagedRunError`` naming the file."""
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise DamagedRunError(f"{self.db_path} cannot be read: {exc}") from None

    def done(self, dataset: str) -> set[tuple[str, str]]:
        """The ``(example_id, method_key)`` pairs already stored for ``dataset``."""
        found = self._query(
            "SELECT example_id, method_key FROM results WHERE dataset = ?", (dataset,)
        )
        return {(r[0], r[1]) for r in found}

    def count(self, dataset: str | None = None, method_key: str | None = None) -> int:
        """Number of stored rows, optionally for one dataset and/or method key."""
        where, params = _where(dataset, method_key)
        return int(self._query(f"SELECT COUNT(*) FROM results {where}", params)[0][0])

    def datasets(self) -> list[str]:
        """Dataset names with stored rows, sorted."""
        return [r[0] for r in self._query("SELECT DISTINCT dataset FROM results ORDER BY dataset")]

    def method_keys(self, dataset: str | None = None) -> list[str]:
        """Method keys with stored rows (for one dataset if given), sorted."""
        where, params = _where(dataset, None)
        sql = f"SELECT DISTINCT method_key FROM results {where} ORDER BY method_key"
        return [r[0] for r in self._query(sql, params)]

    def rows(self, dataset: str | None = None, method_key: str | None = None) -> list[ResultRow]:
        """Stored rows ordered by dataset, example order, method key."""
        where, params = _where(dataset, method_key)
        sql = f"SELECT {self._select} FROM results {where} {_ORDER}"
        return [_from_sql(r) for r in self._query(sql, params)]

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
    row = dict(zip(COLUMNS, values, strict=True))
    row["probs"] = None if row["probs"] is None else tuple(json.loads(row["probs"]))
    row["extra"] = json.loads(row["extra"])
    row["correct"] = None if row["correct"] is None else bool(row["correct"])
    row["parse_failed"] = bool(row["parse_failed"])
    row["ambiguous"] = bool(row["ambiguous"])
    return ResultRow(**row)


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


def _refuse_orphan_database(root: Path) -> None:
    """A results database without its manifest: say so instead of "not a run directory"."""
    if (root / DB_NAME).is_file():
        raise DamagedRunError(
            f"{root / MANIFEST_NAME} is missing: {root} holds {DB_NAME} but not the manifest "
            "that says what produced it; restore the manifest from a copy, or use another "
            "directory (nothing was changed)"
        )


def _lock(root: Path) -> int:
    try:
        fd = os.open(root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise RunWriteError(f"cannot write {root / LOCK_NAME}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RunStoreError(f"{root} is in use by another confalign process") from None
    return fd


def _connect_for_writing(path: Path) -> sqlite3.Connection:
    try:
        return connect(path, readonly=False)
    except sqlite3.Error as exc:
        raise RunWriteError(f"cannot open {path} for writing: {exc}") from None


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None
