"""A run's report as one computed structure: pure functions from stored rows to a JSON-ready dict.

``compute_report`` takes the rows of a run (grouped by dataset) and its manifest and returns a
``RunReport``: ``data`` is what ``metrics.json`` holds and what the Markdown and HTML show;
``arrays`` and ``pairs`` are the exact arrays the metrics were computed on, kept for the
figures. Nothing here reads files (``load_run`` does) or draws (``confalign.report.figures``).

Per dataset × method key (``choice``, ``verbalized/probability/prefill``...):

- counts: records, failed extractions (no confidence or no readable answer), parse failures,
  ambiguous parses. Failed extractions are excluded from the metric arrays and reported as a
  rate; nothing is replaced by a default.
- every calibration and ranking metric of ``confalign.metrics`` with a bootstrap interval
  (AURC, PRR and the selective accuracies at 50% and 80% coverage included), the per-bin
  table, and SCE where the records carry option distributions and the gold options are known.

Recalibrated methods (``choice+platt``, written by ``confalign recalibrate``) are methods like
any other here, except in the Cv–Ci alignment, which pairs the elicited confidences only; the
run's ``recalibration`` summary (what was fitted on what) is passed through.

Per dataset: the Cv–Ci alignment metrics of each verbalized format × mode against each internal
method on the examples both scored (and against the internal confidence in the verbalized
answer on the same prompt, ``answer_ci``, DCA's pairing); per subject, accuracy, mean confidence
and ECE of every method.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from confalign.report import _metrics
from confalign.report.alignment import PairArrays, alignment_section
from confalign.report.estimates import (
    SLOW,
    ReportOptions,
    estimate,
    finite,
    is_usable,
)
from confalign.report.grading import LEGACY, describe_grader, grading_section
from confalign.runs import ResultRow

REPORT_FORMAT = "confalign-report/1"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
EXCLUSION_NOTE = (
    "Failed extractions (no parsable confidence, or no readable answer) are counted per method "
    "and shown as a rate; they are excluded from the arrays every metric is computed on, never "
    "replaced by a default."
)


@dataclass(frozen=True)
class MethodArrays:
    """What one method's metrics were computed on (failed extractions excluded)."""

    confidence: np.ndarray  # (n,) float64 in [0, 1]
    correct: np.ndarray  # (n,) float64 in {0, 1}
    example_ids: tuple[str, ...]


@dataclass(frozen=True)
class RunReport:
    """``data``: the JSON-ready report. ``arrays[dataset][key]`` and
    ``pairs[dataset][(verbalized key, internal key)]``: the arrays behind it, for figures."""

    data: dict[str, Any]
    arrays: dict[str, dict[str, MethodArrays]] = field(default_factory=dict)
    pairs: dict[str, dict[tuple[str, str], PairArrays]] = field(default_factory=dict)


def compute_report(
    rows_by_dataset: Mapping[str, Sequence[ResultRow]],
    manifest: Mapping[str, Any],
    options: ReportOptions | None = None,
    *,
    run_path: str = "",
) -> RunReport:
    """The report of a run whose stored rows are ``rows_by_dataset`` (see the module doc)."""
    options = options or ReportOptions()
    data: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "run": run_summary(manifest, run_path),
        "settings": {
            "n_bins": options.n_bins,
            "n_bootstrap": options.n_bootstrap,
            "n_bootstrap_slow": {
                m: min(options.n_bootstrap, options.n_bootstrap_slow) for m in SLOW
            },
            "ci_level": options.ci_level,
            "bootstrap_seed": options.seed,
            "interval": "percentile bootstrap over examples",
        },
        "notes": [EXCLUSION_NOTE],
        "metric_info": _metrics.metric_info(),
        "recalibration": manifest.get("recalibration"),
        "grading": grading_section(rows_by_dataset, manifest, seed=options.seed),
        "datasets": {},
    }
    report = RunReport(data)
    for dataset, rows in rows_by_dataset.items():
        section, arrays, pairs = dataset_section(rows, options)
        data["datasets"][dataset] = section
        report.arrays[dataset] = arrays
        report.pairs[dataset] = pairs
    return report


def run_summary(manifest: Mapping[str, Any], run_path: str) -> dict[str, Any]:
    """What produced the run, from its manifest: model, backend, adapter, seed, status."""
    identity = manifest.get("identity") or {}
    model = identity.get("model") or {}
    return {
        "path": run_path,
        "model": model.get("model", ""),
        "backend": model.get("backend", ""),
        "adapter": model.get("adapter"),
        "seed": identity.get("seed"),
        "status": manifest.get("status", ""),
        "started_at": manifest.get("started_at"),
        "ended_at": manifest.get("ended_at"),
        "versions": manifest.get("versions", {}),
        "datasets": identity.get("datasets", []),
        "grading": describe_grader(manifest.get("grading") or LEGACY),
    }


def dataset_section(
    rows: Sequence[ResultRow], options: ReportOptions
) -> tuple[dict[str, Any], dict[str, MethodArrays], dict[tuple[str, str], PairArrays]]:
    """One dataset: per-method metrics, Cv–Ci alignment, per-subject breakdown."""
    by_key = group_by_key(rows)
    gold = gold_options(rows)
    methods: dict[str, Any] = {}
    arrays: dict[str, MethodArrays] = {}
    for key, key_rows in by_key.items():
        methods[key], arrays[key] = method_section(key_rows, options, gold)
    alignment, pairs = alignment_section(by_key, options)
    section = {
        "n_examples": len({r.example_id for r in rows}),
        "methods": methods,
        "alignment": alignment,
        "subjects": subject_section(by_key, options),
    }
    return section, arrays, pairs


