"""The report's tables, built once from the computed report and rendered as Markdown and HTML.

A ``Table`` holds cells that are strings or estimates (``{"value", "low", "high"}``); each
renderer formats an estimate its own way (Markdown ``0.123 [0.101, 0.150]``, HTML the interval
in smaller type). Nothing here computes a metric: every number comes from the report's data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from confalign.report.alignment import SAME_PROMPT
from confalign.runs import is_recalibrated

Cell = str | Mapping[str, Any] | None

# Columns of the summary table, in this order, when the metrics library provides them.
SUMMARY_METRICS = ("accuracy", "mean_confidence", "ece", "brier", "auroc", "nll")
# What the format x mode table shows of each verbalized key's calibration.
VERBAL_METRICS = ("mean_confidence", "accuracy", "ece", "auroc")
ALIGNMENT_METRICS = ("spearman", "mean_gap", "mean_abs_gap", "gap_std", "gap_sem")
# What the selective-prediction table shows of each method key.
SELECTIVE_METRICS = ("accuracy", "aurc", "prr", "accuracy_at_80", "accuracy_at_50", "auroc")
# Labels of the summary values that are not registered metrics.
PLAIN_LABELS = {
    "accuracy": {"label": "accuracy", "higher_is_better": True},
    "mean_confidence": {"label": "mean confidence", "higher_is_better": None},
    "accuracy_at_50": {"label": "acc@50% coverage", "higher_is_better": True},
    "accuracy_at_80": {"label": "acc@80% coverage", "higher_is_better": True},
}


@dataclass
class Table:
    """A titled table; ``images`` (figure ids, one per column after the first) may be shown
    under it by the HTML renderer."""

    title: str
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    note: str = ""
    images: list[str | None] = field(default_factory=list)


def label(name: str, info: Mapping[str, Mapping[str, Any]]) -> str:
    """A metric's display label with ↑/↓ for higher/lower is better, where known."""
    meta = info.get(name) or PLAIN_LABELS.get(name, {})
    text = str(meta.get("label") or name)
    better = meta.get("higher_is_better")
    return text + (" ↑" if better is True else " ↓" if better is False else "")


def rate(value: float | None, count: int | None = None) -> str:
    """``12.5% (25)``."""
    if value is None:
        return "—"
    return f"{100 * value:.1f}%" + (f" ({count})" if count is not None else "")


