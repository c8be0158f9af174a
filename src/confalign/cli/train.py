"""``confalign train <method>``: one command per registered method (``train.methods``), its
options generated from the shared ``RunSettings`` and the method's options dataclass (field
metadata is the help; the method's defaults are the defaults). ``confalign train --list``
names the methods.

On several GPUs or machines the same command runs under ``accelerate launch`` (DDP,
DeepSpeed, FSDP from accelerate's config): ``accelerate launch --multi_gpu --num_processes N
-m confalign.cli train dca ...`` (on a machine without GPUs the same launches N CPU processes
over gloo; accelerate's ``--cpu`` flag would run a single one).
"""

from __future__ import annotations

import inspect
import types
import typing
from dataclasses import Field, fields
from pathlib import Path
from typing import Annotated, Any

import typer

from confalign.cli import app
from confalign.cli._errors import interruptible, user_errors
from confalign.pipelines.card import cli_value, flag
from confalign.pipelines.settings import RunSettings, make_config, method_defaults
from confalign.train.methods import get_method, method_names

train_app = typer.Typer(
    help="Fine-tune a model's confidence (LoRA adapters); `confalign train --list` names the "
    "methods.",
    no_args_is_help=True,
)
app.add_typer(train_app, name="train")


@train_app.callback(invoke_without_command=True)
def train_group(
    ctx: typer.Context,
    list_methods: Annotated[
        bool, typer.Option("--list", help="Name the training methods and exit.")
    ] = False,
) -> None:
    """Fine-tune a model's confidence (LoRA adapters), then measure it before/after."""
    if list_methods:
        for name in method_names():
            typer.echo(f"{name:<16}{get_method(name).summary}")
        raise typer.Exit(0)
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)


def _cli_type(annotation: Any) -> tuple[type, bool]:
    """(the type typer reads, whether the value is a comma list) of a field's annotation."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _cli_type(inner)
    if typing.get_origin(annotation) is tuple:
        return str, True
    if typing.get_origin(annotation) is typing.Literal:
        return str, False
    return annotation, False


def _parameter(f: Field, annotation: Any, default: Any, panel: str) -> inspect.Parameter:
    kind, _ = _cli_type(annotation)
    flags = f.metadata.get("flag") or (flag(f),)
    if kind is bool:
        flags = (f"{flags[0]}/--no-{flags[0][2:]}",)
    required = f.name == "output"
    shown = cli_value(default) if isinstance(default, tuple) else default
    info = typer.Option(*flags, help=f.metadata.get("help", ""), rich_help_panel=panel)
    return inspect.Parameter(
        f.name,
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[kind if required else kind | None, info],
        default=inspect.Parameter.empty if required else shown,
    )


def _parse(annotation: Any, value: Any) -> Any:
    """A command-line value as the field takes it (comma lists, ``none``)."""
    _, is_list = _cli_type(annotation)
    optional = type(None) in typing.get_args(annotation)
    if isinstance(value, str) and optional and value.lower() == "none":
        return None
    if is_list and isinstance(value, str):
        return tuple(x.strip() for x in value.split(",") if x.strip())
    return value


def _command(name: str) -> None:
    """Register ``confalign train <name>``."""
    spec = get_method(name)
    defaults = method_defaults(name)
    hints = {**typing.get_type_hints(RunSettings), **typing.get_type_hints(spec.options)}
    params = [
        _parameter(f, hints[f.name], defaults.get(f.name), panel)
        for panel, cls in (("Every method", RunSettings), (f"{name} options", spec.options))
        for f in fields(cls)
    ]
    progress = typer.Option("--progress/--no-progress", help="Show progress bars.")
    params.append(
        inspect.Parameter(
            "progress",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Annotated[bool, progress],
            default=True,
        )
    )

    def command(**values: Any) -> None:
        from confalign.pipelines import training

        show = values.pop("progress")
        with user_errors():
            parsed = {k: _parse(hints[k], v) for k, v in values.items()}
            config = make_config(name, **parsed)
            result = interruptible(
                lambda: training.run_training(config, progress=show), config.output
            )
        typer.echo(f"training data: {result.examples} ({result.stats})")
        typer.echo(f"adapter: {result.adapter}")
        if result.report:
            typer.echo(f"report: {result.report}")
            typer.echo(result.report.read_text())

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__name__ = f"train_{name.replace('-', '_')}"
    train_app.command(name, help=f"{spec.summary} Then before/after; re-running resumes.")(command)


for _name in method_names():
    _command(_name)

__all__ = ["Path", "train_app"]
