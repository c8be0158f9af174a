"""The run store: a run directory with a manifest and an SQLite database of per-example results,
written batch by batch as they are produced, so an interrupted run resumes and loses nothing.

Read API (for reports)::

    from confalign.runs import RunStore, export

    with RunStore.open(run_dir) as store:
        store.manifest                  # manifest.json as a dict (identity, versions, status...)
        store.datasets()                # ["mmlu", ...]
        store.method_keys("mmlu")       # ["choice", "verbalized/probability/prefill", ...]
        store.records("mmlu", "choice") # list[ConfidenceRecord]
        store.rows("mmlu")              # list[ResultRow]: records + dataset, order, subject, key
        store.frame()                   # pandas.DataFrame, one column per ResultRow field
    export(run_dir, "results.parquet")  # or .csv / .jsonl
"""

from confalign.runs.export import export
from confalign.runs.manifest import MANIFEST_NAME, canonical, content_hash, redact, stable_hash
from confalign.runs.rows import COLUMNS, RECALIBRATED, ResultRow, is_recalibrated
from confalign.runs.store import (
    DB_NAME,
    ConfigMismatchError,
    RunStore,
    RunStoreError,
)

__all__ = [
    "COLUMNS",
    "DB_NAME",
    "MANIFEST_NAME",
    "RECALIBRATED",
    "ConfigMismatchError",
    "ResultRow",
    "RunStore",
    "RunStoreError",
    "canonical",
    "content_hash",
    "export",
    "is_recalibrated",
    "redact",
    "stable_hash",
]
