"""Fit recalibration maps per (dataset, method key) on the stored rows of a calibration set.

``fit_maps`` reads the usable rows (a confidence and a correctness) of each method key and
fits every requested map; ``Recalibration`` holds the maps, where they were fitted and on
which example ids (so applying them elsewhere can refuse an overlap), and reads and writes
itself as JSON (``recalibration.json``). Pure functions of rows: no file is read here except
by ``Recalibration.load``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from confalign.recalibrate import maps as maps_
from confalign.runs import RECALIBRATED, ResultRow

FORMAT = "confalign-recalibration/1"
FILE_NAME = "recalibration.json"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class RecalibrationError(ValueError):
    """A fit or apply that cannot be done as asked (overlap, single class, bad file...)."""


def recalibrated_key(method_key: str, map_name: str) -> str:
    """``verbalized/score_number/distribution`` + ``isotonic`` ->
    ``verbalized/score_number/distribution+isotonic``."""
    return f"{method_key}{RECALIBRATED}{map_name}"


@dataclass(frozen=True)
class MapEntry:
    """One fitted map: of ``method_key`` on ``dataset``, fitted on ``n_fit`` examples of which
    ``n_fit_correct`` were right (for ``temperature``: labelled with their gold option)."""

    dataset: str
    method_key: str
    map: str
    fitted: maps_.FittedMap
    n_fit: int
    n_fit_correct: int

    @property
    def key(self) -> str:
        return recalibrated_key(self.method_key, self.map)


@dataclass(frozen=True)
class Recalibration:
    """Fitted maps, where they came from (``source``: JSON-like), and the fit example ids per
    dataset. ``skipped``: (dataset, method key, map, why) that were asked for and not fitted."""

    entries: tuple[MapEntry, ...]
    source: Mapping[str, Any]
    fit_ids: Mapping[str, tuple[str, ...]]
    skipped: tuple[tuple[str, str, str, str], ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "source": dict(self.source),
            "maps": [
                {
                    "dataset": e.dataset,
                    "method_key": e.method_key,
                    "map": e.map,
                    "key": e.key,
                    "params": maps_.to_json(e.fitted),
                    "n_fit": e.n_fit,
                    "n_fit_correct": e.n_fit_correct,
                }
                for e in self.entries
            ],
            "skipped": [
                {"dataset": d, "method_key": k, "map": m, "reason": why}
                for d, k, m, why in self.skipped
            ],
            "fit_ids": {d: list(ids) for d, ids in self.fit_ids.items()},
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Recalibration:
        """Read a ``recalibration.json``; raises ``RecalibrationError`` naming the problem."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise RecalibrationError(f"cannot read {path}: {exc.strerror or exc}") from None
        except json.JSONDecodeError as exc:
            raise RecalibrationError(f"{path} is not JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise RecalibrationError(f"{path} is not a {FORMAT} file")
        entries = []
        for i, m in enumerate(data.get("maps", [])):
            try:
                fitted = maps_.from_json(m["map"], m["params"])
                entries.append(
                    MapEntry(
                        m["dataset"],
                        m["method_key"],
                        m["map"],
                        fitted,
                        int(m["n_fit"]),
                        int(m["n_fit_correct"]),
                    )
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise RecalibrationError(f"{path}: maps[{i}]: {exc}") from None
        fit_ids = {str(d): tuple(map(str, ids)) for d, ids in data.get("fit_ids", {}).items()}
        return cls(tuple(entries), data.get("source", {}), fit_ids)


@dataclass(frozen=True)
class FitArrays:
    """The usable rows of one method key: confidences, correctness, and (where every row has
    them) option log-scores (n, K) and gold option indices (n,)."""

    example_ids: tuple[str, ...]
    confidence: np.ndarray
    correct: np.ndarray
    scores: np.ndarray | None
    labels: np.ndarray | None


def option_scores(row: ResultRow) -> np.ndarray | None:
    """The option log-scores of an internal multiple-choice row: ``extra["scores"]`` where
    stored, else ``log(probs)`` (the same up to a per-row constant, which softmax ignores)."""
    if row.kind != "internal" or row.probs is None:
        return None
    stored = row.extra.get("scores") if isinstance(row.extra, Mapping) else None
    if isinstance(stored, list) and len(stored) == len(row.probs):
        scores = np.array(stored, dtype=np.float64)
    else:
        with np.errstate(divide="ignore"):
            scores = np.log(np.array(row.probs, dtype=np.float64))
    # An option with no mass (-inf) stays at zero probability under any temperature.
    return np.maximum(scores, -1e300)


def gold_index(row: ResultRow) -> int | None:
    """The gold option's index: the stored gold letter, else ``extra["gold"]``."""
    gold = row.gold.strip()
    if len(gold) == 1 and gold in LETTERS:
        return LETTERS.index(gold)
    stored = row.extra.get("gold") if isinstance(row.extra, Mapping) else None
    if isinstance(stored, int) and not isinstance(stored, bool):
        return stored
    return None


def usable(row: ResultRow) -> bool:
    return row.confidence is not None and row.correct is not None


def fit_arrays(rows: Sequence[ResultRow]) -> FitArrays:
    """The arrays of the usable rows, in stored order."""
    used = [r for r in rows if usable(r)]
    scores = [option_scores(r) for r in used]
    labels = [gold_index(r) for r in used]
    have_options = bool(used) and all(
        s is not None and lab is not None and 0 <= lab < len(s)
        for s, lab in zip(scores, labels, strict=True)
    )
    if have_options and len({len(s) for s in scores if s is not None}) != 1:
        have_options = False
    return FitArrays(
        example_ids=tuple(r.example_id for r in used),
        confidence=np.array([r.confidence for r in used], dtype=np.float64),
        correct=np.array([float(bool(r.correct)) for r in used], dtype=np.float64),
        scores=np.array(scores, dtype=np.float64) if have_options else None,
        labels=np.array(labels, dtype=np.intp) if have_options else None,
    )


def fit_maps(
    rows_by_dataset: Mapping[str, Sequence[ResultRow]],
    wanted: Mapping[str, Sequence[str]],
    map_names: Sequence[str],
    source: Mapping[str, Any],
) -> Recalibration:
    """Fit every map of ``map_names`` to each ``wanted[dataset]`` method key.

    ``temperature`` is skipped (and recorded in ``skipped``) for a key whose rows carry no
    option log-scores or gold options. A fit set with one class refuses every binary map with
    a ``RecalibrationError`` naming the dataset, the method key and the map.
    """
    entries: list[MapEntry] = []
    skipped: list[tuple[str, str, str, str]] = []
    fit_ids: dict[str, tuple[str, ...]] = {}
    for dataset, keys in wanted.items():
        by_key: dict[str, list[ResultRow]] = {}
        for row in rows_by_dataset[dataset]:
            by_key.setdefault(row.method_key, []).append(row)
        fit_ids[dataset] = tuple(sorted({r.example_id for r in rows_by_dataset[dataset]}))
        for key in keys:
            arr = fit_arrays(by_key.get(key, []))
            for name in map_names:
                entry, why = _fit_one(dataset, key, name, arr)
                if entry is not None:
                    entries.append(entry)
                else:
                    skipped.append((dataset, key, name, why))
    return Recalibration(tuple(entries), dict(source), fit_ids, tuple(skipped))


def _fit_one(dataset: str, key: str, name: str, arr: FitArrays) -> tuple[MapEntry | None, str]:
    n = len(arr.confidence)
    if name == "temperature":
        if arr.scores is None or arr.labels is None:
            return None, "no option log-likelihoods with a known gold option"
        fitted = maps_.fit_temperature(arr.scores, arr.labels)
        return MapEntry(dataset, key, name, fitted, n, int(arr.correct.sum())), ""
    n_correct = int(arr.correct.sum())
    if n == 0 or n_correct in (0, n):
        only = (
            "no examples" if n == 0 else "only right answers" if n_correct else "only wrong answers"
        )
        raise RecalibrationError(
            f"{name} is undefined for {dataset} / {key}: its fit set has {only} "
            f"({n_correct} of {n} correct)"
        )
    fitted = maps_.fit_binary(name, arr.confidence, arr.correct)
    return MapEntry(dataset, key, name, fitted, n, n_correct), ""


def check_overlap(
    fit_ids: Mapping[str, Sequence[str]],
    eval_ids: Mapping[str, Sequence[str]],
) -> dict[str, int]:
    """``dataset -> number of example ids in both`` for the datasets where it is not zero."""
    out = {}
    for dataset, ids in eval_ids.items():
        both = set(ids) & set(fit_ids.get(dataset, ()))
        if both:
            out[dataset] = len(both)
    return out
