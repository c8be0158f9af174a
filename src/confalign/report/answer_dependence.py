"""The answer-dependence analysis in a run's report and in ``confalign compare``.

A run written by ``confalign analyze answer-dependence`` holds
``answer_dependence/summary.json``; the report puts it under ``"answer_dependence"`` in
``metrics.json`` and shows its tables and figures; a comparison gets one row per dataset ×
format for each headline number. Nothing is computed here beyond picking numbers out.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from confalign.plots.answer_dependence import jsd_histogram, segment_bars
from confalign.report.tables import Cell, Table, number

if TYPE_CHECKING:
    from confalign.report.render import Section

SUMMARY = Path("answer_dependence") / "summary.json"
CONTENT = ("question", "options", "instruction", "answer")
# Comparison rows: (name shown, summary step, field, segment or None).
COMPARED = (
    ("answer dependence: mean JSD", "distribution", "jsd_mean", None),
    ("answer dependence: median JSD", "distribution", "jsd_median", None),
    ("answer dependence: share JSD <= 0.1", "distribution", "jsd_share_le_threshold", None),
    ("answer dependence: Cv given correct", "distribution", "cv_correct", None),
    ("answer dependence: Cv given wrong", "distribution", "cv_wrong", None),
    ("answer dependence: masking shift Cv(blank) - Cv(own)", "distribution", "mask_shift", None),
    ("answer dependence: rollout share, answer", "rollout", "content_share", "answer"),
    ("answer dependence: rollout share, question", "rollout", "content_share", "question"),
    ("answer dependence: IG |attribution| share, answer", "ig", "abs_share", "answer"),
    ("answer dependence: IG |attribution| share, question", "ig", "abs_share", "question"),
)


def load_summary(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The run's answer-dependence summary, or None when it has none."""
    path = Path(run_dir) / SUMMARY
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} cannot be read: {exc}") from None


def _entries(summary: Mapping[str, Any]) -> list[tuple[str, str, Mapping[str, Any]]]:
    return [
        (dataset, fmt, entry)
        for dataset, formats in summary["datasets"].items()
        for fmt, entry in formats.items()
    ]


def compare_values(summary: Mapping[str, Any] | None) -> dict[tuple[str, tuple[str, str]], Any]:
    """``(name, (dataset, format)) -> {"value", "low", "high"}`` for ``confalign compare``."""
    out: dict[tuple[str, tuple[str, str]], Any] = {}
    for dataset, fmt, entry in _entries(summary) if summary else []:
        for name, step, field, segment in COMPARED:
            part = entry.get(step)
            if part is None:
                continue
            value = part[field] if segment is None else part[field].get(segment)
            out[(name, (dataset, fmt))] = {"value": value, "low": None, "high": None}
    return out


def figures(summary: Mapping[str, Any] | None) -> dict[str, bytes]:
    """Per dataset × format: the JSD histogram and the rollout/IG bars."""
    from confalign.report.figures import png

    out: dict[str, bytes] = {}
    for dataset, fmt, entry in _entries(summary) if summary else []:
        dist = entry.get("distribution")
        if dist:
            out[f"answer_dependence/jsd/{dataset}/{fmt}"] = png(
                jsd_histogram(
                    dist["jsd_values"],
                    threshold=summary["jsd_threshold"],  # type: ignore[index]
                    title=f"{dataset}, {fmt}",
                )
            )
        series = {}
        if entry.get("rollout"):
            series["attention rollout"] = entry["rollout"]["content_share"]
        if entry.get("ig"):
            series["integrated gradients |a|"] = entry["ig"]["abs_share"]
        if series:
            out[f"answer_dependence/segments/{dataset}/{fmt}"] = png(
                segment_bars(series, segments=CONTENT, title=f"{dataset}, {fmt}")
            )
    return out


