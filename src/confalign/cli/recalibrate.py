"""``confalign recalibrate RUN --fit RUN_OR_FRACTION | --apply FILE``: build a
``RecalibrateConfig``, call ``recalibrate_run``, print what was fitted and where it went."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from confalign.cli import app
from confalign.cli._errors import fail, user_errors
from confalign.recalibrate import MAPS, RecalibrateConfig, recalibrate_run
from confalign.recalibrate.run import describe


def _fit_source(text: str | None) -> tuple[Path | None, float | None]:
    """A run directory, or a fraction in (0, 1) of RUN's own examples held apart."""
    if text is None:
        return None, None
    try:
        return None, float(text)
    except ValueError:
        return Path(text), None


@app.command("recalibrate")
def recalibrate_command(
    run_dir: Annotated[Path, typer.Argument(help="The evaluated run (written by `eval`).")],
    fit: Annotated[
        str | None,
        typer.Option(
            "--fit",
            help="Calibration set: another run directory (e.g. another seed's sample), or a "
            "fraction in (0, 1) of RUN's examples held apart (needs --output).",
        ),
    ] = None,
    apply: Annotated[
        Path | None,
        typer.Option("--apply", help="Apply maps fitted before (a recalibration.json)."),
    ] = None,
    methods: Annotated[
        str, typer.Option("--methods", help=f"Maps, comma-separated: {', '.join(MAPS)}.")
    ] = ",".join(MAPS),
    fit_seed: Annotated[
        int, typer.Option("--fit-seed", help="Seed of the held-apart fraction.")
    ] = 0,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write a new run here; default: into RUN."),
    ] = None,
    drop_overlap: Annotated[
        bool,
        typer.Option(
            "--drop-overlap",
            help="Fit without the fit examples that RUN also holds, instead of refusing them.",
        ),
    ] = False,
) -> None:
    """Fit recalibration maps per dataset and method on a disjoint calibration set and store
    the recalibrated confidences as methods of their own (choice+platt, ...)."""
    if fit is not None and apply is not None:
        fail("give --fit or --apply, not both")
    fit_run, fraction = _fit_source(fit)
    with user_errors():
        config = RecalibrateConfig(
            run=run_dir,
            fit_run=fit_run,
            fit_fraction=fraction,
            fit_seed=fit_seed,
            apply=apply,
            maps=tuple(m.strip() for m in methods.split(",") if m.strip()),
            output=output,
            drop_overlap=drop_overlap,
        )
        result = recalibrate_run(config)
    for line in describe(result):
        typer.echo(line)
    typer.echo(f"recalibrated: {result.n_rows} rows in {result.run_dir}")
    typer.echo(f"maps: {result.file}")
