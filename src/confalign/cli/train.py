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
from confalign.cli._errors import interruptible, user_errors
from confalign.train.core import LoraSettings, TrainSettings

train_app = typer.Typer(
    help="Fine-tune a model's confidence (LoRA adapters): dca, advice, conftuner.",
    no_args_is_help=True,
)
app.add_typer(train_app, name="train")

_T, _L = TrainSettings(), LoraSettings()
ValidationOnly = Annotated[
    bool,
    typer.Option(help="Evaluate on the validation split only (sweeps; held-out stays unseen)."),
]


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
    sft_weight: Annotated[
        float, typer.Option(help="Weight of the chosen responses' NLL (TRL's 'sft'; 0: off).")
    ] = 0.0,
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
    validation_only: ValidationOnly = False,
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
            sft_weight=sft_weight,
            seed=seed,
            eval_seed=eval_seed,
            pairs_file=pairs_file,
            evaluate=evaluate,
            validation_only=validation_only,
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
        result = interruptible(lambda: run_dca(config, progress=progress), output)
    typer.echo(f"pairs: {result.examples} ({result.stats})")
    typer.echo(f"adapter: {result.adapter}")
    if result.report:
        typer.echo(f"report: {result.report}")
        typer.echo(result.report.read_text())


# -- ADVICE and ConfTuner: one pipeline (``pipelines.tuning``), the same data/eval options ------

Output = Annotated[Path, typer.Option("--output", "-o", help="Run folder (resumable).")]
Model = Annotated[str, typer.Option("--model", "-m", help="Hub id, folder or 'default'.")]
Dataset = Annotated[str, typer.Option(help="Training and held-out dataset.")]
OodDataset = Annotated[str, typer.Option(help="Out-of-distribution dataset ('none': none).")]
Split = Annotated[str | None, typer.Option(help="Dataset split (default: the dataset's).")]
Count = Annotated[int, typer.Option(help="Number of questions.")]
Formats = Annotated[str | None, typer.Option(help="Comma-separated score formats.")]
Float = Annotated[float, typer.Option()]
Int = Annotated[int, typer.Option()]


def _tuning(method: object, lora: LoraSettings, options: dict) -> None:
    """Build the ``TuningConfig`` of ``options`` and run it (shared by both commands)."""
    from confalign.pipelines.tuning import TuningConfig, run_tuning
    from confalign.train.jsonl import RecordsFileError

    o = options
    with user_errors(RecordsFileError):
        config = TuningConfig(
            output=o["output"],
            method=method,  # type: ignore[arg-type]
            model=o["model"],
            dataset=o["dataset"],
            ood_dataset=None if o["ood_dataset"].lower() == "none" else o["ood_dataset"],
            train_split=o["train_split"],
            eval_split=o["eval_split"],
            train_limit=o["train_limit"],
            eval_limit=o["eval_limit"],
            ood_limit=o["ood_limit"],
            validation_limit=o["validation_limit"],
            seed=o["seed"],
            eval_seed=o["eval_seed"],
            **({"eval_formats": _split(o["eval_formats"])} if o["eval_formats"] else {}),
            ood_formats=_split(o["ood_formats"]) if o["ood_formats"] else None,
            evaluate=o["evaluate"],
            validation_only=o["validation_only"],
            device=o["device"],
            threads=o["threads"],
            train=TrainSettings(
                learning_rate=o["lr"],
                epochs=o["epochs"],
                batch_size=o["batch_size"],
                grad_accum=o["grad_accum"],
                max_steps=o["max_steps"],
                max_grad_norm=o["max_grad_norm"],
                save_steps=o["save_steps"],
                logging_steps=o["logging_steps"],
                seed=o["seed"],
                lora=lora,
            ),
        )
        result = interruptible(lambda: run_tuning(config, progress=o["progress"]), o["output"])
    typer.echo(f"training data: {result.examples} ({result.stats})")
    typer.echo(f"adapter: {result.adapter}")
    if result.report:
        typer.echo(f"report: {result.report}")
        typer.echo(result.report.read_text())


