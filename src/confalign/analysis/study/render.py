"""study.json, study.md and a self-contained study.html (the report's renderers and figures).

The HTML has a heatmap of tuned - base per metric x method (pairs x tasks, red where tuning
made calibration worse, * where the paired interval excludes 0) and, per pair x task x method,
the base and tuned reliability diagrams behind the cell. Every number shown comes from the
computed study dict; nothing is recomputed here.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from confalign import plots
from confalign.analysis.study.compute import harm
from confalign.analysis.study.config import StudyConfig
from confalign.analysis.study.run import StudyResult
from confalign.metrics import UndefinedMetricWarning, calibration_bins
from confalign.plots._figure import new_figure
from confalign.report import tables as T
from confalign.report.figures import png
from confalign.report.render import Page, Section
from confalign.report.write import ReportFiles, write_files

LABELS = {
    "ece": "ECE",
    "sce": "SCE",
    "brier": "Brier",
    "auroc": "AUROC",
    "accuracy": "accuracy",
}


def heatmap_id(metric: str, method: str) -> str:
    return f"heatmap/{metric}/{method}"


def reliability_id(model_label: str, task: str, method: str) -> str:
    return f"reliability/{model_label}/{task}/{method}"


def study_figures(result: StudyResult, config: StudyConfig) -> dict[str, bytes]:
    """Heatmaps (one per metric x method) and reliability diagrams (one per model x task x
    method)."""
    data = result.data
    out: dict[str, bytes] = {}
    index = {(c["pair"], c["task"], c["method"], c["metric"]): c for c in data["cells"]}
    pairs = [p["label"] for p in data["pairs"]]
    for metric in config.metrics:
        for method in config.methods:
            cells = [[index[(p, t, method, metric)] for t in config.tasks] for p in pairs]
            out[heatmap_id(metric, method)] = png(_heatmap(cells, metric, method, pairs, config))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        for label, tasks in result.arrays.items():
            for task, methods in tasks.items():
                for method, arr in methods.items():
                    if not len(arr.confidence):
                        continue
                    table = calibration_bins(arr.confidence, arr.correct, n_bins=config.n_bins)
                    title = f"{label}\n{task} / {method}"
                    out[reliability_id(label, task, method)] = png(
                        plots.reliability_diagram(table, title=title)
                    )
    return out


def _heatmap(
    cells: list[list[Mapping[str, Any]]],
    metric: str,
    method: str,
    pairs: list[str],
    config: StudyConfig,
) -> Any:
    """Pairs x tasks; colour = harm-oriented difference (red worse), text = tuned - base."""
    n_rows, n_cols = len(pairs), len(config.tasks)
    figure = new_figure(1.6 + 1.3 * n_cols, 1.2 + 0.5 * n_rows)
    ax = figure.subplots()
    values = np.array(
        [
            [np.nan if c["difference"] is None else harm(metric, c["difference"]) for c in row]
            for row in cells
        ],
        dtype=np.float64,
    )
    finite = values[np.isfinite(values)]
    limit = float(np.abs(finite).max()) if finite.size and np.abs(finite).max() > 0 else 1.0
    image = ax.imshow(values, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    for i, row in enumerate(cells):
        for j, c in enumerate(row):
            text = "—" if c["difference"] is None else f"{c['difference']:+.3f}"
            text += "*" if c.get("significant") else ""
            ax.text(j, i, text, ha="center", va="center", fontsize=8)
    ax.set_xticks(range(n_cols), [_short(t) for t in config.tasks], rotation=30, ha="right")
    ax.set_yticks(range(n_rows), [_short(p) for p in pairs])
    ax.tick_params(labelsize=8)
    ax.set_title(
        f"{LABELS[metric]} / {method}: tuned − base\n(red: worse after tuning)", fontsize=9
    )
    figure.colorbar(image, ax=ax, shrink=0.8, label="harm (worse > 0)")
    return figure


def _short(label: str, width: int = 32) -> str:
    """A tick label: file paths by their last part, at most ``width`` characters."""
    parts = [Path(p).name or p for p in label.split(" → ")]
    text = " → ".join(parts)
    return text if len(text) <= width else "…" + text[-(width - 1) :]


def _estimate(cell: Mapping[str, Any]) -> T.Cell:
    if cell["difference"] is None:
        return None
    return {"value": cell["difference"], "low": cell["low"], "high": cell["high"]}


def study_page(result: StudyResult, config: StudyConfig, figures: Mapping[str, bytes]) -> Page:
    """The sections of the study, in reading order."""
    data = result.data
    settings = data["settings"]
    level = round(100 * config.ci_level)
    intro = [
        f"Tuned minus base on {settings['limit'] or 'all'} questions per task (seed "
        f"{settings['seed']}), {settings['n_bins']} equal-width bins; {level}% paired "
        f"percentile bootstrap intervals ({settings['n_bootstrap']} resamples of the questions "
        "both models answered). For ECE, SCE and Brier a positive difference means tuning made "
        "calibration worse; for AUROC and accuracy a negative one. `harmed`/`improved`: the "
        "interval excludes 0.",
    ]
    pairs = T.Table(
        "Pairs",
        ["pair", "base", "tuned"],
        [[p["label"], p["base"]["label"], p["tuned"]["label"]] for p in data["pairs"]],
    )
    runs = T.Table(
        "Runs (one eval per model x task, reused when stored)",
        ["model", "task", "run directory"],
        [[m, t, d] for m, tasks in data["runs"].items() for t, d in tasks.items()],
    )
    sections = [Section("Set-up", tables=[pairs, runs])]
    verdict = T.Table(
        "Does tuning harm calibration? Verdict by metric x method",
        ["metric", "method", "cells", "worse", "better", "harmed", "improved", "mean Δ", "verdict"],
        [
            [
                LABELS[v["metric"]],
                v["method"],
                str(v["n_cells"]),
                str(v["n_worse"]),
                str(v["n_better"]),
                str(v["n_harmed"]),
                str(v["n_improved"]),
                T.number(v["mean_difference"]),
                v["verdict"],
            ]
            for v in data["verdicts"]
        ],
        note="worse/better: the sign of tuned − base (oriented so worse is harm); "
        "harmed/improved: significant cells.",
    )
    sections.append(Section("Verdict", tables=[verdict]))
    for task in config.tasks:
        rows = [
            [
                c["pair"],
                c["method"],
                LABELS[c["metric"]],
                str(c["n"]),
                T.number(c["base"]),
                T.number(c["tuned"]),
                _estimate(c),
                c["verdict"],
            ]
            for c in data["cells"]
            if c["task"] == task
        ]
        table = T.Table(
            f"{task}: base, tuned, difference",
            ["pair", "method", "metric", "n", "base", "tuned", f"tuned − base [{level}% CI]", ""],
            rows,
        )
        sections.append(Section(f"Differences on {task}", tables=[table], level=3))
    sections.append(
        Section(
            "Heatmaps of the differences",
            figures=[f for f in figures if f.startswith("heatmap/")],
            caption="Pairs x tasks per metric x method; * marks a significant difference.",
            wide=True,
        )
    )
    sections.append(_ranking_section(data))
    sections.append(_model_section(data, config))
    for pair in data["pairs"]:
        for task in config.tasks:
            figs = [
                fid
                for method in config.methods
                for side in ("base", "tuned")
                if (fid := reliability_id(pair[side]["label"], task, method)) in figures
            ]
            sections.append(
                Section(
                    f"Reliability diagrams: {pair['label']} on {task}",
                    figures=figs,
                    caption="Per method: base, then tuned.",
                    level=3,
                    collapsed=True,
                )
            )
    return Page(f"confalign alignment study: {len(data['pairs'])} pair(s)", intro, sections)


def _ranking_section(data: Mapping[str, Any]) -> Section:
    order_rows, tau_rows = [], []
    for r in data["rankings"]:
        for task, order in r["order"].items():
            order_rows.append([LABELS[r["metric"]], r["method"], task, " > ".join(order) or "—"])
        for t in r["kendall_tau"]:
            tau_rows.append(
                [
                    LABELS[r["metric"]],
                    r["method"],
                    " vs ".join(t["tasks"]),
                    str(t["n_pairs"]),
                    T.number(t["tau"]),
                ]
            )
    return Section(
        "Ranking robustness",
        text="Pairs ordered from most to least degraded on each task; Kendall's tau-b between "
        "two tasks' degradations (undefined with fewer than two pairs).",
        tables=[
            T.Table(
                "Ranking of pairs by degradation", ["metric", "method", "task", "order"], order_rows
            ),
            T.Table(
                "Agreement between tasks (Kendall tau-b)",
                ["metric", "method", "tasks", "pairs", "tau"],
                tau_rows,
            ),
        ],
    )


def _model_section(data: Mapping[str, Any], config: StudyConfig) -> Section:
    rows = []
    for model, tasks in data["models"].items():
        for task, methods in tasks.items():
            for method, values in methods.items():
                rows.append(
                    [model, task, method, str(values["n"])]
                    + [T.number(values.get(m)) for m in config.metrics]
                )
    table = T.Table(
        "Every model on every task",
        ["model", "task", "method", "n", *(LABELS[m] for m in config.metrics)],
        rows,
    )
    return Section("Per model", tables=[table])


def write_study(result: StudyResult, config: StudyConfig) -> ReportFiles:
    """Write study.json, study.md (figures as PNGs under figures/) and study.html."""
    figures = study_figures(result, config)
    page = study_page(result, config, figures)
    directory = Path(config.output)
    return write_files(directory, result.data, page, figures, stem="study", json_name="study")
