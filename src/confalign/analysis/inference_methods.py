"""The survey's inference-time comparisons (docs/papers.md) on an open-QA run (CalibratedMath).

Input: one run directory holding an open-QA dataset (``calibrated_math``) and, optionally, its
distractor-augmented multiple-choice twin (``calibrated_math_mc``). Three tables:

- (a) **normal vs distractor-augmented**: every method of each setting (N: the open question,
  D: the same question as 4-way multiple choice) with accuracy, mean confidence, ECE, Brier and
  AUROC, as the survey's SimpleQA table (GPT-4o ECE 0.450 in N, 0.037 in D).
- (b) **which confidence ranks right above wrong**: AUROC with a percentile bootstrap interval
  and the generated tokens per question, for the answer-token probability, verbalized
  confidence and sample consistency at each k in ``ks``. Consistency@k uses the first k of the
  stored samples (the samples are i.i.d. given the seed, so the first k are a k-sample draw):
  its answer is the majority of those k, its cost their tokens.
- (c) **per difficulty**: accuracy and mean confidence by subject (``operation/digits``).

Failed extractions (no confidence or no readable answer) are left out of each method's arrays
and counted in its ``failed`` column, as in the report.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from confalign.confidence.consistency import agreement, entropy_confidence, majority_answer
from confalign.metrics import (
    auroc_score,
    bootstrap_ci,
    brier_score_loss,
    expected_calibration_error,
)
from confalign.runs import ResultRow, RunStore

CONSISTENCY = ("agreement", "entropy")


@dataclass(frozen=True)
class Scored:
    """One method's arrays on one dataset: confidence in [0, 1], correctness in {0, 1}, and the
    tokens generated per example; ``failed`` counts the examples left out."""

    method: str
    confidence: np.ndarray
    correct: np.ndarray
    tokens: np.ndarray
    subjects: tuple[str, ...]
    failed: int


@dataclass(frozen=True)
class MethodRow:
    """A table row: ``auroc_low``/``auroc_high`` bound the bootstrap interval (NaN if none)."""

    setting: str
    method: str
    n: int
    failed: int
    accuracy: float
    mean_confidence: float
    ece: float
    brier: float
    auroc: float
    auroc_low: float
    auroc_high: float
    tokens: float


@dataclass(frozen=True)
class SurveyTables:
    """(a) ``settings``, (b) ``ranking``, (c) ``difficulty`` (subject -> method -> (n, accuracy,
    mean confidence)) and ``by_operation`` (the same with a subject's digit settings pooled:
    ``"division/1-2"`` counts as ``"division"``); ``difficulty_methods`` orders (c)'s columns."""

    settings: tuple[MethodRow, ...]
    ranking: tuple[MethodRow, ...]
    difficulty: dict[str, dict[str, tuple[int, float, float]]]
    by_operation: dict[str, dict[str, tuple[int, float, float]]]
    difficulty_methods: tuple[str, ...]
    n_bins: int
    n_bootstrap: int


