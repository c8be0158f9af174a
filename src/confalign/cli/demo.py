"""``confalign demo``: run ``confalign.pipelines.demo`` (evaluation, then the report) and print
where the report is and a short metrics table."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from confalign.cli import app
from confalign.cli._errors import INTERRUPTED_EXIT, user_errors
from confalign.evaluate import EvalConfig, EvalInterrupted
from confalign.pipelines.demo import DEMO_LIMIT, DEMO_OUTPUT, demo_config, run_demo
from confalign.report import summary_lines


@app.command("demo")
def demo_command(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Run directory (re-running resumes it).")
    ] = DEMO_OUTPUT,
    limit: Annotated[
        int, typer.Option("--limit", "-n", help="Questions in the seeded, stratified sample.")
    ] = DEMO_LIMIT,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Evaluate the embedded model on 200 offline MMLU and 100 CalibratedMath questions and
    write the report."""
    start = time.monotonic()
    with user_errors():
        config = demo_config(output, limit=limit)
        typer.echo(
            f"demo: {config.model} model, {_sizes(config)} (seed {config.seed}); methods "
            f"{', '.join(config.methods or ())}; verbalized "
            f"formats {', '.join(config.formats or ())} in modes {', '.join(config.modes or ())}"
        )
        try:
            result = run_demo(config, progress=progress)
        except EvalInterrupted as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(INTERRUPTED_EXIT) from None
    for line in summary_lines(result.report.data):
        typer.echo(line)
    typer.echo(f"report: {result.files.html}")
    typer.echo(f"        {result.files.markdown}")
    typer.echo(f"        {result.files.json}")
    typer.echo(f"done in {time.monotonic() - start:.0f} s")


def _sizes(config: EvalConfig) -> str:
    return ", ".join(f"{d} ({config.limit_of(d)} questions)" for d in config.datasets)
