"""Local JSONL, JSON, CSV/TSV and Parquet files in confalign's schema, or mapped onto it.

The schema, one record per question (only ``question`` and ``gold`` are required):

======== ==============================================================================
id       unique string (a number is written out); default ``<file stem>-<row>``
question the question text
choices  multiple choice: a list of option texts (in CSV a JSON list ``["3", "4"]``), or
         option columns ``A``, ``B``, ``C``, ... (read up to the first empty one); none or
         empty: open QA
gold     multiple choice: the option index from 0 (an integer, or digits in CSV), the option
         letter (``"B"``), or the option text; open QA: the answer text
aliases  open QA: other accepted answers, a list (in CSV a JSON list or ``a|b|c``)
subject  optional label used by ``subjects=`` and stratified sampling
split    optional split label, filtered by ``split=``
match    optional open-QA matching mode: ``text`` (default), ``numeric`` or ``fraction``
======== ==============================================================================

Other columns are ignored. A gold given as digits is an index when it is in range; if it is also
the text of a different option (options ``["1", "2"]``, gold ``"1"``) it is ambiguous and
rejected: write the letter.

``column_map`` renames: ``{"question": "q", "gold": "label", "choices": ["opa", "opb"]}`` reads
our ``question`` from column ``q`` and so on; ``choices`` may map to one list column or a list of
option columns. Bad rows are reported together (see ``confalign.data.rows``).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from confalign.data.example import LETTERS, MATCH_MODES, QAExample
from confalign.data.rows import BadRow, Converter, LoadResult, RowProblem, convert_rows, text

FIELDS = ("id", "question", "choices", "gold", "aliases", "subject", "split", "match")
SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet", ".pq")
ColumnMap = Mapping[str, str | Sequence[str]]


def parse_column_map(text: str) -> dict[str, str | tuple[str, ...]]:
    """``"question=q,gold=label,choices=opa|opb|opc"`` -> a ``column_map`` (the CLI's form):
    ``field=column`` pairs, ``choices`` optionally several option columns joined by ``|``."""
    mapping: dict[str, str | tuple[str, ...]] = {}
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        field, sep, column = (part.strip() for part in item.partition("="))
        if not sep or not field or not column:
            raise ValueError(f"column map: expected FIELD=COLUMN, got {item!r}")
        if field not in FIELDS:
            raise ValueError(f"column map: unknown field {field!r}; fields: {', '.join(FIELDS)}")
        columns = tuple(c.strip() for c in column.split("|"))
        mapping[field] = columns if field == "choices" and len(columns) > 1 else column
    return mapping


def _jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    with path.open(encoding="utf-8-sig") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, BadRow("json", f"invalid JSON ({exc.msg} at column {exc.colno})")


def _json(path: Path) -> Iterator[tuple[int, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        yield exc.lineno, BadRow("json", f"invalid JSON ({exc.msg} at column {exc.colno})")
        return
    if not isinstance(data, list):
        yield 1, BadRow("json", "a .json file must hold a list of records (or use .jsonl)")
        return
    yield from enumerate(data, start=1)


def _csv(path: Path, delimiter: str) -> Iterator[tuple[int, Any]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        yield from enumerate(csv.DictReader(f, delimiter=delimiter), start=1)


def _parquet(path: Path) -> Iterator[tuple[int, Any]]:
    import pyarrow.parquet as pq

    yield from enumerate(pq.read_table(path).to_pylist(), start=1)


def read_rows(path: Path) -> Iterator[tuple[int, Any]]:
    """``(row number, raw record)`` pairs of a file, by its suffix."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return _jsonl(path)
    if suffix == ".json":
        return _json(path)
    if suffix in (".csv", ".tsv"):
        return _csv(path, "\t" if suffix == ".tsv" else ",")
    if suffix in (".parquet", ".pq"):
        return _parquet(path)
    raise ValueError(f"{path}: unknown file type {suffix!r}; use one of {', '.join(SUFFIXES)}")


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _as_list(field: str, value: Any, *, pipes: bool) -> list[str]:
    """A list value, a JSON list in a string, or (``pipes``) an ``a|b|c`` string."""
    if isinstance(value, str):
        s = value.strip()
        if s.startswith("["):
            try:
                value = json.loads(s)
            except json.JSONDecodeError as exc:
                raise RowProblem(field, f"invalid JSON list ({exc.msg})") from None
        elif pipes:
            return [part.strip() for part in s.split("|") if part.strip()]
        else:
            raise RowProblem(field, 'expected a list (in CSV: a JSON list such as ["a", "b"])')
    if not isinstance(value, list | tuple):
        raise RowProblem(field, f"expected a list, got {type(value).__name__}")
    items = []
    for i, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise RowProblem(field, f"item {i} is {type(item).__name__}, not text")
        items.append(str(item).strip())
    return items


class _Mapper:
    """Reads our fields from one raw record through the column map."""

    def __init__(self, column_map: ColumnMap | None) -> None:
        column_map = dict(column_map or {})
        unknown = sorted(set(column_map) - set(FIELDS))
        if unknown:
            raise ValueError(f"column_map: unknown field(s) {unknown}; known: {', '.join(FIELDS)}")
        for key, col in column_map.items():
            if key != "choices" and not isinstance(col, str):
                raise ValueError(f"column_map[{key!r}] must be a column name, got {col!r}")
        self.columns = column_map

    def label(self, key: str) -> str:
        col = self.columns.get(key, key)
        return key if col == key else f"{key} (column {col!r})"

    def value(self, row: Mapping[str, Any], key: str) -> Any:
        col = self.columns.get(key, key)
        return row.get(col) if isinstance(col, str) else None

    def choices(self, row: Mapping[str, Any]) -> list[str]:
        col = self.columns.get("choices", "choices")
        if not isinstance(col, str):
            missing = [c for c in col if c not in row]
            if missing:
                raise RowProblem(self.label("choices"), f"missing option column(s) {missing}")
            return [str(row[c]).strip() for c in col if _present(row[c])]
        if _present(row.get(col)):
            return _as_list(self.label("choices"), row[col], pipes=False)
        options = []
        for letter in LETTERS:
            if not _present(row.get(letter)):
                break
            options.append(str(row[letter]).strip())
        return options


def _gold_index(label: str, gold: Any, choices: list[str]) -> int:
    if isinstance(gold, bool):
        raise RowProblem(label, f"expected an index, letter or option text, got {gold!r}")
    if isinstance(gold, int):
        return gold
    if isinstance(gold, float) and gold.is_integer():
        return int(gold)
    g = str(gold).strip()
    if len(g) == 1 and g in LETTERS[: len(choices)]:
        return LETTERS.index(g)
    if g.isdigit() and int(g) < len(choices):
        if g in choices and choices.index(g) != int(g):
            raise RowProblem(label, f"{g!r} is both an index and an option text; use a letter")
        return int(g)
    if g in choices:
        return choices.index(g)
    if g.isdigit():
        return int(g)  # out of range: validation reports it
    raise RowProblem(label, f"{g!r} is not an option index, letter or option text")


def schema_converter(stem: str, column_map: ColumnMap | None = None) -> Converter:
    """A converter from records in our schema (through ``column_map``) to ``QAExample``."""
    m = _Mapper(column_map)

    def field_text(mapped: Mapping[str, Any], key: str) -> str:
        try:
            return text(mapped, key)
        except RowProblem as p:
            raise RowProblem(m.label(key), p.problem) from None

    def convert(row: Mapping[str, Any], number: int) -> QAExample:
        if not isinstance(row, Mapping):
            raise RowProblem("row", f"expected an object, got {type(row).__name__}")
        mapped = {k: m.value(row, k) for k in FIELDS if k != "choices"}
        for key in ("question", "gold"):
            if not _present(mapped[key]):
                raise RowProblem(m.label(key), "missing or empty")
        choices = m.choices(row)
        example_id = field_text(mapped, "id") if _present(mapped["id"]) else f"{stem}-{number}"
        match = str(mapped["match"]).strip() if _present(mapped["match"]) else "text"
        if match not in MATCH_MODES:
            raise RowProblem(m.label("match"), f"must be one of {MATCH_MODES}, got {match!r}")
        aliases: list[str] = []
        if _present(mapped["aliases"]):
            aliases = _as_list(m.label("aliases"), mapped["aliases"], pipes=True)
        gold: int | str = (
            _gold_index(m.label("gold"), mapped["gold"], choices)
            if choices
            else field_text(mapped, "gold")
        )
        return QAExample(
            id=example_id,
            question=field_text(mapped, "question"),
            choices=tuple(choices),
            gold=gold,
            aliases=tuple(aliases),
            subject=field_text(mapped, "subject") if _present(mapped["subject"]) else "",
            split=field_text(mapped, "split") if _present(mapped["split"]) else "",
            meta={"match": match} if match != "text" else {},
        )

    return convert


def load_file(
    path: str | Path, *, column_map: ColumnMap | None = None, split: str | None = None
) -> LoadResult:
    """Every valid example of a local file (``split``: keep rows with that ``split`` value)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such dataset file: {path}")
    convert = schema_converter(p.stem, column_map)
    result = convert_rows(
        read_rows(p), convert, name=str(path), source=str(path), split=split or ""
    )
    if split is None:
        return result
    if not any(ex.split for ex in result.examples):
        raise ValueError(f"{path}: split={split!r} asked for, but the file has no 'split' column")
    kept = [ex for ex in result.examples if ex.split == split]
    if not kept:
        found = sorted({ex.split for ex in result.examples})
        raise ValueError(f"{path}: no rows with split {split!r}; the file has {found}")
    return LoadResult(result.name, result.source, split, kept, result.skipped, len(kept))
