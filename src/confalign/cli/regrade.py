"""``confalign regrade RUN_DIR --grader G``: grade a stored run again, then rewrite its report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from confalign.cli import app
from confalign.cli._errors import user_errors
from confalign.evaluate.config import HELP, GradingConfig
from confalign.evaluate.regrade import regrade_run
from confalign.report import summary_lines, write_report


@app.command("regrade")
def regrade_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `confalign eval`.")],
    grader: Annotated[str, typer.Option("--grader", help=HELP["grader"])] = GradingConfig.grader,
    judge_model: Annotated[
        str | None, typer.Option("--judge-model", help=HELP["judge_model"])
    ] = None,
    judge_backend: Annotated[
        str, typer.Option("--judge-backend", help="The judge's backend.")
    ] = GradingConfig.judge_backend,
) -> None:
    """Grade the stored answers of a run again (no model runs, except a judge's), then
    rewrite its report. The old verdicts stay until every new one is ready."""
    with user_errors():
        grading = GradingConfig(grader=grader, judge_model=judge_model, judge_backend=judge_backend)  # type: ignore[arg-type]
        result = regrade_run(run_dir, grading)
        report, files = write_report(run_dir)
    changes = ", ".join(f"{k}: {v}" for k, v in sorted(result.changes.items()))
    typer.echo(f"regraded {result.n_rows} rows with {result.grading['grader']} ({changes})")
    for line in summary_lines(report.data):
        typer.echo(line)
    typer.echo(f"report: {files.html}")
