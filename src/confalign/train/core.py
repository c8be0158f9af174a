"""The training core every method shares: a LoRA policy (peft) and transformers' ``Trainer``.

The loop, checkpoints, resumption, gradient accumulation, learning-rate schedules and
multi-process training (``accelerate launch``: DDP, DeepSpeed, FSDP) are transformers'.
``MethodTrainer`` overrides ``compute_loss``: the method's loss on a batch of its own records,
which the collator passes through untouched (``remove_unused_columns=False``); and
``training_step``, so that a loss over packed items (``train.packing.ItemLoss``) backpropagates
each forward pass's share as soon as the pass has run, rather than keeping every pass's
activations for one backward at the end (the micro-batch's gradient is the same).

Loss scaling: a method's loss is the mean over the pairs of the micro-batch; the Trainer
divides it by the accumulation steps (``loss_is_scaled_for_ga = False``; there are no labels,
so no ``num_items_in_batch``), and DDP averages gradients over processes, so a global batch of
B pairs gives the same gradient however it is split (equal micro-batches).

A killed run resumes from its newest complete checkpoint with the same call (``checkpoints``:
each is sealed once written; an incomplete one is set aside): optimizer, scheduler, RNG states
and the data order are restored by the Trainer.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from confalign.backends.peft_compat import peft_wrapping
from confalign.runs import atomic_dir, seal_dir, writing
from confalign.train.checkpoints import resume_point, rotate
from confalign.train.packing import BATCH_TOKENS

Device = str
CHECKPOINTS = "checkpoints"
ADAPTER = "adapter"


@dataclass(frozen=True)
class LoraSettings:
    """LoRA (peft): rank ``r``, scale ``alpha / r``, dropout, and the projections it adapts
    (module-name suffixes; DCA's default: every attention and MLP projection). Dropout is off
    by default (peft's default; DCA states none): on CPU it cost 20% of a training step."""

    r: int = 16
    alpha: int = 16
    dropout: float = 0.0
    target_modules: tuple[str, ...] = (
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    )

    def __post_init__(self) -> None:
        if self.r < 1 or self.alpha <= 0:
            raise ValueError(
                f"LoRA r must be >= 1 and alpha > 0, got r={self.r}, alpha={self.alpha}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"LoRA dropout must be in [0, 1), got {self.dropout}")
        if not self.target_modules:
            raise ValueError("LoRA needs at least one target module")


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings (the Trainer's names and meanings). ``batch_size`` is per process
    and micro-batch: the global batch is ``batch_size * grad_accum * processes``.
    ``batch_tokens``: tokens per forward pass of the packed layout (each pass's activations are
    freed before the next runs, so this bounds the activation memory: about 1.3 MB a token for
    SmolLM2-135M in fp32). ``save_steps``: optimizer steps between checkpoints (a kill loses at
    most that many)."""

    learning_rate: float = 5e-5
    epochs: float = 1.0
    batch_size: int = 4
    grad_accum: int = 1
    warmup_ratio: float = 0.05
    scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "linear"
    weight_decay: float = 0.0
    optim: str = "adamw_torch"  # any of transformers' ``OptimizerNames``
    max_grad_norm: float = 1.0  # gradient clipping (0: none); TRL's and the Trainer's default
    max_steps: int = -1
    save_steps: int = 20
    save_total_limit: int = 2
    logging_steps: int = 5
    seed: int = 0
    batch_tokens: int = BATCH_TOKENS
    lora: LoraSettings = field(default_factory=LoraSettings)

    def __post_init__(self) -> None:
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if not self.epochs > 0:
            raise ValueError(f"epochs must be > 0, got {self.epochs}")
        for name in ("batch_size", "grad_accum", "save_steps", "logging_steps", "batch_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")


def pick_device(device: Device) -> torch.device:
    """``auto``: CUDA when present, else CPU; a named device must exist (``DeviceError``)."""
    from confalign.backends import check_device

    return torch.device(check_device(device))


# glibc's mallopt parameter number (malloc.h), and the size from which blocks get their own mmap
# (0: leave glibc's default). Measured on DCA at batch 8 (benchmarks/train_bench.py, one thread):
# peak RSS 2.35 GiB with glibc's default, 1.80 GiB with 512 KiB, at 15.8 against 22.7 CPU
# seconds a step (page faults: every such block is fresh memory); 1 MiB saved little. With
# fused LoRA (two threads, idle): 1.97 against 1.78 GiB at 12.4 against 14.1 s a step.
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 512 << 10


@functools.cache
def release_freed_memory() -> None:
    """On glibc, once per process: every block of ``MMAP_THRESHOLD`` bytes or more (a pass's
    activations and their gradients: a 400-token pass's hidden states are 0.9 MB each) gets
    its own mmap, so freeing it hands it back to the system at once. glibc's default raises
    its mmap threshold to the size of each mmapped block freed (up to 32 MiB), after which
    such blocks come from the heap, where the holes that a pass's freed temporaries leave
    between its saved activations stay resident: a pass then took about 1.6 times its live
    memory. Setting the threshold also stops that adjustment. Nothing is done on other C
    libraries (their allocators differ; nothing was measured there)."""
    if not sys.platform.startswith("linux") or not MMAP_THRESHOLD:
        return
    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):  # not glibc (musl has no such name)
        return
    if libc.startswith("glibc"):
        ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)


def load_policy(
    model: str,
    lora: LoraSettings,
    *,
    device: torch.device,
    adapter: str | None = None,
    seed: int = 0,
    release_memory: bool = True,
) -> tuple[nn.Module, Any]:
    """(peft model with a fresh trainable LoRA adapter, or ``adapter`` loaded trainable;
    tokenizer). float32 on CPU, bfloat16 on a GPU that supports it; sdpa attention (it takes
    the packed layout's mask). With ``release_memory`` training's memory is handed back as
    it is freed (``release_freed_memory``; it cannot be undone in the process). ``seed``
    seeds LoRA's random A matrices, so the same command gives the same adapter in one
    process or many."""
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed

    from confalign.backends.default_model import resolve_model
    from confalign.train.fused_lora import fuse_lora

    if release_memory:
        release_freed_memory()
    path = resolve_model(model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    dtype = torch.float32
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        dtype = torch.bfloat16
    base = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, attn_implementation="sdpa")
    base.to(device)
    if adapter:
        with peft_wrapping():
            policy = PeftModel.from_pretrained(base, adapter, is_trainable=True)
    else:
        set_seed(seed)
        config = LoraConfig(
            r=lora.r,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            target_modules=list(lora.target_modules),
            task_type="CAUSAL_LM",
        )
        with peft_wrapping():
            policy = get_peft_model(base, config)
    fuse_lora(policy)
    return policy, tokenizer


def pad_id(tokenizer: Any) -> int:
    """The tokenizer's pad id, else its EOS id (pads are masked out in the packed layout)."""
    pid = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pid is None:
        raise ValueError("the tokenizer defines neither a pad nor an end-of-sequence token")
    return int(pid)


LossFn = Callable[[nn.Module, dict[str, Any]], tuple[torch.Tensor, dict[str, float]]]


def _trainer_class() -> type:
    from transformers import Trainer

    class MethodTrainer(Trainer):
        """transformers' ``Trainer`` whose loss is the method's. Its metrics (DCA: the reward
        margin and the share of pairs it favours; ADVICE: mu_correct, mu_wrong, JSD; ...)
        join the loss in the log, averaged over the micro-batches since the last log (this
        process's)."""

        def __init__(self, *args: Any, loss_fn: LossFn, keep: int | None, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.loss_fn = loss_fn
            self.keep = keep  # checkpoints kept (our rotation: see _save_checkpoint)
            self.loss_is_scaled_for_ga = False  # a per-micro-batch mean: divide under accumulation
            self.method_metrics: dict[str, list[float]] = {}

        def compute_loss(
            self,
            model: nn.Module,
            inputs: dict[str, Any],
            return_outputs: bool = False,
            num_items_in_batch: Any = None,
        ) -> Any:
            loss, metrics = self.loss_fn(model, inputs)
            if model.training:
                self._record(metrics)
            return (loss, metrics) if return_outputs else loss

        def training_step(
            self, model: nn.Module, inputs: dict[str, Any], num_items_in_batch: Any = None
        ) -> torch.Tensor:
            """The Trainer's step (forward, loss / accumulation steps, ``accelerator.backward``,
            the detached loss returned for the log), one forward pass at a time for a loss over
            packed items: each pass's share is backpropagated before the next pass runs, and
            under DDP only the last pass's backward reduces the gradients (summed over the
            passes by then). Other losses, and set-ups whose ``backward`` is more than a
            backward (DeepSpeed steps its engine in it; LOMO updates the weights), take the
            Trainer's own step: one graph over every pass, one backward."""
            by_pass = getattr(self.loss_fn, "passes", None)
            if by_pass is None or not self._steps_by_pass():
                return super().training_step(model, inputs, num_items_in_batch)
            model.train()
            if callable(getattr(self.optimizer, "train", None)):
                self.optimizer.train()
            passes = by_pass(self._prepare_inputs(inputs))
            scale = 1.0 / self.current_gradient_accumulation_steps  # loss_is_scaled_for_ga
            shares = []
            for k in range(len(passes)):
                last = k == len(passes) - 1
                with contextlib.nullcontext() if last else self.accelerator.no_sync(model):
                    with self.compute_loss_context_manager():
                        share = passes.share(model, k) * scale
                    self.accelerator.backward(share)
                shares.append(share.detach())
            self._record(passes.metrics())
            return torch.stack(shares).sum()

        def _steps_by_pass(self) -> bool:
            from accelerate.utils import DistributedType
            from transformers.training_args import OptimizerNames

            return (
                self.accelerator.distributed_type
                in (DistributedType.NO, DistributedType.MULTI_CPU, DistributedType.MULTI_GPU)
                and self.args.n_gpu <= 1
                and self.args.optim not in (OptimizerNames.LOMO, OptimizerNames.ADALOMO)
            )

        def _record(self, metrics: dict[str, float]) -> None:
            for key, value in metrics.items():
                self.method_metrics.setdefault(key, []).append(value)

        def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
            if "loss" in logs and self.method_metrics:
                # NaN-skipping: a micro-batch without, say, a right answer has no cv_right
                logs = logs | {k: _nanmean(v) for k, v in self.method_metrics.items()}
                self.method_metrics = {}
            super().log(logs, start_time)

        def _save_checkpoint(self, model: nn.Module, trial: Any) -> None:
            # Overridden because transformers (5.25) writes checkpoint-N in place, file by file
            # (trainer_state.json last), and then rotates by mtime over every checkpoint-*
            # folder: a kill mid-save leaves a folder that resume would pick, and its rotation
            # could delete a complete checkpoint or a set-aside one. Its rotation is off
            # (save_total_limit=None); once every process has written, the main process seals
            # the checkpoint and only then removes older ones (tests/train/test_checkpoints.py).
            from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

            super()._save_checkpoint(model, trial)
            self.accelerator.wait_for_everyone()
            if self.args.should_save:
                folder = Path(self.args.output_dir)
                seal_dir(folder / f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}")
                rotate(folder, self.keep)

    return MethodTrainer


def _nanmean(values: Sequence[float]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return sum(kept) / len(kept) if kept else math.nan


def training_arguments(settings: TrainSettings, output_dir: Path, device: torch.device) -> Any:
    """The ``TrainingArguments`` for ``settings`` (checkpoints under ``output_dir``)."""
    from transformers import TrainingArguments

    bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    return TrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.grad_accum,
        num_train_epochs=settings.epochs,
        max_steps=settings.max_steps,
        learning_rate=settings.learning_rate,
        lr_scheduler_type=settings.scheduler,
        warmup_steps=settings.warmup_ratio,  # a float < 1 is a ratio of the total steps
        weight_decay=settings.weight_decay,
        optim=settings.optim,
        max_grad_norm=settings.max_grad_norm,
        logging_steps=settings.logging_steps,
        save_strategy="steps",
        save_steps=settings.save_steps,
        save_total_limit=None,  # MethodTrainer rotates, after the new checkpoint is sealed
        seed=settings.seed,
        data_seed=settings.seed,
        remove_unused_columns=False,  # the batches are the method's records, not model inputs
        bf16=bf16,
        use_cpu=device.type == "cpu",
        report_to=[],
        dataloader_num_workers=0,
        disable_tqdm=False,
        save_only_model=False,
    )


def fit(
    policy: nn.Module,
    records: Sequence[dict[str, Any]],
    loss_fn: LossFn,
    settings: TrainSettings,
    output_dir: Path,
    *,
    device: torch.device,
    callbacks: Sequence[Any] = (),
) -> list[dict[str, float]]:
    """Train ``policy`` on ``records`` (each a dict the collator passes through; a batch is
    ``{key: [values]}``), resuming from the newest complete checkpoint in
    ``output_dir/checkpoints``. Returns the Trainer's log history (loss per logging step)."""
    checkpoints = output_dir / CHECKPOINTS
    checkpoints.mkdir(parents=True, exist_ok=True)
    trainer = _trainer_class()(
        model=policy,
        args=training_arguments(settings, checkpoints, device),
        train_dataset=list(records),
        data_collator=collate,
        loss_fn=loss_fn,
        keep=settings.save_total_limit,
        callbacks=list(callbacks),
    )
    with writing(checkpoints):  # a full disk or a removed folder: one line naming the path
        last = resume_point(checkpoints, main=trainer.args.should_save)
        trainer.accelerator.wait_for_everyone()  # every process sees the same checkpoints
        trainer.train(resume_from_checkpoint=last)
    return [dict(x) for x in trainer.state.log_history]


def collate(batch: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Records -> ``{key: [values]}``; tensors are stacked (the Trainer moves them to device)."""
    out: dict[str, Any] = {}
    for key in batch[0]:
        values = [r[key] for r in batch]
        out[key] = torch.stack(values) if isinstance(values[0], torch.Tensor) else values
    return out


def save_adapter(
    policy: nn.Module,
    folder: Path,
    *,
    config: dict[str, Any],
    card: str,
    base_model: str | None = None,
    files: dict[str, str] | None = None,
) -> Path:
    """The adapter as a product: peft's folder naming ``base_model`` (``adapters``), the
    training config, a model card and ``files`` (name -> text). Written to a temporary folder
    that replaces ``folder`` when complete, so a kill never leaves half an adapter."""
    from confalign.adapters import name_base_model

    with atomic_dir(folder) as tmp:
        policy.save_pretrained(str(tmp))
        if base_model is not None:
            name_base_model(tmp, base_model)
        (tmp / "training_config.json").write_text(json.dumps(config, indent=2, default=str) + "\n")
        (tmp / "README.md").write_text(card)
        for name, text in (files or {}).items():
            (tmp / name).write_text(text)
    return folder


def is_main_process() -> bool:
    """Rank 0 (or a single process): the one that writes shared files."""
    return int(os.environ.get("RANK", "0")) == 0
