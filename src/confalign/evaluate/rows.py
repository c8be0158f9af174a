"""``ConfidenceRecord`` <-> ``ResultRow``: the conversion between what extractors return and
what the run store keeps, on the caller's side so that ``runs`` depends on nothing of ours."""

from __future__ import annotations

from dataclasses import fields

from confalign.confidence.base import ConfidenceRecord
from confalign.runs import ResultRow

# The ConfidenceRecord fields, in their declared order; each is a ResultRow field too.
RECORD_FIELDS = tuple(f.name for f in fields(ConfidenceRecord))


def row_from_record(
    record: ConfidenceRecord,
    *,
    dataset: str,
    example_order: int,
    subject: str,
    config_key: str,
    gold: str = "",
) -> ResultRow:
    """The store row of ``record`` (types normalised: numpy values, NaN confidence -> None)."""
    return ResultRow.of(
        dataset=dataset,
        example_order=example_order,
        subject=subject,
        config_key=config_key,
        gold=gold,
        method_key=record.key,
        **{name: getattr(record, name) for name in RECORD_FIELDS},
    )


def record_from_row(row: ResultRow) -> ConfidenceRecord:
    """The ``ConfidenceRecord`` a stored row holds."""
    return ConfidenceRecord(**{name: getattr(row, name) for name in RECORD_FIELDS})