def group_by_key(rows: Iterable[ResultRow]) -> dict[str, list[ResultRow]]:
    """Rows per method key: internal first, then verbalized, then the rest, each sorted."""
    grouped: dict[str, list[ResultRow]] = defaultdict(list)
    for row in rows:
        grouped[row.method_key].append(row)
    rank = {"internal": 0, "verbalized": 1}

    def order(key: str) -> tuple[int, str]:
        return rank.get(grouped[key][0].kind, 2), key

    return {key: grouped[key] for key in sorted(grouped, key=order)}


def method_arrays(rows: Sequence[ResultRow]) -> MethodArrays:
    """The confidence and correctness arrays of the usable rows, in stored order."""
    used = [r for r in rows if is_usable(r)]
    return MethodArrays(
        confidence=np.array([r.confidence for r in used], dtype=np.float64),
        correct=np.array([float(bool(r.correct)) for r in used], dtype=np.float64),
        example_ids=tuple(r.example_id for r in used),
    )


def method_section(
    rows: Sequence[ResultRow], options: ReportOptions, gold: Mapping[str, int]
) -> tuple[dict[str, Any], MethodArrays]:
    """Counts, metrics with intervals, bins and SCE of one method key."""
    first = rows[0]
    arr = method_arrays(rows)
    n_records = len(rows)
    section: dict[str, Any] = {
        "method": first.method,
        "kind": first.kind,
        "format": first.format,
        "mode": first.mode,
        "n_records": n_records,
        "n": len(arr.confidence),
        **_rate("failed", n_records - len(arr.confidence), n_records),
        **_rate("parse_failed", sum(r.parse_failed for r in rows), n_records),
        **_rate("ambiguous", sum(r.ambiguous for r in rows), n_records),
        "metrics": {},
        "bins": [],
        "sce": None,
        "sce_note": "",
    }
    if len(arr.confidence):
        values, bins = _metrics.calibration(arr.confidence, arr.correct, n_bins=options.n_bins)
        values.update(_metrics.selective(arr.confidence, arr.correct))
        fns = {
            **_metrics.calibration_functions(n_bins=options.n_bins),
            **_metrics.selective_functions(),
        }
        section["metrics"] = {
            name: estimate(value, fns.get(name), (arr.confidence, arr.correct), options, name)
            for name, value in values.items()
        }
        section["bins"] = bins
    section["sce"], section["sce_note"] = sce_section(rows, gold, options)
    return section, arr


def _rate(name: str, count: int, total: int) -> dict[str, Any]:
    return {f"n_{name}": int(count), f"{name}_rate": (count / total) if total else None}


def gold_options(rows: Iterable[ResultRow]) -> dict[str, int]:
    """Gold option index per example, from the gold letter the pipeline stores on every row
    (``ResultRow.gold``). Runs stored without it fall back on the letter a correct
    multiple-choice prediction names; examples neither reveals are absent."""
    gold: dict[str, int] = {}
    for row in rows:
        stored = row.gold.strip()
        if row.probs is not None and len(stored) == 1 and stored in LETTERS:
            gold[row.example_id] = LETTERS.index(stored)
        elif row.correct and row.probs is not None and row.kind == "internal":
            letter = row.prediction.strip()
            if len(letter) == 1 and letter in LETTERS:
                gold.setdefault(row.example_id, LETTERS.index(letter))
    return gold


def sce_section(
    rows: Sequence[ResultRow], gold: Mapping[str, int], options: ReportOptions
) -> tuple[dict[str, float | None] | None, str]:
    """SCE over option distributions (internal multiple-choice methods), or None and why."""
    first = rows[0]
    if first.kind != "internal" or first.mode or not any(r.probs for r in rows):
        return None, ""
    used = [r for r in rows if r.probs is not None and r.confidence is not None]
    unknown = sum(r.example_id not in gold for r in used)
    if unknown:
        return None, (
            f"SCE needs the gold option of every example; {unknown} of {len(used)} are unknown "
            "(the stored records carry no gold label and no method answered them correctly)"
        )
    sizes = {len(r.probs or ()) for r in used}
    if len(sizes) != 1:
        return None, f"SCE needs one number of options; found {sorted(sizes)}"
    probs = np.array([r.probs for r in used], dtype=np.float64)
    labels = np.array([gold[r.example_id] for r in used], dtype=np.int64)
    fn = _metrics.sce_function(n_bins=options.n_bins)
    return estimate(fn(probs, labels), fn, (probs, labels), options), ""


def subject_section(
    by_key: Mapping[str, Sequence[ResultRow]], options: ReportOptions
) -> dict[str, list[dict[str, Any]]]:
    """Per method key, per subject: n, accuracy, mean confidence, ECE (empty without subjects)."""
    subjects = {r.subject for rows in by_key.values() for r in rows}
    if subjects <= {""}:
        return {}
    out: dict[str, list[dict[str, Any]]] = {}
    for key, rows in by_key.items():
        per: dict[str, list[ResultRow]] = defaultdict(list)
        for row in rows:
            per[row.subject].append(row)
        table = []
        for subject in sorted(per):
            arr = method_arrays(per[subject])
            n = len(arr.confidence)
            table.append(
                {
                    "subject": subject,
                    "n_records": len(per[subject]),
                    "n": n,
                    "accuracy": finite(arr.correct.mean()) if n else None,
                    "mean_confidence": finite(arr.confidence.mean()) if n else None,
                    "ece": finite(_metrics.ece(arr.confidence, arr.correct, options.n_bins))
                    if n
                    else None,
                }
            )
        out[key] = table
    return out
