"""``confalign report RUN_DIR`` and ``confalign compare RUN_DIR...``: build ``ReportOptions``,
call ``confalign.report``, print where the files are and a short table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from confalign.cli import app
from confalign.cli._errors import fail, user_errors
from confalign.report import ReportOptions, summary_lines, write_comparison, write_report

_BINS = typer.Option("--bins", help="Equal-width bins of ECE, MCE, SCE and the diagrams.")
_BOOT = typer.Option("--bootstrap", help="Bootstrap resamples per interval (0: no intervals).")
_LEVEL = typer.Option("--ci-level", help="Level of the bootstrap intervals.")
_SEED = typer.Option("--seed", help="Seed of the bootstrap resampling.")


@app.command("report")
def report_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `confalign eval`.")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Report folder; default: RUN_DIR/report."),
    ] = None,
    bins: Annotated[int, _BINS] = ReportOptions.n_bins,
    bootstrap: Annotated[int, _BOOT] = ReportOptions.n_bootstrap,
    ci_level: Annotated[float, _LEVEL] = ReportOptions.ci_level,
    seed: Annotated[int, _SEED] = ReportOptions.seed,
) -> None:
    """Write metrics.json, report.md and a self-contained report.html for a run."""
    with user_errors():
        options = ReportOptions(n_bins=bins, n_bootstrap=bootstrap, ci_level=ci_level, seed=seed)
        report, files = write_report(run_dir, output, options)
    for line in summary_lines(report.data):
        typer.echo(line)
    typer.echo(f"report: {files.html}")
    typer.echo(f"        {files.markdown}")
    typer.echo(f"        {files.json}")


@app.command("compare")
def compare_command(
    run_dirs: Annotated[
        list[Path], typer.Argument(help="Two or more run directories; the first is the baseline.")
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder for comparison.{json,md,html}.")
    ] = Path("comparison"),
    labels: Annotated[
        str | None,
        typer.Option("--labels", help="Comma-separated run labels; default: folder names."),
    ] = None,
    bins: Annotated[int, _BINS] = ReportOptions.n_bins,
    bootstrap: Annotated[int, _BOOT] = ReportOptions.n_bootstrap,
    ci_level: Annotated[float, _LEVEL] = ReportOptions.ci_level,
    seed: Annotated[int, _SEED] = ReportOptions.seed,
) -> None:
    """Put several runs side by side: per metric a column per run and the deltas."""
    if len(run_dirs) < 2:
        fail(f"compare needs at least two run directories, got {len(run_dirs)}")
    names = None if labels is None else [x.strip() for x in labels.split(",")]
    with user_errors():
        options = ReportOptions(n_bins=bins, n_bootstrap=bootstrap, ci_level=ci_level, seed=seed)
        _, files = write_comparison(run_dirs, output, options, labels=names)
    typer.echo(f"comparison: {files.html}")
    typer.echo(f"            {files.markdown}")
    typer.echo(f"            {files.json}")
