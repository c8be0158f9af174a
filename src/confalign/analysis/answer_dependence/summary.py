"""Per dataset × format summary of the stored answer-dependence records (JSON-ready).

- ``distribution``: per-question JSD (mean, median, 90th percentile, share <= 0.1, a histogram
  on [0, ln 2] and the values), mean Cv given the correct, the wrong, the own and a blank
  answer, the masking shift ``Cv(blank) - Cv(own)`` (mean and mean absolute), the own answers'
  accuracy; for multiple choice, mean Cv per letter written and the correctness effect with
  the letter held fixed (``_by_written_answer``).
- ``rollout``: the mean share of the confidence position's rollout row per segment, per token
  of the segment (its share divided by its token count, averaged over questions), and among
  the four content segments only (``content_share``: ``other``, where the first token acts as
  an attention sink, left out and the rest renormalised per question).
- ``ig``: per segment, the mean share of absolute attribution (|a| summed over the segment over
  |a| summed over the prompt) and the mean signed attribution; the completeness gap (median and
  largest relative gap, mean |delta|).
- ``seconds_per_question`` of each step.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from confalign.analysis.answer_dependence.config import AnswerDependenceConfig
from confalign.analysis.answer_dependence.segments import ALL_SEGMENTS, SEGMENTS
from confalign.confidence.formats import get_format

JSD_THRESHOLD = 0.1  # the paper: "JSD <= 0.1 for the vast majority of samples"
HIST_BINS = 20
FORMAT = "confalign-answer-dependence/1"


def summarize(
    records: Iterable[Mapping[str, Any]], config: AnswerDependenceConfig
) -> dict[str, Any]:
    """The summary of ``records`` (module doc)."""
    grouped: dict[tuple[str, str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for r in records:
        grouped[r["dataset"], r["format"], r["analysis"]].append(r)
    datasets: dict[str, dict[str, Any]] = {}
    for name in config.datasets:
        datasets[name] = {}
        for fmt in config.formats:
            entry = {
                "distribution": _distribution(
                    grouped.get((name, fmt, "distribution"), []), get_format(fmt).values
                ),
                "rollout": _rollout(grouped.get((name, fmt, "rollout"), [])),
                "ig": _ig(grouped.get((name, fmt, "ig"), [])),
            }
            datasets[name][fmt] = entry
    identity = config.identity()
    return {
        "format": FORMAT,
        "model": identity["model"],
        "settings": {k: v for k, v in identity.items() if k != "model"},
        "segments": list(ALL_SEGMENTS),
        "jsd_threshold": JSD_THRESHOLD,
        "datasets": datasets,
    }


def _mean(values: Sequence[float]) -> float | None:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(finite)) if finite else None


def _distribution(
    rows: Sequence[Mapping[str, Any]], values: Sequence[float]
) -> dict[str, Any] | None:
    if not rows:
        return None
    jsd = np.array([r["jsd"] for r in rows], dtype=np.float64)
    counts, edges = np.histogram(jsd, bins=HIST_BINS, range=(0.0, math.log(2.0)))
    own_correct = [r["own_correct"] for r in rows if r["own_correct"] is not None]
    shift = [r["cv_blank"] - r["cv_own"] for r in rows]
    return {
        "n": len(rows),
        "jsd_mean": float(jsd.mean()),
        "jsd_median": float(np.median(jsd)),
        "jsd_p90": float(np.quantile(jsd, 0.9)),
        "jsd_share_le_threshold": float(np.mean(jsd <= JSD_THRESHOLD)),
        "jsd_histogram": {"edges": edges.tolist(), "counts": counts.tolist()},
        "jsd_values": jsd.tolist(),
        "cv_correct": _mean([r["cv_correct"] for r in rows]),
        "cv_wrong": _mean([r["cv_wrong"] for r in rows]),
        "cv_own": _mean([r["cv_own"] for r in rows]),
        "cv_blank": _mean([r["cv_blank"] for r in rows]),
        "mask_shift": _mean(shift),
        "mask_abs_shift": _mean([abs(s) for s in shift]),
        "own_accuracy": _mean([float(c) for c in own_correct]),
        **_by_written_answer(rows, values),
        "seconds_per_question": _mean([r["seconds"] for r in rows]),
    }


def _by_written_answer(
    rows: Sequence[Mapping[str, Any]], values: Sequence[float]
) -> dict[str, Any]:
    """Multiple choice: mean Cv per letter written into the prefill, and the correctness
    effect with the letter held fixed: the mean over letters of Cv(letter, when it is
    correct) - Cv(letter, when it is wrong). A letter can prime a level of the same name
    (``score_letter``), which the JSD alone cannot tell from answer dependence."""
    cv: dict[tuple[str, bool], list[float]] = defaultdict(list)
    v = np.asarray(values, dtype=np.float64)
    for r in rows:
        answers = [r["correct_answer"], *r["wrong_answers"]]
        if not all(len(a) == 1 and a.isalpha() for a in answers):
            return {}
        cv[r["correct_answer"], True].append(float(np.dot(r["p_correct"], v)))
        for a, p in zip(r["wrong_answers"], r["p_wrong"], strict=True):
            cv[a, False].append(float(np.dot(p, v)))
    letters = sorted({a for a, _ in cv})
    by_letter = {a: _mean(cv[a, True] + cv[a, False]) for a in letters}
    effects = [
        float(np.mean(cv[a, True]) - np.mean(cv[a, False]))
        for a in letters
        if cv[a, True] and cv[a, False]
    ]
    return {"cv_by_answer": by_letter, "correctness_effect": _mean(effects)}


def _per_segment(rows: Sequence[Mapping[str, Any]], field: str) -> dict[str, float | None]:
    return {s: _mean([r[field][s] for r in rows]) for s in ALL_SEGMENTS}


def _per_token(rows: Sequence[Mapping[str, Any]], field: str) -> dict[str, float | None]:
    return {
        s: _mean([r[field][s] / r["tokens"][s] for r in rows if r["tokens"][s]])
        for s in ALL_SEGMENTS
    }


def _rollout(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    if not rows:
        return None
    content = []
    for r in rows:
        total = sum(r["shares"][s] for s in SEGMENTS)
        content.append({s: r["shares"][s] / total if total else math.nan for s in SEGMENTS})
    return {
        "n": len(rows),
        "content_share": {s: _mean([c[s] for c in content]) for s in SEGMENTS},
        "share": _per_segment(rows, "shares"),
        "share_per_token": _per_token(rows, "shares"),
        "tokens": _per_segment(rows, "tokens"),
        "first_token_share": _mean([r.get("first_token_share") for r in rows]),
        "last_token_share": _mean([r.get("last_token_share") for r in rows]),
        "seconds_per_question": _mean([r["seconds"] for r in rows]),
    }


def _ig(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    if not rows:
        return None
    shares = []
    for r in rows:
        total = sum(r["abs_attribution"].values())
        shares.append(
            {s: r["abs_attribution"][s] / total if total else math.nan for s in ALL_SEGMENTS}
        )
    gaps = [r["relative_gap"] for r in rows]
    finite_gaps = [g for g in gaps if g is not None and math.isfinite(g)]
    return {
        "n": len(rows),
        "steps": rows[0]["steps"],
        "abs_share": {s: _mean([x[s] for x in shares]) for s in ALL_SEGMENTS},
        "abs_share_per_token": {
            s: _mean(
                [x[s] / r["tokens"][s] for x, r in zip(shares, rows, strict=True) if r["tokens"][s]]
            )
            for s in ALL_SEGMENTS
        },
        "attribution": _per_segment(rows, "attribution"),
        "output_diff": _mean([r["output"] - r["baseline_output"] for r in rows]),
        "relative_gap_median": float(np.median(finite_gaps)) if finite_gaps else None,
        "relative_gap_max": float(np.max(finite_gaps)) if finite_gaps else None,
        "abs_delta_mean": _mean([abs(r["delta"]) for r in rows]),
        "seconds_per_question": _mean([r["seconds"] for r in rows]),
    }
