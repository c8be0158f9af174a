"""``confalign study``: base vs tuned model pairs (``confalign.analysis.study``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from confalign.cli import app
from confalign.cli._errors import user_errors


@app.command("study")
def study_command(
    pair: Annotated[
        list[str] | None,
        typer.Option(
            "--pair",
            "-p",
            help="A pair BASE,TUNED (repeatable); a side may be MODEL+ADAPTER_FOLDER.",
        ),
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="A YAML file with pairs (and settings).")
    ] = None,
    tasks: Annotated[
        str | None,
        typer.Option(
            help="Tasks (comma-separated); default: arc_easy,hellaswag,medmcqa,mmlu,piqa."
        ),
    ] = None,
    methods: Annotated[
        str | None, typer.Option(help="choice,continuation_sum,continuation_min (default: all).")
    ] = None,
    metrics: Annotated[
        str | None, typer.Option(help="ece,sce,brier,auroc,accuracy (default: all).")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Questions per task (seeded sample).")] = None,
    seed: Annotated[int | None, typer.Option(help="Sampling and bootstrap seed.")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Study folder.")] = Path(
        "runs/study"
    ),
    runs_dir: Annotated[
        Path | None, typer.Option(help="Where the evals are stored (default: OUTPUT/runs).")
    ] = None,
    chat: Annotated[
        bool,
        typer.Option(
            "--chat/--no-chat",
            help="Apply each model's chat template (default: no, every model sees lm-eval's "
            "plain prompts, as in the paper).",
        ),
    ] = False,
    bins: Annotated[int, typer.Option(help="Equal-width bins of ECE and SCE.")] = 15,
    bootstrap: Annotated[int, typer.Option(help="Paired bootstrap resamples.")] = 1000,
    backend: Annotated[str, typer.Option(help="Backend that runs the models.")] = "hf",
    threads: Annotated[int | None, typer.Option(help="CPU threads.")] = None,
    stratify: Annotated[bool, typer.Option(help="Subject-stratified samples.")] = False,
) -> None:
    """Does tuning break internal confidence? Base vs tuned per task x method x metric."""
    from confalign.analysis.study import (
        StudyConfig,
        load_study_file,
        parse_pair,
        run_study,
        write_study,
    )

    start = time.perf_counter()
    with user_errors():
        settings: dict[str, Any] = load_study_file(file) if file is not None else {}
        pairs = tuple(settings.pop("pairs", ())) + tuple(parse_pair(p) for p in pair or ())
        given = {"tasks": tasks, "methods": methods, "metrics": metrics, "limit": limit}
        settings.update({k: v for k, v in given.items() if v is not None})
        if seed is not None:
            settings["seed"] = seed
        eval_options: dict[str, Any] = {"backend": backend, "stratify": stratify, "chat": chat}
        if threads is not None:
            eval_options["threads"] = threads
        config = StudyConfig(
            pairs=pairs,
            output=output,
            runs_dir=runs_dir,
            n_bins=bins,
            n_bootstrap=bootstrap,
            eval_options=eval_options,
            **settings,
        )
        result = run_study(config)
        files = write_study(result, config)
    for v in result.data["verdicts"]:
        typer.echo(
            f"{v['metric']:>8} {v['method']:<18} worse {v['n_worse']}/{v['n_cells']}, "
            f"harmed {v['n_harmed']}, improved {v['n_improved']}: {v['verdict']}"
        )
    typer.echo(f"study: {files.html}\n       {files.markdown}\n       {files.json}")
    typer.echo(f"done in {time.perf_counter() - start:.0f} s")
