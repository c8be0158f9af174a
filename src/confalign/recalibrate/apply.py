"""Apply fitted maps to the stored rows of an evaluated run: one new row per (example, map).

A recalibrated row is the base row with the new confidence under the key ``<base key>+<map>``
(``choice+platt``): the same example, prediction and correctness, so every metric, table and
figure of the report reads it like any method. A base row with no confidence (a failed
extraction) stays failed, so the failure rate is the base method's. ``probs`` is kept only by
``temperature`` (the rescaled option distribution, for SCE); a map of the top confidence
leaves the other options undefined, so it stores none. ``extra`` records the map and the base
confidence.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from confalign.metrics import TemperatureScaling
from confalign.recalibrate.fit import MapEntry, Recalibration, option_scores, usable
from confalign.runs import ResultRow


def apply_maps(
    recalibration: Recalibration, rows_by_dataset: Mapping[str, Sequence[ResultRow]]
) -> list[ResultRow]:
    """The recalibrated rows of every map whose (dataset, method key) has rows here."""
    out: list[ResultRow] = []
    for entry in recalibration.entries:
        rows = [
            r for r in rows_by_dataset.get(entry.dataset, ()) if r.method_key == entry.method_key
        ]
        if rows:
            out += apply_entry(entry, rows)
    return out


def apply_entry(entry: MapEntry, rows: Sequence[ResultRow]) -> list[ResultRow]:
    """``rows`` (one method key) under ``entry``'s map, in the same order."""
    used = [r for r in rows if usable(r)]
    values, probs = _transform(entry, used)
    new: dict[str, tuple[float, tuple[float, ...] | None]] = {
        r.example_id: (float(v), p) for r, v, p in zip(used, values, probs, strict=True)
    }
    out = []
    for row in rows:
        confidence, p = new.get(row.example_id, (None, None))
        extra = {
            "recalibration": {"map": entry.map, "base": entry.method_key},
            "base_confidence": row.confidence,
        }
        if entry.map == "temperature":
            extra["temperature"] = _temperature(entry)
        out.append(
            dataclasses.replace(
                row,
                method_key=entry.key,
                confidence=confidence,
                probs=p,
                raw_text=None,
                generated_tokens=0,
                extra=extra,
            )
        )
    return out


def _transform(
    entry: MapEntry, rows: Sequence[ResultRow]
) -> tuple[np.ndarray, list[tuple[float, ...] | None]]:
    if not rows:
        return np.zeros(0), []
    if entry.map != "temperature":
        confidence = np.array([r.confidence for r in rows], dtype=np.float64)
        return entry.fitted.transform(confidence), [None] * len(rows)
    scores = [option_scores(r) for r in rows]
    missing = next((r.example_id for r, s in zip(rows, scores, strict=True) if s is None), None)
    if missing is not None:
        raise ValueError(
            f"temperature of {entry.method_key}: example {missing!r} has no option log-scores"
        )
    # Rows may differ in their number of options: one softmax per row.
    probs = [entry.fitted.transform(s[None, :])[0] for s in scores if s is not None]
    # The prediction is the base argmax, which a temperature does not move: Ci = max p.
    return np.array([p.max() for p in probs]), [tuple(float(x) for x in p) for p in probs]


def _temperature(entry: MapEntry) -> float | None:
    return entry.fitted.temperature if isinstance(entry.fitted, TemperatureScaling) else None
