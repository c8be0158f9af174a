"""``confalign datasets list`` and ``confalign datasets show NAME``: print what
``confalign.data`` reports; a user's mistake is one line and exit code 2."""

from __future__ import annotations

from typing import Annotated

import typer

from confalign.cli import app
from confalign.cli._errors import user_errors
from confalign.data import (
    benchmark_infos,
    describe_load,
    format_table,
    load_benchmark,
    parse_column_map,
)

datasets_app = typer.Typer(
    name="datasets",
    help="List the registered benchmarks and show examples of one (or of a local file).",
    no_args_is_help=True,
)
app.add_typer(datasets_app, name="datasets")


@datasets_app.command("list")
def list_command() -> None:
    """Name, Hub id, offline availability and size of every registered benchmark."""
    with user_errors():
        lines = format_table(benchmark_infos())
    for line in lines:
        typer.echo(line)


@datasets_app.command("show")
def show_command(
    name: Annotated[str, typer.Argument(help="A benchmark name or a JSONL/CSV/Parquet file.")],
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many examples to show.")] = 3,
    split: Annotated[
        str | None, typer.Option("--split", help="Split; default: the evaluation split.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the shown sample.")] = 0,
    subject: Annotated[
        list[str] | None, typer.Option("--subject", help="Only this subject (repeatable).")
    ] = None,
    columns: Annotated[
        str, typer.Option("--columns", help="A file's columns: question=q,gold=label,...")
    ] = "",
) -> None:
    """Load NAME and print a seeded sample of its examples, the gold answer marked."""
    with user_errors():
        result = load_benchmark(
            name,
            split=split,
            limit=limit,
            seed=seed,
            subjects=subject,
            column_map=parse_column_map(columns) if columns else None,
        )
        lines = describe_load(result)
    for line in lines:
        typer.echo(line)
