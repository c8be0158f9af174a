"""``ResultRow``: one stored result, with where and by what it was made.

Plain values only: the run store depends on nothing else of confalign. The conversion from and
to ``confalign.confidence.ConfidenceRecord`` lives with the caller (``confalign.evaluate.rows``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from confalign.runs.manifest import json_default


@dataclass(frozen=True)
class ResultRow:
    """One row of the run store.

    ``dataset``: the dataset name as given to the eval (registry name or file path).
    ``example_order``: the example's position in the loaded dataset (0-based), so reports can
    restore the data's order. ``subject``: the example's subject ("" if none). ``config_key``:
    a short hash of what produced the row (model, adapter hash, backend, the extractor's settings
    and prompts, seed). ``method_key``: the method variant (``verbalized/probability/prefill``).
    The remaining fields are those of ``confalign.confidence.ConfidenceRecord``; ``gold``: the
    gold letter (multiple choice) or answer text; ``rule``: the grading rule that decided
    ``correct`` (``letter``, ``exact``, ``contains``, ``numeric``, ``judge``; "" when there was
    no answer, or in a run stored before rules were recorded).
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
    rule: str = ""

    @classmethod
    def of(cls, **values: Any) -> ResultRow:
        """A row from loosely typed values (numpy scalars, a list of probs, a NaN confidence,
        ``extra`` with numpy values), normalised to exactly what the store reads back."""
        return cls(**_normalise(values))

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
    values["example_order"] = int(values["example_order"])
    conf = values["confidence"]
    probs = values.get("probs")
    correct = values["correct"]
    values["confidence"] = None if conf is None or math.isnan(float(conf)) else float(conf)
    values["probs"] = None if probs is None else tuple(float(p) for p in probs)
    values["correct"] = None if correct is None else bool(correct)
    for name in ("parse_failed", "ambiguous"):
        values[name] = bool(values.get(name, False))
    values["generated_tokens"] = int(values.get("generated_tokens", 0))
    # Round-trip extra through JSON now so that what is stored is what is read back.
    values["extra"] = json.loads(dumps(dict(values.get("extra") or {})))
    return values


def dumps(value: Any) -> str:
    """Canonical JSON (sorted keys, numpy values converted) as stored in the database."""
    return json.dumps(value, sort_keys=True, default=json_default, ensure_ascii=False)
