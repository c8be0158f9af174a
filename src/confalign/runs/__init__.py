"""The run store: a run directory with a manifest and an SQLite database of per-example results,
written batch by batch as they are produced, so an interrupted run resumes and loses nothing.

Read API (for reports)::

    from confalign.runs import RunStore, export

    with RunStore.open(run_dir) as store:  # checks the directory first (DamagedRunError)
        store.manifest                  # manifest.json as a dict (identity, versions, status...)
        store.datasets()                # ["mmlu", ...]
        store.method_keys("mmlu")       # ["choice", "verbalized/probability/prefill", ...]
        store.rows("mmlu")              # list[ResultRow]: dataset, order, subject, key, result
        store.frame()                   # pandas.DataFrame, one column per ResultRow field
    export(run_dir, "results.parquet")  # or .csv / .jsonl

Output directories of other commands (``confalign train``) use ``check_output_dir``,
``make_output_dir`` and ``writing`` (``confalign.runs.outdir``); whole files and folders (atomic
writes, checksummed caches, sealed checkpoints) come from ``confalign.runs.atomic``.
Every error here is a ``RunStoreError`` (a ``ValueError``) whose message names the path.
"""

from confalign.runs.atomic import (
    atomic_dir,
    atomic_write,
    jsonl_appender,
    notice,
    read_checked,
    seal_dir,
    seal_problem,
    write_checked,
)
from confalign.runs.database import DB_NAME
from confalign.runs.errors import DamagedRunError, OutputDirError, RunStoreError, RunWriteError
from confalign.runs.export import export
from confalign.runs.manifest import (
    LEGACY_GRADING,
    MANIFEST_NAME,
    canonical,
    check_manifest,
    content_hash,
    redact,
    stable_hash,
    stored_grading,
)
from confalign.runs.outdir import (
    check_output_dir,
    make_output_dir,
    writing,
)
from confalign.runs.rows import COLUMNS, RECALIBRATED, ResultRow, is_recalibrated
from confalign.runs.store import ConfigMismatchError, RunStore

__all__ = [
    "COLUMNS",
    "DB_NAME",
    "LEGACY_GRADING",
    "MANIFEST_NAME",
    "RECALIBRATED",
    "ConfigMismatchError",
    "DamagedRunError",
    "OutputDirError",
    "ResultRow",
    "RunStore",
    "RunStoreError",
    "RunWriteError",
    "atomic_dir",
    "atomic_write",
    "canonical",
    "check_manifest",
    "check_output_dir",
    "content_hash",
    "export",
    "is_recalibrated",
    "jsonl_appender",
    "make_output_dir",
    "notice",
    "read_checked",
    "redact",
    "seal_dir",
    "seal_problem",
    "stable_hash",
    "stored_grading",
    "write_checked",
    "writing",
]
