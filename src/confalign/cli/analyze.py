"""``confalign analyze``: analyses of stored runs (``confalign.analysis``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from confalign.cli import app
from confalign.cli._errors import INTERRUPTED_EXIT, user_errors

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


@analyze_app.command("answer-dependence")
def answer_dependence_command(
    datasets: Annotated[str, typer.Option("--datasets", "-d", help="Comma-separated datasets.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Run directory to write.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Hub id, folder or 'default'.")] = (
        "default"
    ),
    adapter: Annotated[str | None, typer.Option(help="A LoRA adapter folder (peft).")] = None,
    formats: Annotated[str, typer.Option(help="Verbalized formats, comma-separated.")] = (
        "score_letter,score_number"
    ),
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", help="Questions per dataset.")
    ] = None,
    rollout_limit: Annotated[
        int | None, typer.Option(help="Of those, how many get attention rollout (0: none).")
    ] = None,
    ig_limit: Annotated[
        int | None, typer.Option(help="Of those, how many get integrated gradients (0: none).")
    ] = None,
    ig_steps: Annotated[int, typer.Option(help="Integrated-gradients steps.")] = 64,
    ig_batch: Annotated[int, typer.Option(help="IG steps per forward pass.")] = 8,
    seed: Annotated[int, typer.Option(help="Sample and distractor seed.")] = 0,
    stratify: Annotated[bool, typer.Option(help="Stratify the sample by subject.")] = True,
    dtype: Annotated[str, typer.Option(help="auto, float32, bfloat16 or float16.")] = "auto",
    device: Annotated[str, typer.Option(help="auto, cpu, cuda...")] = "auto",
    threads: Annotated[int | None, typer.Option(help="CPU threads for torch.")] = None,
) -> None:
    """ADVICE's answer-dependence analyses: JSD given correct vs wrong answers, answer masking,
    attention rollout and integrated gradients from the confidence position. Resumable."""
    from confalign.analysis.answer_dependence import (
        AnswerDependenceConfig,
        run_answer_dependence,
    )

    with user_errors():
        config = AnswerDependenceConfig(
            datasets=tuple(d.strip() for d in datasets.split(",") if d.strip()),
            output=output,
            model=model,
            adapter=adapter,
            formats=tuple(f.strip() for f in formats.split(",") if f.strip()),
            limit=limit,
            rollout_limit=rollout_limit,
            ig_limit=ig_limit,
            ig_steps=ig_steps,
            ig_batch=ig_batch,
            seed=seed,
            stratify=stratify,
            dtype=dtype,
            device=device,
            threads=threads,
        )
        try:
            summary = run_answer_dependence(config, log=lambda m: typer.echo(m, err=True))
        except KeyboardInterrupt:
            # run_answer_dependence has already summarised what is stored and said so.
            raise typer.Exit(INTERRUPTED_EXIT) from None
    typer.echo(f"summary: {summary}")
