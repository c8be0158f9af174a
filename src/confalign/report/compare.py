"""Several runs side by side (e.g. before and after training): one table per metric with a
column per run and the change against the first run, and a grouped bar chart per headline
metric. Each run's numbers are its own report's (``compute_report``), so a comparison and the
runs' reports always agree.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from confalign.report import answer_dependence
from confalign.report.compute import RunReport
from confalign.report.estimates import ReportOptions, jsonable
from confalign.report.figures import comparison_figures
from confalign.report.render import Page, Section
from confalign.report.tables import PLAIN_LABELS, Cell, Table, label
from confalign.report.write import ReportFiles, build_report, write_files

COMPARISON_FORMAT = "confalign-comparison/1"
RATES = ("failed_rate", "parse_failed_rate", "ambiguous_rate")  # lower is better
PLOTTED = ("accuracy", "ece", "brier", "auroc", "aurc", "spearman", "mean_abs_gap")


def compare_reports(reports: Sequence[RunReport], labels: Sequence[str]) -> dict[str, Any]:
    """The comparison of computed run reports (first = baseline) as a JSON-ready dict."""
    if len(reports) < 2:
        raise ValueError(f"compare needs at least two runs, got {len(reports)}")
    if len(labels) != len(reports) or len(set(labels)) != len(labels):
        raise ValueError(f"compare needs one distinct label per run, got {list(labels)}")
    info = dict(reports[0].data["metric_info"])
    values: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
    for run_label, report in zip(labels, reports, strict=True):
        for (name, row), estimate in _values(report).items():
            values.setdefault(name, {}).setdefault(row, {})[run_label] = estimate
    metrics = {
        name: {
            "higher_is_better": _better(name, info),
            "rows": [
                _row(row, by_run, labels, _better(name, info)) for row, by_run in rows.items()
            ],
        }
        for name, rows in values.items()
    }
    return jsonable(
        {
            "format": COMPARISON_FORMAT,
            "baseline": labels[0],
            "runs": [
                {"label": lab, **r.data["run"]} for lab, r in zip(labels, reports, strict=True)
            ],
            "settings": reports[0].data["settings"],
            "metric_info": info,
            "metrics": metrics,
        }
    )


def _values(report: RunReport) -> dict[tuple[str, tuple[str, str]], Any]:
    """``(metric, (dataset, row label)) -> estimate or rate`` of one run."""
    out: dict[tuple[str, tuple[str, str]], Any] = {}
    for dataset, section in report.data["datasets"].items():
        for key, m in section["methods"].items():
            for name, estimate in m["metrics"].items():
                out[(name, (dataset, key))] = estimate
            if m["sce"] is not None:
                out[("sce", (dataset, key))] = m["sce"]
            for rate in RATES:
                if m["kind"] == "verbalized" or rate == "failed_rate":
                    out[(rate, (dataset, key))] = {"value": m[rate], "low": None, "high": None}
        for a in section["alignment"]:
            for name, estimate in a["metrics"].items():
                out[(name, (dataset, f"{a['verbalized']} vs {a['internal']}"))] = estimate
    out.update(answer_dependence.compare_values(report.data.get("answer_dependence")))
    return out


def _better(name: str, info: Mapping[str, Any]) -> bool | None:
    if name in RATES:
        return False
    return (info.get(name) or PLAIN_LABELS.get(name, {})).get("higher_is_better")


def _row(
    row: tuple[str, str], by_run: Mapping[str, Any], labels: Sequence[str], better: bool | None
) -> dict[str, Any]:
    """One (dataset, method) row: each run's estimate and each later run's delta."""
    base = (by_run.get(labels[0]) or {}).get("value")
    deltas: dict[str, float | None] = {}
    verdicts: dict[str, str] = {}
    for lab in labels[1:]:
        value = (by_run.get(lab) or {}).get("value")
        delta = None if value is None or base is None else value - base
        deltas[lab] = delta
        verdicts[lab] = _verdict(delta, better)
    return {
        "dataset": row[0],
        "method": row[1],
        "values": {lab: by_run.get(lab) for lab in labels},
        "deltas": deltas,
        "verdicts": verdicts,
    }


def _verdict(delta: float | None, better: bool | None) -> str:
    if delta is None or better is None:
        return ""
    if delta == 0:
        return "same"
    return "better" if (delta > 0) == better else "worse"


def comparison_page(comparison: Mapping[str, Any], figures: Mapping[str, bytes]) -> Page:
    """One section per metric: a table with a column per run and the deltas, and its chart."""
    labels = [r["label"] for r in comparison["runs"]]
    info = comparison["metric_info"]
    runs = Table("Runs", ["label", "run", "model", "adapter", "status"])
    for r in comparison["runs"]:
        runs.rows.append([r["label"], r["path"], r["model"], r["adapter"] or "none", r["status"]])
    page = Page(
        title=f"confalign comparison: {' vs '.join(labels)}",
        intro=[
            f"Deltas are each run minus the baseline {labels[0]!r}; 'better'/'worse' follow "
            "the metric's direction (↑ higher is better, ↓ lower is better).",
            "Failed extractions are excluded from each run's metric arrays and compared as "
            "rates; intervals are each run's own bootstrap intervals.",
        ],
        sections=[Section("Runs", tables=[runs])],
    )
    for name, entry in comparison["metrics"].items():
        title = label(name, info) if name not in RATES else f"{name} ↓"
        page.sections.append(
            Section(
                title,
                tables=[_metric_table(title, entry, labels)],
                figures=[f"compare/{name}"] if f"compare/{name}" in figures else [],
                wide=True,
            )
        )
    return page


def _metric_table(title: str, entry: Mapping[str, Any], labels: Sequence[str]) -> Table:
    columns = ["dataset", "method", *labels, *[f"Δ {lab} − {labels[0]}" for lab in labels[1:]]]
    table = Table(title, columns)
    for row in entry["rows"]:
        cells: list[Cell] = [row["dataset"], row["method"]]
        cells += [row["values"][lab] for lab in labels]
        for lab in labels[1:]:
            delta, verdict = row["deltas"][lab], row["verdicts"][lab]
            text = "—" if delta is None else f"{delta:+.3f}"
            cells.append(f"{text} ({verdict})" if verdict else text)
        table.rows.append(cells)
    return table


def plotted_values(comparison: Mapping[str, Any]) -> dict[str, dict[str, dict[str, float | None]]]:
    """``metric -> row label -> run label -> value`` for the headline metrics."""
    datasets = {row["dataset"] for e in comparison["metrics"].values() for row in e["rows"]}
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for name in PLOTTED:
        entry = comparison["metrics"].get(name)
        if entry is None:
            continue
        out[name] = {
            _axis_label(r["dataset"] if len(datasets) > 1 else "", r["method"]): {
                lab: (v or {}).get("value") for lab, v in r["values"].items()
            }
            for r in entry["rows"]
        }
    return out


def _axis_label(dataset: str, method: str) -> str:
    """A group label that fits under a bar group: one line per part of the method key."""
    return (f"{dataset}:\n" if dataset else "") + method.replace("/", "/\n")


def run_labels(run_dirs: Sequence[str | os.PathLike[str]]) -> list[str]:
    """Each run's folder name, made distinct with ``#2``, ``#3``... where names repeat."""
    names = [Path(d).resolve().name or str(d) for d in run_dirs]
    out = []
    for i, name in enumerate(names):
        out.append(name if names.count(name) == 1 else f"{name}#{names[: i + 1].count(name)}")
    return out


def write_comparison(
    run_dirs: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    options: ReportOptions | None = None,
    *,
    labels: Sequence[str] | None = None,
) -> tuple[dict[str, Any], ReportFiles]:
    """Compare ``run_dirs`` (the first is the baseline) and write ``comparison.json``,
    ``comparison.md`` and ``comparison.html`` (with ``figures/``) to ``output``."""
    if len(run_dirs) < 2:
        raise ValueError(f"compare needs at least two run directories, got {len(run_dirs)}")
    labels = list(labels) if labels is not None else run_labels(run_dirs)
    if len(labels) != len(run_dirs) or len(set(labels)) != len(labels):
        raise ValueError(f"compare needs one distinct label per run, got {labels}")
    reports = [build_report(d, options) for d in run_dirs]
    comparison = compare_reports(reports, labels)
    figures = comparison_figures(plotted_values(comparison))
    page = comparison_page(comparison, figures)
    files = write_files(
        Path(output), comparison, page, figures, stem="comparison", json_name="comparison"
    )
    return comparison, files
