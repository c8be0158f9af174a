"""``confalign demo``: run ``confalign.pipelines.demo`` (evaluation, then the report) and print
where the report is and a short metrics table; then the DCA repair and its before/after."""

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
    """Evaluate the embedded model on offline MMLU, CalibratedMath and world_facts questions,
    write the report, then repair its verbalized confidence with a short DCA run on
    world_facts (before/after, with 95% bootstrap intervals)."""
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
    """The short DCA run and its before/after rows, with 95% bootstrap intervals."""
    from confalign.pipelines.demo import demo_dca_config
    from confalign.pipelines.training import run_training
    from confalign.report.before_after import before_after

    config = demo_dca_config(output / "dca")
    s = config.settings
    typer.echo(
        f"repair (DCA): {s.train_limit} {s.dataset} training questions, {s.eval_limit} held-out; "
        "Cv = verbalized probability, Ci = the answer's own token probability"
    )
    with user_errors():
        result = interruptible(lambda: run_training(config, progress=progress), output / "dca")
    rows = before_after({"base": result.output / "eval-base", "dca": result.output / "eval-dca"})
    typer.echo(
        f"  {'mode':<13}{'model':<6}{'rho(Cv,Ci) [95% CI]':>24}{'|eps| [95% CI]':>22}"
        f"{'parsed':>8}{'acc':>7}"
    )
    for r in rows:
        typer.echo(
            f"  {r['mode']:<13}{r['model']:<6}{_with_ci(r, 'spearman'):>24}"
            f"{_with_ci(r, 'mean_abs_gap'):>22}{r['parse_rate']:>8.2f}{r['accuracy']:>7.3f}"
        )
    for before, after in zip(rows[::2], rows[1::2], strict=True):
        b, a = before.get("spearman_ci"), after.get("spearman_ci")
        if b and a:
            verdict = "do not overlap" if a[0] > b[1] or b[0] > a[1] else "overlap"
            typer.echo(f"  {before['mode']}: the rho intervals before and after {verdict}")
    typer.echo(f"  adapter: {result.adapter}; table: {result.report}")


def _with_ci(row: dict, key: str) -> str:
    value, interval = row.get(key, float("nan")), row.get(f"{key}_ci")
    if not interval:
        return f"{value:.3f}"
    return f"{value:.3f} [{interval[0]:.2f}, {interval[1]:.2f}]"