def survey_tables(
    run_dir: str | os.PathLike[str],
    *,
    open_dataset: str = "calibrated_math",
    mc_dataset: str = "calibrated_math_mc",
    mc_run_dir: str | os.PathLike[str] | None = None,
    ks: Sequence[int] = (5, 10, 20),
    n_bins: int = 15,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> SurveyTables:
    """The three tables of the module doc from the run at ``run_dir``; the D setting comes from
    ``mc_run_dir`` when given (a separate run of ``mc_dataset``), else from the same run."""
    open_rows = _rows(run_dir, open_dataset, required=True)
    mc_rows = _rows(mc_run_dir or run_dir, mc_dataset, required=mc_run_dir is not None)
    open_scored = scored_methods(open_rows, ks)
    mc_scored = scored_methods(mc_rows, ks)
    boot = {"n_bins": n_bins, "n_bootstrap": n_bootstrap, "seed": seed}
    settings = [method_row("N", s, **boot) for s in open_scored if "@" not in s.method]
    settings += [method_row("D", s, **boot) for s in mc_scored if "@" not in s.method]
    ranking = [method_row("N", s, **boot) for s in open_scored if _full(s.method)]
    # (c) shows each method once: consistency at its largest k only.
    largest = {s.method.split("@")[0]: s.method for s in open_scored if "@" in s.method}
    columns = tuple(
        s.method for s in open_scored if "@" not in s.method and _full(s.method)
    ) + tuple(largest.values())
    shown = [s for s in open_scored if s.method in columns]
    return SurveyTables(
        settings=tuple(settings),
        ranking=tuple(sorted(ranking, key=lambda r: -_nan_low(r.auroc))),
        difficulty=difficulty_table(shown),
        by_operation=difficulty_table(shown, group=lambda subject: subject.split("/", 1)[0]),
        difficulty_methods=columns,
        n_bins=n_bins,
        n_bootstrap=n_bootstrap,
    )


def _rows(run_dir: str | os.PathLike[str], dataset: str, *, required: bool) -> list[ResultRow]:
    with RunStore.open(run_dir) as store:
        known = store.datasets()
        if dataset in known:
            return store.rows(dataset)
    if required:
        raise ValueError(f"run {run_dir} has no dataset {dataset!r}; it has {', '.join(known)}")
    return []


def _full(method: str) -> bool:
    """Every method but the plain consistency keys, which duplicate ``agreement@<n>``."""
    return method not in CONSISTENCY


def _nan_low(x: float) -> float:
    return -math.inf if math.isnan(x) else x


def scored_methods(rows: Sequence[ResultRow], ks: Sequence[int]) -> list[Scored]:
    """Per method key the usable arrays, plus ``agreement@k``/``entropy@k`` for each ``k`` up
    to the stored sample count (the stored count itself included)."""
    by_key: dict[str, list[ResultRow]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: r.example_order):
        by_key[row.method_key].append(row)
    out = [_scored(key, group) for key, group in by_key.items()]
    for method in CONSISTENCY:
        group = by_key.get(method, [])
        if not group:
            continue
        n = max(int(r.extra.get("n", 0)) for r in group)
        for k in sorted({*(k for k in ks if k <= n), n}):
            out.append(_consistency_at(method, group, k))
    return out


def _scored(method: str, rows: Sequence[ResultRow]) -> Scored:
    usable = [r for r in rows if r.confidence is not None and r.correct is not None]
    return Scored(
        method=method,
        confidence=np.array([r.confidence for r in usable], dtype=np.float64),
        correct=np.array([float(r.correct) for r in usable], dtype=np.float64),
        tokens=np.array([r.generated_tokens for r in usable], dtype=np.float64),
        subjects=tuple(r.subject for r in usable),
        failed=len(rows) - len(usable),
    )


def _consistency_at(method: str, rows: Sequence[ResultRow], k: int) -> Scored:
    """``method`` recomputed on the first ``k`` stored samples of each example."""
    conf, correct, tokens, subjects = [], [], [], []
    for row in rows:
        answers = list(row.extra.get("answers", []))[:k]
        sample_correct = list(row.extra.get("sample_correct", []))[:k]
        if len(answers) < k or len(sample_correct) < k:
            raise ValueError(
                f"example {row.example_id!r}: {method} row stores {len(answers)} answers and "
                f"{len(sample_correct)} sample correctness flags, fewer than k={k} (re-run the "
                "eval with this confalign version and --samples >= k)"
            )
        top = majority_answer(answers)
        value = agreement(answers) if method == "agreement" else entropy_confidence(answers)
        if not top or value is None:
            continue
        ok = sample_correct[answers.index(top)]
        if ok is None:
            continue
        conf.append(value)
        correct.append(float(ok))
        tokens.append(sum(row.extra.get("sample_tokens", [])[:k]))
        subjects.append(row.subject)
    return Scored(
        method=f"{method}@{k}",
        confidence=np.array(conf, dtype=np.float64),
        correct=np.array(correct, dtype=np.float64),
        tokens=np.array(tokens, dtype=np.float64),
        subjects=tuple(subjects),
        failed=len(rows) - len(conf),
    )


def method_row(setting: str, s: Scored, *, n_bins: int, n_bootstrap: int, seed: int) -> MethodRow:
    """Metrics of one method; NaN where undefined (no usable example, one class for AUROC)."""
    nan = math.nan
    n = len(s.confidence)
    if n == 0:
        return MethodRow(setting, s.method, 0, s.failed, nan, nan, nan, nan, nan, nan, nan, nan)
    both_classes = 0 < s.correct.sum() < n
    auroc, low, high = nan, nan, nan
    if both_classes:
        auroc = auroc_score(s.confidence, s.correct)
        if n_bootstrap:
            ci = bootstrap_ci(
                auroc_score, s.confidence, s.correct, n_resamples=n_bootstrap, seed=seed
            )
            low, high = ci.low, ci.high
    return MethodRow(
        setting=setting,
        method=s.method,
        n=n,
        failed=s.failed,
        accuracy=float(s.correct.mean()),
        mean_confidence=float(s.confidence.mean()),
        ece=expected_calibration_error(s.confidence, s.correct, n_bins=n_bins),
        brier=brier_score_loss(s.confidence, s.correct),
        auroc=auroc,
        auroc_low=low,
        auroc_high=high,
        tokens=float(s.tokens.mean()),
    )


def difficulty_table(
    scored: Sequence[Scored], group: Callable[[str], str] | None = None
) -> dict[str, dict[str, tuple[int, float, float]]]:
    """subject (or ``group(subject)``) -> method -> (n, accuracy, mean confidence), sorted by
    name."""
    table: dict[str, dict[str, tuple[int, float, float]]] = defaultdict(dict)
    for s in scored:
        subjects = np.array([group(x) if group else x for x in s.subjects], dtype=object)
        for subject in sorted(set(subjects)):
            mask = subjects == subject
            table[subject][s.method] = (
                int(mask.sum()),
                float(s.correct[mask].mean()),
                float(s.confidence[mask].mean()),
            )
    return dict(sorted(table.items()))


def to_markdown(tables: SurveyTables) -> str:
    """The three tables as Markdown."""

    def f(x: float, digits: int = 3) -> str:
        return "—" if math.isnan(x) else f"{x:.{digits}f}"

    def interval(r: MethodRow) -> str:
        if math.isnan(r.auroc_low):
            return f(r.auroc)
        return f"{f(r.auroc)} [{f(r.auroc_low)}, {f(r.auroc_high)}]"

    lines = [
        "### (a) Normal (N) vs distractor-augmented (D)",
        "",
        f"ECE with {tables.n_bins} equal-width bins.",
        "",
        "| setting | method | n | failed | accuracy | mean conf | ECE | Brier | AUROC |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in tables.settings:
        lines.append(
            f"| {r.setting} | {r.method} | {r.n} | {r.failed} | {f(r.accuracy)} | "
            f"{f(r.mean_confidence)} | {f(r.ece)} | {f(r.brier)} | {f(r.auroc)} |"
        )
    lines += [
        "",
        "### (b) Which confidence ranks right above wrong (normal setting)",
        "",
        f"AUROC with a {tables.n_bootstrap}-resample 95% percentile bootstrap interval; "
        "tokens = generated tokens per question. Sorted by AUROC.",
        "",
        "| method | n | accuracy | AUROC [95% CI] | ECE | tokens/question |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in tables.ranking:
        lines.append(
            f"| {r.method} | {r.n} | {f(r.accuracy)} | {interval(r)} | {f(r.ece)} | "
            f"{f(r.tokens, 1)} |"
        )
    methods = tables.difficulty_methods
    for title, key, table in (
        ("by operation, digit settings pooled", "operation", tables.by_operation),
        ("by operation and digits", "subject", tables.difficulty),
    ):
        lines += [
            "",
            f"### (c) Per difficulty: accuracy / mean confidence {title}",
            "",
            f"| {key} | n | " + " | ".join(methods) + " |",
            "| --- | --- | " + " | ".join("---" for _ in methods) + " |",
        ]
        for subject, cells in table.items():
            n = max(cell[0] for cell in cells.values())
            values = [
                f"{f(cells[m][1], 2)} / {f(cells[m][2], 2)}" if m in cells else "—" for m in methods
            ]
            lines.append(f"| {subject} | {n} | " + " | ".join(values) + " |")
    return "\n".join(lines) + "\n"
