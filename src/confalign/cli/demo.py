"""``confalign demo``: run ``confalign.pipelines.demo`` (evaluation, then the report) and print
where the report is and a short metrics table."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from confalign.cli import app
from confalign.cli._errors import INTERRUPTED_EXIT, interruptible, user_errors
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
    repair: Annotated[
        bool, typer.Option(help="Also run the short DCA repair (before/after table).")
    ] = True,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Evaluate the embedded model on offline MMLU and CalibratedMath questions, write the
    report, then repair its verbalized confidence with a short DCA run (before/after)."""
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
    if repair:
        _repair(output, progress)
    typer.echo(f"done in {time.monotonic() - start:.0f} s")


def _sizes(config: EvalConfig) -> str:
    return ", ".join(f"{d} ({config.limit_of(d)} questions)" for d in config.datasets)


def _repair(output: Path, progress: bool) -> None:
    """The short DCA run and the before/after rows that matter on this model."""
    from confalign.pipelines.demo import demo_dca_config
    from confalign.pipelines.training import run_training
    from confalign.report.before_after import before_after

    config = demo_dca_config(output / "dca")
    typer.echo(
        f"repair (DCA): {config.settings.train_limit} MMLU training questions, "
        f"{config.settings.eval_limit} "
        "held-out; Cv = verbalized probability, Ci = the answer's own letter probability"
    )
    with user_errors():
        result = interruptible(lambda: run_training(config, progress=progress), output / "dca")
    rows = before_after({"base": result.output / "eval-base", "dca": result.output / "eval-dca"})
    typer.echo(f"  {'mode':<13}{'model':<6}{'rho(Cv,Ci)':>11}{'|eps|':>8}{'parsed':>8}{'acc':>7}")
    for r in rows:
        typer.echo(
            f"  {r['mode']:<13}{r['model']:<6}{r.get('spearman', float('nan')):>11.3f}"
            f"{r.get('mean_abs_gap', float('nan')):>8.3f}{r['parse_rate']:>8.2f}"
            f"{r['choice_accuracy']:>7.3f}"
        )
    typer.echo(f"  adapter: {result.adapter}; table: {result.report}")
