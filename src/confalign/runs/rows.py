"""``ResultRow``: one stored result, a ``ConfidenceRecord`` plus where and by what it was made.

The run store depends on nothing else of confalign: it reads records by their attribute names
(the ``ConfidenceRecord`` fields) and builds ``ConfidenceRecord`` values only when asked to.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from confalign.runs.manifest import json_default

if TYPE_CHECKING:
    from confalign.confidence.base import ConfidenceRecord

# The ConfidenceRecord fields, in their declared order.
RECORD_FIELDS = (
    "example_id",
    "method",
    "kind",
    "prediction",
    "correct",
    "confidence",
    "format",
    "mode",
    "probs",
    "raw_text",
    "parse_failed",
    "ambiguous",
    "generated_tokens",
    "extra",
)


@dataclass(frozen=True)
class ResultRow:
    """One row of the run store.

    ``dataset``: the dataset name as given to the eval (registry name or file path).
    ``example_order``: the example's position in the loaded dataset (0-based), so reports can
    restore the data's order. ``subject``: the example's subject ("" if none). ``config_key``:
    a short hash of what produced the row (model, adapter hash, backend, the extractor's settings
    and prompts, seed). ``method_key``: ``ConfidenceRecord.key`` (``verbalized/probability/
    prefill``). The remaining fields are the ``ConfidenceRecord``'s.
    """

    dataset: str
    example_order: int
    example_id: str
    subject: str
    config_key: str
    method_key: str
    method: str
    kind: str
    prediction: str
    correct: bool | None
    confidence: float | None
    format: str = ""
    mode: str = ""
    probs: tuple[float, ...] | None = None
    raw_text: str | None = None
    parse_failed: bool = False
    ambiguous: bool = False
    generated_tokens: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    gold: str = ""

    @classmethod
    def from_record(
        cls,
        record: Any,
        *,
        dataset: str,
        example_order: int,
        subject: str,
        config_key: str,
        gold: str = "",
    ) -> ResultRow:
        """Wrap a ``ConfidenceRecord`` (or anything with its attributes), normalising types."""
        values = {name: getattr(record, name) for name in RECORD_FIELDS}
        return cls(
            dataset=dataset,
            example_order=int(example_order),
            subject=subject,
            config_key=config_key,
            gold=gold,
            method_key=str(record.key),
            **_normalise(values),
        )

    def to_record(self) -> ConfidenceRecord:
        """The ``ConfidenceRecord`` this row stores."""
        from confalign.confidence.base import ConfidenceRecord

        values = {name: getattr(self, name) for name in RECORD_FIELDS}
        return ConfidenceRecord(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain Python values: ``probs`` a list or None, ``extra`` a dict."""
        out = asdict(self)
        out["probs"] = None if self.probs is None else list(self.probs)
        out["extra"] = dict(self.extra)
        return out


COLUMNS = tuple(f.name for f in fields(ResultRow))
#: Joins a method key and a recalibration map: ``choice+platt`` (``confalign recalibrate``).
RECALIBRATED = "+"


def is_recalibrated(method_key: str) -> bool:
    """Whether a method key names recalibrated confidences (``choice+platt``), not elicited."""
    return RECALIBRATED in method_key


def _normalise(values: dict[str, Any]) -> dict[str, Any]:
    conf = values["confidence"]
    probs = values["probs"]
    correct = values["correct"]
    values["confidence"] = None if conf is None or math.isnan(float(conf)) else float(conf)
    values["probs"] = None if probs is None else tuple(float(p) for p in probs)
    values["correct"] = None if correct is None else bool(correct)
    values["parse_failed"] = bool(values["parse_failed"])
    values["ambiguous"] = bool(values["ambiguous"])
    values["generated_tokens"] = int(values["generated_tokens"])
    # Round-trip extra through JSON now so that what is stored is what is read back.
    values["extra"] = json.loads(dumps(dict(values["extra"] or {})))
    return values


def dumps(value: Any) -> str:
    """Canonical JSON (sorted keys, numpy values converted) as stored in the database."""
    return json.dumps(value, sort_keys=True, default=json_default, ensure_ascii=False)
