"""``confalign eval``: build an ``EvalConfig`` from the options and call ``run_eval``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from confalign.cli import app
from confalign.cli._errors import INTERRUPTED_EXIT, user_errors
from confalign.evaluate import EvalConfig, EvalInterrupted, run_eval
from confalign.evaluate.config import HELP


def _opt(name: str, *flags: str) -> typer.models.OptionInfo:
    return typer.Option(*flags, help=HELP[name], show_default=True)


def _default(name: str) -> Any:
    """The ``EvalConfig`` default of field ``name`` (the one source of defaults)."""
    return EvalConfig.__dataclass_fields__[name].default


@app.command("eval")
def eval_command(
    datasets: Annotated[str, _opt("datasets", "--datasets", "-d")],
    model: Annotated[str, _opt("model", "--model", "-m")] = _default("model"),
    backend: Annotated[str, _opt("backend", "--backend")] = _default("backend"),
    adapter: Annotated[str | None, _opt("adapter", "--adapter")] = None,
    allow_overlap: Annotated[bool, _opt("allow_overlap", "--allow-overlap")] = False,
    methods: Annotated[str | None, _opt("methods", "--methods")] = None,
    formats: Annotated[str | None, _opt("formats", "--formats")] = None,
    modes: Annotated[str | None, _opt("modes", "--modes")] = None,
    limit: Annotated[int | None, _opt("limit", "--limit", "-n")] = None,
    dataset_limits: Annotated[str, _opt("dataset_limits", "--dataset-limits")] = "",
    columns: Annotated[str, _opt("column_map", "--columns")] = "",
    seed: Annotated[int, _opt("seed", "--seed")] = _default("seed"),
    samples: Annotated[int | None, _opt("samples", "--samples")] = None,
    temperature: Annotated[float | None, _opt("temperature", "--temperature")] = None,
    split: Annotated[str | None, _opt("split", "--split")] = None,
    stratify: Annotated[bool, _opt("stratify", "--stratify/--no-stratify")] = _default("stratify"),
    output: Annotated[Path | None, _opt("output", "--output", "-o")] = None,
    batch_size: Annotated[int, _opt("batch_size", "--batch-size")] = _default("batch_size"),
    dtype: Annotated[str, _opt("dtype", "--dtype")] = _default("dtype"),
    device: Annotated[str, _opt("device", "--device")] = _default("device"),
    threads: Annotated[int | None, _opt("threads", "--threads")] = None,
    grader: Annotated[str, _opt("grader", "--grader")] = _default("grader"),
    judge_model: Annotated[str | None, _opt("judge_model", "--judge-model")] = None,
    judge_backend: Annotated[str | None, _opt("judge_backend", "--judge-backend")] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Extract every requested confidence over the datasets and store it in a run directory.

    Lists are comma-separated. Re-running the same command resumes; Ctrl-C stops after a batch.
    """
    with user_errors():
        config = EvalConfig(
            datasets=datasets,  # type: ignore[arg-type]  # comma lists become tuples
            model=model,
            backend=backend,  # type: ignore[arg-type]  # validated against the known names
            adapter=adapter,
            allow_overlap=allow_overlap,
            methods=methods,  # type: ignore[arg-type]
            formats=formats,  # type: ignore[arg-type]
            modes=modes,  # type: ignore[arg-type]
            limit=limit,
            dataset_limits=dataset_limits,  # type: ignore[arg-type]  # "a=1,b=2" is parsed
            column_map=columns,  # type: ignore[arg-type]  # "question=q,..." is parsed
            seed=seed,
            samples=samples,
            temperature=temperature,
            split=split,
            stratify=stratify,
            output=output,
            batch_size=batch_size,
            dtype=dtype,  # type: ignore[arg-type]
            device=device,
            threads=threads,
            grader=grader,  # type: ignore[arg-type]  # validated against the known graders
            judge_model=judge_model,
            judge_backend=judge_backend,  # type: ignore[arg-type]
        )
        try:
            run_dir = run_eval(config, progress=progress)
        except EvalInterrupted as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(INTERRUPTED_EXIT) from None
    typer.echo(f"results: {run_dir}")
