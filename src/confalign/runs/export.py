"""Export a run's stored results to Parquet, CSV or JSON Lines, chosen by the file suffix.

Every format holds exactly the stored rows (``RunStore.rows`` order), one column per
``ResultRow`` field:

- ``.parquet``: typed columns; ``probs`` is ``list<double>`` (null when absent), ``correct`` a
  nullable bool, ``confidence`` a nullable double, ``extra`` its JSON text.
- ``.csv``: ``probs`` and ``extra`` as JSON text; an empty cell is null; booleans ``True``/
  ``False``.
- ``.jsonl``: one JSON object per row; ``probs`` a list or null, ``extra`` an object.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from confalign.runs.rows import COLUMNS, ResultRow, dumps
from confalign.runs.store import RunStore


def export(
    run_dir: str | os.PathLike[str],
    path: str | os.PathLike[str],
    *,
    dataset: str | None = None,
    method_key: str | None = None,
) -> Path:
    """Write the rows of ``run_dir`` (optionally one dataset / method key) to ``path``."""
    out = Path(path)
    writer = _WRITERS.get(out.suffix.lower())
    if writer is None:
        known = ", ".join(sorted(_WRITERS))
        raise ValueError(f"cannot export to {out.name!r}: unknown suffix. Known: {known}")
    with RunStore.open(run_dir) as store:
        rows = store.rows(dataset, method_key)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer(rows, out)
    return out


def _write_jsonl(rows: Sequence[ResultRow], out: Path) -> None:
    with out.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(dumps(row.to_dict()) + "\n")


def _write_csv(rows: Sequence[ResultRow], out: Path) -> None:
    with out.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for row in rows:
            values = row.to_dict()
            values["probs"] = None if row.probs is None else json.dumps(list(row.probs))
            values["extra"] = dumps(values["extra"])
            writer.writerow(["" if values[c] is None else values[c] for c in COLUMNS])


def _write_parquet(rows: Sequence[ResultRow], out: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {
        "example_order": pa.int64(),
        "correct": pa.bool_(),
        "confidence": pa.float64(),
        "probs": pa.list_(pa.float64()),
        "parse_failed": pa.bool_(),
        "ambiguous": pa.bool_(),
        "generated_tokens": pa.int64(),
    }
    schema = pa.schema([(c, types.get(c, pa.string())) for c in COLUMNS])
    columns: dict[str, list[object]] = {c: [] for c in COLUMNS}
    for row in rows:
        values = row.to_dict()
        values["extra"] = dumps(values["extra"])
        for c in COLUMNS:
            columns[c].append(values[c])
    pq.write_table(pa.table(columns, schema=schema), out)


_WRITERS: dict[str, Callable[[Sequence[ResultRow], Path], None]] = {
    ".csv": _write_csv,
    ".jsonl": _write_jsonl,
    ".parquet": _write_parquet,
}
