"""The ``confalign`` command: a thin typer layer that builds typed configs and calls the library."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="confalign",
    help="Measure and repair how well a language model's confidence matches reality.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    # Each sub-command lives in its own module; importing it attaches it to ``app``.
    import confalign.cli.eval  # noqa: F401
    from confalign.cli import (  # noqa: F401
        analyze,
        datasets,
        demo,
        recalibrate,
        regrade,
        report,
        study,
        train,
    )


def main() -> None:
    _register()
    app()
