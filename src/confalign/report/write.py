"""Read a run, compute its report once, write ``metrics.json``, ``report.md``, ``report.html``."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confalign.report import answer_dependence
from confalign.report.compute import RunReport, compute_report
from confalign.report.estimates import ReportOptions, jsonable
from confalign.report.figures import figure_file, run_figures
from confalign.report.render import Page, render_html, render_markdown, run_page
from confalign.runs import ResultRow, RunStore

REPORT_DIR = "report"


@dataclass(frozen=True)
class ReportFiles:
    """Where a report was written."""

    directory: Path
    json: Path
    markdown: Path
    html: Path
    figures: Path


def load_run(run_dir: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, list[ResultRow]]]:
    """A run's manifest and its stored rows per dataset (raises ``RunStoreError`` if the
    directory is not a run)."""
    with RunStore.open(run_dir) as store:
        manifest = store.manifest
        rows = {dataset: store.rows(dataset) for dataset in store.datasets()}
    return manifest, rows


def build_report(
    run_dir: str | os.PathLike[str], options: ReportOptions | None = None
) -> RunReport:
    """Load ``run_dir`` and compute its report."""
    manifest, rows = load_run(run_dir)
    report = compute_report(rows, manifest, options, run_path=str(run_dir))
    summary = answer_dependence.load_summary(run_dir)
    if summary is not None:
        report.data["answer_dependence"] = summary
    return report


def write_report(
    run_dir: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    options: ReportOptions | None = None,
) -> tuple[RunReport, ReportFiles]:
    """Compute the report of ``run_dir`` and write it to ``output`` (default
    ``<run_dir>/report``): ``metrics.json``, ``report.md``, ``report.html``, ``figures/``."""
    report = build_report(run_dir, options)
    figures = run_figures(report)
    page = run_page(report, figures)
    directory = Path(output) if output is not None else Path(run_dir) / REPORT_DIR
    files = write_files(directory, report.data, page, figures, stem="report", json_name="metrics")
    return report, files


def write_files(
    directory: Path,
    data: Mapping[str, Any],
    page: Page,
    figures: Mapping[str, bytes],
    *,
    stem: str,
    json_name: str,
) -> ReportFiles:
    """Write the JSON, Markdown, HTML and the figures' PNGs (for the Markdown) to ``directory``,
    each file atomically (a kill leaves the previous file or the new one)."""
    from confalign.runs import atomic_write

    figure_dir = directory / "figures"
    try:
        figure_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f"cannot write the report to {directory}: {exc.strerror or exc}") from None
    for stale in figure_dir.glob("*.png"):
        stale.unlink()
    for fig_id, png in figures.items():
        atomic_write(figure_dir / figure_file(fig_id), png)
    files = ReportFiles(
        directory,
        directory / f"{json_name}.json",
        directory / f"{stem}.md",
        directory / f"{stem}.html",
        figure_dir,
    )
    atomic_write(
        files.json, json.dumps(jsonable(data), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    )
    atomic_write(files.markdown, render_markdown(page))
    atomic_write(files.html, render_html(page, figures))
    return files
