"""``confalign train dca``: build a ``DCAConfig`` from the options and call ``run_dca``.

On several GPUs or machines the same command runs under ``accelerate launch`` (DDP,
DeepSpeed, FSDP from accelerate's config): ``accelerate launch --multi_gpu --num_processes N
-m confalign.cli train dca ...`` (on a machine without GPUs the same launches N CPU processes
over gloo; accelerate's ``--cpu`` flag would run a single one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from confalign.cli import app
from confalign.cli._errors import INTERRUPTED_EXIT, user_errors
from confalign.train.core import LoraSettings, TrainSettings

train_app = typer.Typer(
    help="Fine-tune a model's confidence (LoRA adapters): dca.", no_args_is_help=True
)
app.add_typer(train_app, name="train")

_T, _L = TrainSettings(), LoraSettings()


@train_app.command("dca")
def dca_command(
    output: Annotated[Path, typer.Option("--output", "-o", help="Run folder (resumable).")],
    model: Annotated[str, typer.Option("--model", "-m", help="Hub id, folder or 'default'.")] = (
        "default"
    ),
    dataset: Annotated[str, typer.Option(help="Training and held-out dataset.")] = "mmlu_offline",
    ood_dataset: Annotated[
        str, typer.Option(help="Out-of-distribution dataset ('none': none).")
    ] = "calibrated_math",
    train_split: Annotated[str | None, typer.Option(help="Split for training.")] = None,
    eval_split: Annotated[str | None, typer.Option(help="Split for the held-out set.")] = None,
    train_limit: Annotated[int, typer.Option(help="Training questions (pairs <= this).")] = 700,
    eval_limit: Annotated[int, typer.Option(help="Held-out questions.")] = 300,
    ood_limit: Annotated[int, typer.Option(help="Out-of-distribution questions.")] = 200,
    validation_limit: Annotated[
        int, typer.Option(help="Training-split questions held apart for tuning (0: none).")
    ] = 0,
    mode: Annotated[str, typer.Option(help="Response elicitation: free or prefill.")] = "prefill",
    loss: Annotated[str, typer.Option(help="Preference loss: ipo or sigmoid (DPO).")] = "ipo",
    beta: Annotated[float, typer.Option(help="DPO/IPO beta.")] = 0.1,
    lr: Annotated[float, typer.Option("--lr", help="Learning rate.")] = _T.learning_rate,
    epochs: Annotated[float, typer.Option(help="Epochs.")] = _T.epochs,
    batch_size: Annotated[int, typer.Option(help="Pairs per micro-batch.")] = _T.batch_size,
    grad_accum: Annotated[int, typer.Option(help="Gradient accumulation steps.")] = _T.grad_accum,
    max_steps: Annotated[int, typer.Option(help="Stop after N steps (-1: epochs).")] = -1,
    optim: Annotated[str, typer.Option(help="Optimizer (transformers' names).")] = _T.optim,
    max_grad_norm: Annotated[float, typer.Option(help="Gradient clipping (0: off).")] = (
        _T.max_grad_norm
    ),
    save_steps: Annotated[int, typer.Option(help="Steps between checkpoints.")] = _T.save_steps,
    logging_steps: Annotated[int, typer.Option(help="Steps between loss logs.")] = (
        _T.logging_steps
    ),
    lora_r: Annotated[int, typer.Option(help="LoRA rank.")] = _L.r,
    lora_alpha: Annotated[int, typer.Option(help="LoRA alpha.")] = _L.alpha,
    seed: Annotated[int, typer.Option(help="Training sample and training seed.")] = 0,
    eval_seed: Annotated[int, typer.Option(help="Held-out sample seed.")] = 1,
    pairs_file: Annotated[
        Path | None, typer.Option(help="Train on these pairs (JSONL, TRL format).")
    ] = None,
    evaluate: Annotated[bool, typer.Option(help="Evaluate before/after.")] = True,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1, ...")] = "auto",
    threads: Annotated[int | None, typer.Option(help="CPU threads.")] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Direct Confidence Alignment: pairs whose chosen response says the model's internal
    confidence, DPO/IPO + LoRA, then before/after on held-out data. Re-running resumes."""
    from confalign.pipelines.dca import DCAConfig, run_dca
    from confalign.train.dca_data import PairsFileError

    with user_errors(PairsFileError):
        config = DCAConfig(
            output=output,
            model=model,
            dataset=dataset,
            ood_dataset=None if ood_dataset.lower() == "none" else ood_dataset,
            train_split=train_split,
            eval_split=eval_split,
            train_limit=train_limit,
            eval_limit=eval_limit,
            ood_limit=ood_limit,
            validation_limit=validation_limit,
            mode=mode,  # type: ignore[arg-type]  # validated by DCAConfig
            loss=loss,  # type: ignore[arg-type]
            beta=beta,
            seed=seed,
            eval_seed=eval_seed,
            pairs_file=pairs_file,
            evaluate=evaluate,
            device=device,
            threads=threads,
            train=TrainSettings(
                learning_rate=lr,
                epochs=epochs,
                batch_size=batch_size,
                grad_accum=grad_accum,
                max_steps=max_steps,
                optim=optim,
                max_grad_norm=max_grad_norm,
                save_steps=save_steps,
                logging_steps=logging_steps,
                seed=seed,
                lora=LoraSettings(r=lora_r, alpha=lora_alpha),
            ),
        )
        try:
            result = run_dca(config, progress=progress)
        except KeyboardInterrupt:
            typer.echo(
                f"interrupted: everything stored in {output} is kept; the same command "
                "continues from the last checkpoint",
                err=True,
            )
            raise typer.Exit(INTERRUPTED_EXIT) from None
    typer.echo(f"pairs: {result.pairs} ({result.stats})")
    typer.echo(f"adapter: {result.adapter}")
    if result.report:
        typer.echo(f"report: {result.report}")
        typer.echo(result.report.read_text())