def number(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def summary_table(dataset: str, section: Mapping[str, Any], info: Mapping[str, Any]) -> Table:
    """One row per method key: counts, failure rate, the main metrics, SCE."""
    methods = section["methods"]
    present = [m for m in SUMMARY_METRICS if any(m in s["metrics"] for s in methods.values())]
    columns = ["method", "N used / records", "failed", *[label(m, info) for m in present]]
    columns.append(label("sce", info) if "sce" in info else "SCE")
    table = Table(f"Summary: {dataset}", columns, note=_summary_note(section))
    for key, s in methods.items():
        row: list[Cell] = [
            key,
            f"{s['n']} / {s['n_records']}",
            rate(s["failed_rate"], s["n_failed"]),
        ]
        row += [s["metrics"].get(m) for m in present]
        row.append(s["sce"] if s["sce"] is not None else "—")
        table.rows.append(row)
    return table


def _summary_note(section: Mapping[str, Any]) -> str:
    notes = sorted({s["sce_note"] for s in section["methods"].values() if s["sce_note"]})
    return " ".join(notes)


def all_metrics_table(dataset: str, section: Mapping[str, Any], info: Mapping[str, Any]) -> Table:
    """Every metric (rows) of every method key (columns), with intervals."""
    methods = section["methods"]
    names: list[str] = []
    for s in methods.values():
        names += [n for n in s["metrics"] if n not in names]
    table = Table(f"All metrics: {dataset}", ["metric", *methods])
    for name in names:
        table.rows.append([label(name, info), *[s["metrics"].get(name) for s in methods.values()]])
    table.rows.append(["SCE", *[s["sce"] for s in methods.values()]])
    return table


def verbalized_table(dataset: str, section: Mapping[str, Any], info: Mapping[str, Any]) -> Table:
    """Verbalized formats × modes side by side: parse rates, Cv calibration, alignment."""
    methods = section["methods"]
    keys = [k for k, s in methods.items() if s["kind"] == "verbalized" and not is_recalibrated(k)]
    columns = ["", *[f"{methods[k]['format']} / {methods[k]['mode']}" for k in keys]]
    table = Table(
        f"Verbalized confidence by format × mode: {dataset}",
        columns,
        note="Cv is the verbalized confidence; every Cv result is stated with its elicitation "
        "mode. Parse failures are excluded from Cv's metrics; alignment pairs Cv with the "
        "internal confidence Ci of the same example.",
        images=[f"{dataset}/histogram/{k}" for k in keys],
    )
    if not keys:
        return table
    table.rows.append(
        ["N used / records", *[f"{methods[k]['n']} / {methods[k]['n_records']}" for k in keys]]
    )
    table.rows.append(
        [
            "parse failures",
            *[rate(methods[k]["parse_failed_rate"], methods[k]["n_parse_failed"]) for k in keys],
        ]
    )
    table.rows.append(
        [
            "ambiguous parses",
            *[rate(methods[k]["ambiguous_rate"], methods[k]["n_ambiguous"]) for k in keys],
        ]
    )
    for name in VERBAL_METRICS:
        if any(name in methods[k]["metrics"] for k in keys):
            text = "answer accuracy ↑" if name == "accuracy" else label(name, info) + " of Cv"
            table.rows.append([text, *[methods[k]["metrics"].get(name) for k in keys]])
    by_pair = {(a["verbalized"], a["internal"]): a for a in section["alignment"]}
    first_internal = [k for k, s in methods.items() if s["kind"] == "internal"][:1]
    internals = [SAME_PROMPT, *first_internal]
    for internal in internals:
        for name in ALIGNMENT_METRICS[:3]:
            cells = [by_pair.get((k, internal), {}).get("metrics", {}).get(name) for k in keys]
            if any(c is not None for c in cells):
                table.rows.append([f"{label(name, info)} vs {internal}", *cells])
    return table


def selective_table(dataset: str, section: Mapping[str, Any], info: Mapping[str, Any]) -> Table:
    """Selective prediction per method key: AURC, PRR and the accuracy of the most confident
    80% and 50% of the answers, next to the accuracy of all of them and AUROC."""
    methods = section["methods"]
    present = [m for m in SELECTIVE_METRICS if any(m in s["metrics"] for s in methods.values())]
    table = Table(
        f"Selective prediction: {dataset}",
        ["method", "N used", *[label(m, info) for m in present]],
        note="Answers are kept from the most to the least confident (ties in expectation). "
        "AURC: the mean error rate of the kept answers over all coverages; PRR: 1 for the "
        "oracle order, 0 for a random one; acc@X% coverage: accuracy of the most confident "
        "X% of the answers.",
    )
    for key, s in methods.items():
        table.rows.append([key, str(s["n"]), *[s["metrics"].get(m) for m in present]])
    return table


def recalibration_table(recalibration: Mapping[str, Any]) -> Table:
    """What each recalibrated method key is: its map, what it was fitted on, how many."""
    source = recalibration.get("source") or {}
    where = ", ".join(f"{k} {v}" for k, v in source.items())
    table = Table(
        "Recalibration",
        ["dataset", "method", "map", "fitted on N", "of which correct", "parameters"],
        note=f"Maps fitted on a calibration set disjoint from the evaluated examples ({where}); "
        f"parameters in {recalibration.get('file', 'recalibration.json')}.",
    )
    for m in recalibration.get("maps", []):
        table.rows.append(
            [
                m["dataset"],
                m["key"],
                m["map"],
                str(m["n_fit"]),
                str(m["n_fit_correct"]),
                m.get("parameters", ""),
            ]
        )
    return table


def alignment_table(dataset: str, section: Mapping[str, Any], info: Mapping[str, Any]) -> Table:
    """Every (verbalized key, internal key) pair: N, answer agreement, the DCA metrics."""
    present = [m for m in ALIGNMENT_METRICS if any(m in a["metrics"] for a in section["alignment"])]
    extra = [n for a in section["alignment"] for n in a["metrics"] if n not in present]
    names = present + list(dict.fromkeys(extra))
    table = Table(
        f"Cv–Ci alignment: {dataset}",
        ["verbalized (Cv)", "internal (Ci)", "N", "same answer", *[label(n, info) for n in names]],
        note=f"eps = Cv − Ci per example. '{SAME_PROMPT}' is the internal probability of the "
        "verbalized answer on the same prompt (DCA's pairing); other rows pair the verbalized "
        "record with that internal method's record of the same example, whose answer may "
        "differ ('same answer' gives the share that agree).",
    )
    for a in section["alignment"]:
        agree = a["answers_agree"]
        table.rows.append(
            [
                a["verbalized"],
                a["internal"],
                str(a["n"]),
                rate(agree),
                *[a["metrics"].get(n) for n in names],
            ]
        )
    return table


def subject_tables(dataset: str, section: Mapping[str, Any]) -> list[Table]:
    """Per method key: accuracy, mean confidence and ECE per subject."""
    tables = []
    for key, rows in section["subjects"].items():
        table = Table(
            f"Per subject: {dataset}, {key}",
            ["subject", "N used / records", "accuracy", "mean confidence", "ECE"],
            note="Few examples per subject: read these as descriptive, not as estimates.",
        )
        for r in rows:
            table.rows.append(
                [
                    r["subject"] or "(none)",
                    f"{r['n']} / {r['n_records']}",
                    number(r["accuracy"]),
                    number(r["mean_confidence"]),
                    number(r["ece"]),
                ]
            )
        tables.append(table)
    return tables


def run_table(run: Mapping[str, Any], settings: Mapping[str, Any]) -> Table:
    """What produced the run and how the report computed."""
    versions = ", ".join(f"{k} {v}" for k, v in (run.get("versions") or {}).items())
    datasets = ", ".join(
        str(d.get("name", d)) if isinstance(d, Mapping) else str(d) for d in run.get("datasets", [])
    )
    rows: list[Sequence[Cell]] = [
        ["run", run.get("path") or "—"],
        ["model", f"{run.get('model') or '—'} (backend {run.get('backend') or '—'})"],
        ["adapter", run.get("adapter") or "none"],
        ["datasets", datasets or "—"],
        ["grading", run.get("grading") or "—"],
        ["seed", str(run.get("seed"))],
        ["status", f"{run.get('status')} ({run.get('started_at')} → {run.get('ended_at')})"],
        ["versions", versions or "—"],
        [
            "report",
            f"{settings['n_bins']} equal-width bins; {100 * settings['ci_level']:.0f}% "
            f"{settings['interval']}, {settings['n_bootstrap']} resamples"
            + "".join(f" ({m}: {n})" for m, n in settings.get("n_bootstrap_slow", {}).items())
            + f", seed {settings['bootstrap_seed']}",
        ],
    ]
    return Table("Run", ["", ""], rows=[list(r) for r in rows])


def summary_lines(data: Mapping[str, Any]) -> list[str]:
    """A short fixed-width table per dataset for the terminal: N, failures, accuracy, mean
    confidence, ECE and AUROC of each method key."""
    names = ("accuracy", "mean_confidence", "ece", "auroc")
    heads = ("acc", "conf", "ECE", "AUROC")
    lines: list[str] = []
    for dataset, section in data["datasets"].items():
        width = max([len("method"), *(len(k) for k in section["methods"])])
        lines.append(f"{dataset} ({section['n_examples']} examples)")
        lines.append(
            f"  {'method':<{width}}  {'N':>4}  {'failed':>7}  "
            + "  ".join(f"{h:>6}" for h in heads)
        )
        for key, s in section["methods"].items():
            values = [(s["metrics"].get(n) or {}).get("value") for n in names]
            lines.append(
                f"  {key:<{width}}  {s['n']:>4}  {rate(s['failed_rate']):>7}  "
                + "  ".join(f"{number(v):>6}" for v in values)
            )
    return lines
