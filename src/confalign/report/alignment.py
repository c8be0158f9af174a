"""Cv–Ci alignment of a run: each verbalized format × mode against each internal method on the
examples both scored, and against ``answer_ci``, the internal probability of the verbalized
answer on the same prompt (DCA's pairing), with the DCA metrics of ``confalign.metrics``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from confalign.report import _metrics
from confalign.report.estimates import ReportOptions, estimate, is_usable
from confalign.runs import ResultRow, is_recalibrated

SAME_PROMPT = "answer_ci"  # the internal side of DCA's pairing, read from a verbalized record


@dataclass(frozen=True)
class PairArrays:
    """Cv and Ci of the same examples, for one verbalized key against one internal key."""

    cv: np.ndarray  # (n,) float64
    ci: np.ndarray  # (n,) float64
    correct: np.ndarray  # (n,) float64: the verbalized answer's correctness


def alignment_section(
    by_key: Mapping[str, Sequence[ResultRow]], options: ReportOptions
) -> tuple[list[dict[str, Any]], dict[tuple[str, str], PairArrays]]:
    """Cv–Ci alignment of every verbalized key against every internal key (and ``answer_ci``),
    recalibrated keys left out."""
    # A recalibrated key (choice+platt) maps an elicited confidence; pairs are elicited only.
    elicited = {k: rows for k, rows in by_key.items() if not is_recalibrated(k)}
    verbal = [k for k, rows in elicited.items() if rows[0].kind == "verbalized"]
    internal = [k for k, rows in elicited.items() if rows[0].kind == "internal"]
    fns = _metrics.alignment_functions()
    entries: list[dict[str, Any]] = []
    pairs: dict[tuple[str, str], PairArrays] = {}
    for v in verbal:
        for i in [SAME_PROMPT, *internal]:
            pair, agree = paired(by_key[v], None if i == SAME_PROMPT else by_key[i])
            entry: dict[str, Any] = {
                "verbalized": v,
                "internal": i,
                "n": len(pair.cv),
                "answers_agree": agree,
                "metrics": {},
            }
            if len(pair.cv) >= 2:
                values = _metrics.alignment(pair.cv, pair.ci)
                entry["metrics"] = {
                    name: estimate(value, fns.get(name), (pair.cv, pair.ci), options)
                    for name, value in values.items()
                }
            if i == SAME_PROMPT and not len(pair.cv):
                continue  # a mode that records no same-prompt Ci (free)
            entries.append(entry)
            pairs[(v, i)] = pair
    return entries, pairs


def paired(
    verbal: Sequence[ResultRow], internal: Sequence[ResultRow] | None
) -> tuple[PairArrays, float | None]:
    """Cv and Ci on the examples both have; ``internal=None`` reads Ci from each verbalized
    record's ``extra["answer_ci"]``. Also the share of pairs whose two answers are the same."""
    by_id = {r.example_id: r for r in internal} if internal is not None else {}
    cv, ci, correct, same = [], [], [], []
    for row in verbal:
        if not is_usable(row):
            continue
        if internal is None:
            value = row.extra.get(SAME_PROMPT) if isinstance(row.extra, Mapping) else None
            other_prediction = row.prediction
        else:
            other = by_id.get(row.example_id)
            value = None if other is None else other.confidence
            other_prediction = "" if other is None else other.prediction
        if value is None:
            continue
        cv.append(row.confidence)
        ci.append(float(value))
        correct.append(float(bool(row.correct)))
        same.append(row.prediction.strip() == other_prediction.strip())
    arrays = PairArrays(*(np.array(a, dtype=np.float64) for a in (cv, ci, correct)))
    return arrays, (float(np.mean(same)) if same else None)
