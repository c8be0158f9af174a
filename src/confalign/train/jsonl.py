"""Training data files: one dataclass record per JSONL line (triplets, labelled answers), so a
user can read, filter or replace what a method trains on."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class RecordsFileError(ValueError):
    """A records file is unreadable or a row lacks a field: the message names file, row, field."""


def write_records(records: Sequence[Any], path: Path) -> None:
    """``records`` (dataclass instances) as JSONL, written whole or not at all, with a checksum
    a rerun checks before reusing it."""
    from confalign.runs import write_checked

    write_checked(path, "".join(json.dumps(asdict(r)) + "\n" for r in records))


def read_records(path: Path, cls: type[T]) -> list[T]:
    """The ``cls`` records of ``path``; a bad row raises ``RecordsFileError`` naming it."""
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    out = []
    try:
        lines = Path(path).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise RecordsFileError(f"{path}: unreadable ({error})") from None
    for row, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            raise RecordsFileError(f"{path}: row {row}: not JSON ({error.msg})") from None
        missing = [n for n in names if not isinstance(data, dict) or n not in data]
        if missing:
            raise RecordsFileError(f"{path}: row {row}: missing field {missing[0]!r}")
        out.append(cls(**{n: data[n] for n in names}))
    return out