def sections(summary: Mapping[str, Any] | None, images: Mapping[str, bytes]) -> list[Section]:
    """The report's answer-dependence sections (none without a summary)."""
    from confalign.report.render import Section

    if not summary:
        return []
    entries = _entries(summary)
    ids = [k for k in images if k.startswith("answer_dependence/")]
    return [
        Section(
            "Answer dependence (ADVICE)",
            text=(
                "Does the verbalized confidence depend on the answer it is given for? JSD between "
                "the distribution-mode level distributions given the correct answer and given "
                "wrong ones (pooled), per question; Cv with the model's own answer against the "
                "answer blanked; attention rollout (eager attention, switched on for this "
                "analysis only) and integrated gradients from the confidence position, as shares "
                "of the four content segments of the prompt. "
                f"Model: {summary['model'].get('model')}, adapter: "
                f"{summary['model'].get('adapter') or 'none'}."
            ),
            tables=[
                _jsd_table(entries, summary),
                _masking_table(entries),
                _rollout_table(entries),
                _ig_table(entries),
                _time_table(entries),
            ],
            figures=ids,
            caption="Per-question JSD (the paper: most questions <= 0.1), and the share of "
            "attention rollout and of |IG attribution| per prompt segment.",
        )
    ]


def _row(dataset: str, fmt: str, part: Mapping[str, Any] | None, fields: list[str]) -> list[Cell]:
    if part is None:
        return [dataset, fmt, "—", *["—" for _ in fields]]
    return [dataset, fmt, str(part["n"]), *[number(part.get(f)) for f in fields]]


def _jsd_table(entries: list, summary: Mapping[str, Any]) -> Table:
    fields = ["jsd_mean", "jsd_median", "jsd_p90", "jsd_share_le_threshold", "own_accuracy"]
    t = Table(
        "JSD given the correct vs the wrong answers (nats, max ln 2 = 0.693)",
        ["dataset", "format", "N", "mean", "median", "90th pct.", "share <= 0.1", "own acc."],
    )
    t.rows = [_row(d, f, e.get("distribution"), fields) for d, f, e in entries]
    return t


def _masking_table(entries: list) -> Table:
    fields = ["cv_correct", "cv_wrong", "cv_own", "cv_blank", "mask_shift", "mask_abs_shift"]
    fields.append("correctness_effect")
    t = Table(
        "Mean Cv by the answer in the prefill; masking shift = Cv(blank) - Cv(own answer); "
        "correct - wrong with the letter held fixed (multiple choice)",
        [
            *("dataset", "format", "N", "correct", "wrong", "own", "blank", "shift", "|shift|"),
            "correct - wrong, same letter",
        ],
    )
    t.rows = [_row(d, f, e.get("distribution"), fields) for d, f, e in entries]
    return t


def _rollout_table(entries: list) -> Table:
    t = Table(
        "Attention rollout from the confidence position: share among the content segments "
        "(per token in brackets, of the whole row)",
        ["dataset", "format", "N", *CONTENT, "other (whole row)", "first token"],
    )
    for d, f, e in entries:
        r = e.get("rollout")
        if r is None:
            t.rows.append([d, f, "—", *["—"] * (len(CONTENT) + 2)])
            continue
        cells: list[Cell] = [d, f, str(r["n"])]
        cells += [
            f"{number(r['content_share'][s])} ({_sci(r['share_per_token'][s])})" for s in CONTENT
        ]
        cells += [number(r["share"]["other"]), number(r["first_token_share"])]
        t.rows.append(cells)
    return t


def _ig_table(entries: list) -> Table:
    t = Table(
        "Integrated gradients of the expected confidence: share of |attribution| per segment; "
        "completeness gap |sum - (F(x) - F(baseline))| / |F(x) - F(baseline)|",
        ["dataset", "format", "N", "steps", *CONTENT, "F(x) - F(x')", "gap median", "gap max"],
    )
    for d, f, e in entries:
        g = e.get("ig")
        if g is None:
            t.rows.append([d, f, "—", "—", *["—"] * (len(CONTENT) + 3)])
            continue
        cells: list[Cell] = [d, f, str(g["n"]), str(g["steps"])]
        cells += [number(g["abs_share"][s]) for s in CONTENT]
        cells += [
            number(g["output_diff"]),
            number(g["relative_gap_median"]),
            number(g["relative_gap_max"]),
        ]
        t.rows.append(cells)
    return t


def _time_table(entries: list) -> Table:
    t = Table(
        "Wall time per question (s, as measured on the machine that ran it)",
        ["dataset", "format", "JSD + masking", "rollout", "IG"],
    )
    for d, f, e in entries:
        t.rows.append(
            [d, f]
            + [
                number((e.get(step) or {}).get("seconds_per_question"), 1)
                for step in ("distribution", "rollout", "ig")
            ]
        )
    return t


def _sci(value: float | None) -> str:
    return "—" if value is None else f"{value:.1e}"