def _split(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def _lora(r: int | None, alpha: int | None, default: LoraSettings) -> LoraSettings:
    from dataclasses import replace

    return replace(default, r=r or default.r, alpha=alpha or default.alpha)


@train_app.command("advice")
def advice_command(
    output: Output,
    model: Model = "default",
    dataset: Dataset = "calibrated_math",
    ood_dataset: OodDataset = "mmlu_offline",
    train_split: Split = None,
    eval_split: Split = None,
    train_limit: Count = 600,
    eval_limit: Count = 300,
    ood_limit: Count = 200,
    validation_limit: Count = 0,
    correct_from: Annotated[
        str, typer.Option(help="Correct answers: greedy (the model's right ones) or gold.")
    ] = "greedy",
    lm_weight: Float = 1.0,
    jsd_weight: Float = 1.0,
    margin_weight: Float = 1.0,
    sum_weight: Float = 1.0,
    d_jsd: Annotated[float, typer.Option(help="JSD margin (nats).")] = 0.6,
    d_m: Annotated[float, typer.Option(help="Mean-confidence margin.")] = 1.0,
    eval_formats: Formats = None,
    ood_formats: Formats = None,
    lr: Annotated[float, typer.Option("--lr", help="Learning rate.")] = 1e-5,
    epochs: Float = 4.0,
    batch_size: Annotated[int, typer.Option(help="Triplets per mini-batch.")] = 16,
    grad_accum: Int = 2,
    max_steps: Annotated[int, typer.Option(help="Stop after N steps (-1: epochs).")] = -1,
    max_grad_norm: Float = _T.max_grad_norm,
    save_steps: Int = _T.save_steps,
    logging_steps: Int = _T.logging_steps,
    lora_r: Annotated[int | None, typer.Option(help="LoRA rank (default 16).")] = None,
    lora_alpha: Annotated[int | None, typer.Option(help="LoRA alpha (default 32).")] = None,
    seed: Annotated[int, typer.Option(help="Training sample and training seed.")] = 0,
    eval_seed: Annotated[int, typer.Option(help="Held-out sample seed.")] = 1,
    evaluate: Annotated[bool, typer.Option(help="Evaluate before/after.")] = True,
    validation_only: ValidationOnly = False,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1, ...")] = "auto",
    threads: Annotated[int | None, typer.Option(help="CPU threads.")] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """ADVICE: contrastive losses that make the verbalized confidence depend on the answer
    (score_letter + score_number), LoRA, then before/after beside Platt scaling."""
    from confalign.pipelines.tuning import AdviceOptions, advice_lora
    from confalign.train.advice import AdviceWeights

    with user_errors():
        weights = AdviceWeights(lm_weight, jsd_weight, margin_weight, sum_weight, d_jsd, d_m)
        method = AdviceOptions(correct_from=correct_from, weights=weights)  # type: ignore[arg-type]
        lora = _lora(lora_r, lora_alpha, advice_lora())
    _tuning(method, lora, locals())


@train_app.command("conftuner")
def conftuner_command(
    output: Output,
    model: Model = "default",
    dataset: Dataset = "calibrated_math",
    ood_dataset: OodDataset = "mmlu_offline",
    train_split: Split = None,
    eval_split: Split = None,
    train_limit: Count = 600,
    eval_limit: Count = 300,
    ood_limit: Count = 200,
    validation_limit: Count = 0,
    format: Annotated[
        str, typer.Option("--format", help="Trained format: score_percent or score_number.")
    ] = "score_percent",
    lm_weight: Annotated[float, typer.Option(help="Weight of the optional LM loss.")] = 0.0,
    eval_formats: Formats = None,
    ood_formats: Formats = None,
    lr: Annotated[float, typer.Option("--lr", help="Learning rate.")] = 1e-5,
    epochs: Float = 3.0,
    batch_size: Annotated[int, typer.Option(help="Answers per micro-batch.")] = 4,
    grad_accum: Int = 1,
    max_steps: Annotated[int, typer.Option(help="Stop after N steps (-1: epochs).")] = -1,
    max_grad_norm: Float = _T.max_grad_norm,
    save_steps: Int = _T.save_steps,
    logging_steps: Int = _T.logging_steps,
    lora_r: Annotated[int | None, typer.Option(help="LoRA rank (default 8).")] = None,
    lora_alpha: Annotated[int | None, typer.Option(help="LoRA alpha (default 32).")] = None,
    seed: Annotated[int, typer.Option(help="Training sample and training seed.")] = 0,
    eval_seed: Annotated[int, typer.Option(help="Held-out sample seed.")] = 1,
    evaluate: Annotated[bool, typer.Option(help="Evaluate before/after.")] = True,
    validation_only: ValidationOnly = False,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1, ...")] = "auto",
    threads: Annotated[int | None, typer.Option(help="CPU threads.")] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """ConfTuner: the tokenized Brier loss over the confidence levels of the model's own
    answers, LoRA, then before/after beside Platt scaling."""
    from confalign.pipelines.tuning import ConfTunerOptions, conftuner_lora

    with user_errors():
        method = ConfTunerOptions(format=format, lm_weight=lm_weight)
        lora = _lora(lora_r, lora_alpha, conftuner_lora())
    _tuning(method, lora, locals())
