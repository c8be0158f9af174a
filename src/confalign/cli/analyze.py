"""``confalign analyze``: analyses of stored runs (``confalign.analysis``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from confalign.cli import app
from confalign.cli._errors import user_errors

analyze_app = typer.Typer(help="Analyses of stored runs.", no_args_is_help=True)
app.add_typer(analyze_app, name="analyze")


@analyze_app.command("survey")
def survey_command(
    run_dir: Annotated[
        Path, typer.Argument(help="A run with an open-QA dataset (and its MC twin).")
    ],
    open_dataset: Annotated[str, typer.Option(help="The open-QA dataset.")] = "calibrated_math",
    mc_dataset: Annotated[
        str, typer.Option(help="Its distractor-augmented multiple-choice version.")
    ] = "calibrated_math_mc",
    mc_run: Annotated[
        Path | None, typer.Option(help="A separate run holding the multiple-choice version.")
    ] = None,
    ks: Annotated[str, typer.Option(help="Sample counts for consistency@k.")] = "5,10,20",
    bins: Annotated[int, typer.Option(help="Equal-width ECE bins.")] = 15,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for AUROC.")] = 1000,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Markdown file.")] = None,
) -> None:
    """The survey's comparisons: normal vs distractor-augmented, which confidence ranks best
    (with its token cost), and reliability per difficulty."""
    from confalign.analysis.inference_methods import survey_tables, to_markdown

    with user_errors():
        k_values = tuple(int(k) for k in ks.split(","))
        tables = survey_tables(
            run_dir,
            open_dataset=open_dataset,
            mc_dataset=mc_dataset,
            mc_run_dir=mc_run,
            ks=k_values,
            n_bins=bins,
            n_bootstrap=bootstrap,
        )
        text = to_markdown(tables)
        if output is not None:
            output.write_text(text)
    typer.echo(text)


@analyze_app.command("elicitation")
def elicitation_command(
    run_dir: Annotated[Path, typer.Argument(help="A run with verbalized methods.")],
    dataset: Annotated[str, typer.Option(help="The dataset of the run.")] = "mmlu_offline",
    internal: Annotated[str, typer.Option(help="The internal method Cv is ranked against.")] = (
        "choice"
    ),
    bins: Annotated[int, typer.Option(help="Equal-width ECE bins.")] = 15,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Markdown file.")] = None,
) -> None:
    """Verbalized confidence by format × mode: parse rate, mean Cv, ECE, AUROC, rho with Ci."""
    from confalign.analysis.elicitation import elicitation_table, to_markdown

    with user_errors():
        rows = elicitation_table(run_dir, dataset, internal=internal, n_bins=bins)
        text = to_markdown(rows, internal=internal)
        if output is not None:
            output.write_text(text)
    typer.echo(text)
