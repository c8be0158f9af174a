"""The results database of a run directory (``results.sqlite``): its schema, its connections,
and the check that runs before a command uses it.

``check_database`` reads the file and nothing else: a damaged file (overwritten, truncated,
corrupt pages), someone else's SQLite database, or one written with an unknown schema version
raises ``DamagedRunError`` naming the file, what is wrong and how many rows can still be read;
nothing is repaired, since a repair could lose rows.

Schema versions: 1 (no ``rule`` column, no ``verdicts`` table) is read as it is, its rows'
``rule`` read as ""; a writer's connection migrates it to 2 (``ALTER TABLE ... ADD COLUMN``,
which keeps every row) before writing.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from confalign.runs.errors import DamagedRunError
from confalign.runs.rows import COLUMNS

DB_NAME = "results.sqlite"
SCHEMA_VERSION = 2
READABLE_VERSIONS = ("1", "2")
WRITTEN_AT = "written_at"
# Columns added after version 1, with the value an older row reads as.
ADDED_COLUMNS = {"rule": "''"}

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
    rule             TEXT    NOT NULL DEFAULT '',
    UNIQUE (dataset, example_id, method_key)
);
CREATE INDEX IF NOT EXISTS results_by_method ON results (method_key, dataset);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- An LLM judge's verdicts, by judge and by item (a hash of question, gold and answer), so a
-- resumed eval or regrade asks the judge nothing it has answered.
CREATE TABLE IF NOT EXISTS verdicts (
    judge   TEXT NOT NULL,
    item    TEXT NOT NULL,
    verdict TEXT NOT NULL,
    raw     TEXT NOT NULL,
    PRIMARY KEY (judge, item)
);
"""

_MAGIC = b"SQLite format 3\x00"
_HEADER = 100


def connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    """A connection to ``path`` in autocommit mode (transactions are explicit); the writer's
    connection sets WAL + ``synchronous=NORMAL`` and creates the schema."""
    if readonly:
        return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=10000")
    _migrate(conn)
    conn.executescript(SCHEMA)
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
        (str(SCHEMA_VERSION),),
    )
    return conn


def _migrate(conn: sqlite3.Connection) -> None:
    """Add the columns a version-1 results table lacks (a no-op on a new or current file)."""
    present = table_columns(conn)
    if not present:
        return
    for name, default in ADDED_COLUMNS.items():
        if name not in present:
            conn.execute(f"ALTER TABLE results ADD COLUMN {name} TEXT NOT NULL DEFAULT {default}")


def table_columns(conn: sqlite3.Connection) -> set[str]:
    """The columns of the results table (empty when there is none yet)."""
    return {r[1] for r in conn.execute("PRAGMA table_info(results)")}


def select_list(conn: sqlite3.Connection) -> str:
    """``COLUMNS`` for a SELECT, a column an older file lacks read as its default value."""
    present = table_columns(conn)
    return ", ".join(
        name if name in present else f"{ADDED_COLUMNS[name]} AS {name}" for name in COLUMNS
    )


def check_database(path: Path, *, allow_new: bool = False) -> None:
    """Raise ``DamagedRunError`` unless ``path`` is a sound confalign results database of schema
    version ``SCHEMA_VERSION``. ``allow_new``: an empty file or an SQLite file with no table
    (a run stopped while creating it) passes, for a writer that will create the schema.

    Reads only: the header is checked by hand, then SQLite's ``quick_check`` runs on a
    read-only connection that creates no file beside the database (``immutable`` when there is
    no write-ahead log to read).
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            header = fh.read(_HEADER)
    except OSError as exc:
        raise DamagedRunError(f"{path} cannot be read: {exc.strerror or exc}") from None
    if size == 0:
        if allow_new:
            return
        raise DamagedRunError(f"{path} is empty (0 bytes): it holds no results")
    if not header.startswith(_MAGIC):
        raise DamagedRunError(
            f"{path} is not an SQLite database (overwritten or not a confalign file: it does not "
            "start with the SQLite header); no row can be read; it was left as it is"
        )
    expected = _expected_size(header)
    if expected is not None and size < expected:
        raise _damaged(path, f"truncated: {size} of {expected} bytes")
    try:
        conn = _connect_for_check(path)
    except sqlite3.Error as exc:
        raise _damaged(path, str(exc)) from None
    try:
        _check_open(path, conn, allow_new)
    finally:
        conn.close()


def readable_rows(path: Path) -> int:
    """How many rows of ``path``'s results table a full scan reads before SQLite stops on
    damage (0 when the table cannot be opened)."""
    count = 0
    try:
        conn = _connect_for_check(path, salvage=True)
    except sqlite3.Error:
        return 0
    try:
        for _ in conn.execute("SELECT * FROM results"):
            count += 1
    except sqlite3.Error:
        pass
    finally:
        conn.close()
    return count


def _check_open(path: Path, conn: sqlite3.Connection, allow_new: bool) -> None:
    try:
        problems = [r[0] for r in conn.execute("PRAGMA quick_check(3)")]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if problems != ["ok"]:
            first = " ".join(problems[0].replace("*** in database main ***", "").split())
            raise _damaged(path, f"SQLite's integrity check: {first}")
        if not tables and allow_new:
            return
        if "results" not in tables:
            listed = ", ".join(sorted(tables)) or "none"
            raise DamagedRunError(
                f"{path} is an SQLite database but not a confalign results database (no table "
                f"'results'; its tables: {listed}); it was left as it is"
            )
        columns = table_columns(conn)
        missing = [c for c in (*COLUMNS, WRITTEN_AT) if c not in columns | set(ADDED_COLUMNS)]
        if missing:
            raise DamagedRunError(
                f"{path} is not a confalign results database: table 'results' has no column "
                f"{', '.join(missing)}; it was left as it is"
            )
        version = None
        if "meta" in tables:
            found = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            version = None if found is None else found[0]
        if version not in READABLE_VERSIONS:
            raise DamagedRunError(
                f"{path} was written with results schema version {version or '(none)'}; this "
                f"confalign reads versions {' and '.join(READABLE_VERSIONS)} (use the confalign "
                "that wrote it)"
            )
    except sqlite3.Error as exc:
        raise _damaged(path, str(exc)) from None


def _damaged(path: Path, what: str) -> DamagedRunError:
    n = readable_rows(path)
    rows = f"{n} rows can still be read" if n else "no row can be read"
    return DamagedRunError(
        f"{path} is damaged ({what}); {rows}; it was left as it is: restore it from a copy, "
        "or run into another directory"
    )


def _connect_for_check(path: Path, *, salvage: bool = False) -> sqlite3.Connection:
    # Without a write-ahead log, ``immutable`` reads the file as it is and creates no -shm/-wal
    # file beside it; with one, the log holds committed rows, so it must be read (its -shm file
    # exists already then).
    wal = path.with_name(path.name + "-wal")
    flags = "mode=ro" if wal.exists() else "mode=ro&immutable=1"
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?{flags}", uri=True, isolation_level=None)
    if salvage:
        # Lets SQLite open a file shorter than its header says (a truncated copy) and read the
        # pages that are there; the connection is read-only, so nothing is written.
        conn.execute("PRAGMA writable_schema=ON")
    conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # reads the header now
    return conn


def _expected_size(header: bytes) -> int | None:
    """Page size x page count from the header, when the header's page count is valid (its
    change counter equals its version-valid-for number, as SQLite writes it since 3.7.0)."""
    if len(header) < _HEADER:
        return None
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    if pages == 0 or header[24:28] != header[92:96]:
        return None
    return page_size * pages
