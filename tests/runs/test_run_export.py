"""Exports hold exactly the stored rows, in every format."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from runs_helpers import IDENTITY, make_records, to_rows

from confalign.runs import COLUMNS, ResultRow, RunStore, export


@pytest.fixture
def run(tmp_path: Path) -> Path:
    run_dir = tmp_path / "run"
    with RunStore.create(run_dir, IDENTITY) as s:
        s.write(to_rows(make_records()))
        s.write(to_rows(make_records()[:1], dataset="other"))
    return run_dir


def stored(run: Path, **filters: str) -> list[dict]:
    with RunStore.open(run) as s:
        return [r.to_dict() for r in s.rows(**filters)]


def from_csv(path: Path) -> list[dict]:
    out = []
    with path.open(newline="", encoding="utf-8") as fh:
        for raw in csv.DictReader(fh):
            d: dict = {k: (None if v == "" else v) for k, v in raw.items()}
            d["example_order"] = int(d["example_order"])
            d["generated_tokens"] = int(d["generated_tokens"])
            d["confidence"] = None if d["confidence"] is None else float(d["confidence"])
            for b in ("correct", "parse_failed", "ambiguous"):
                d[b] = None if d[b] is None else d[b] == "True"
            d["probs"] = None if d["probs"] is None else json.loads(d["probs"])
            d["extra"] = json.loads(d["extra"])
            for s in ("format", "mode", "subject", "prediction", "gold", "rule"):
                d[s] = d[s] or ""
            out.append(d)
    return out


def test_jsonl_equals_stored_rows(run: Path, tmp_path: Path) -> None:
    path = export(run, tmp_path / "out" / "r.jsonl")
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    assert lines == stored(run)
    assert [ResultRow(**{**d, "probs": d["probs"] and tuple(d["probs"])}) for d in lines] == [
        ResultRow(**{**d, "probs": d["probs"] and tuple(d["probs"])}) for d in stored(run)
    ]


def test_csv_equals_stored_rows(run: Path, tmp_path: Path) -> None:
    path = export(run, tmp_path / "r.csv")
    assert from_csv(path) == stored(run)


def test_parquet_equals_stored_rows(run: Path, tmp_path: Path) -> None:
    path = export(run, tmp_path / "r.parquet")
    table = pq.read_table(path)
    assert table.column_names == list(COLUMNS)
    assert pa.types.is_list(table.schema.field("probs").type)
    rows = table.to_pylist()
    for d in rows:
        d["extra"] = json.loads(d["extra"])
    assert rows == stored(run)


def test_export_filters_and_unknown_suffix(run: Path, tmp_path: Path) -> None:
    path = export(run, tmp_path / "c.jsonl", dataset="mmlu", method_key="choice")
    assert (
        len(path.read_text().splitlines())
        == 2
        == len(stored(run, dataset="mmlu", method_key="choice"))
    )
    with pytest.raises(ValueError, match=r"unknown suffix\. Known: \.csv, \.jsonl, \.parquet"):
        export(run, tmp_path / "r.xlsx")
