"""A training run's settings: the options every method shares (``RunSettings``, one flat frozen
dataclass whose field metadata is the CLI help) and the method's own (``TrainingConfig``).
Everything is validated here, before any model or dataset loads (STYLE.md item 7)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from confalign.train.core import LoraSettings, TrainSettings
from confalign.train.methods import get_method
from confalign.train.methods.base import TrainingMethod, TrainingRunError, option

_T, _L = TrainSettings(), LoraSettings()


@dataclass(frozen=True)
class RunSettings:
    """What every training run has: data and splits, optimisation, LoRA, where it runs."""

    output: Path = field(metadata={"help": "Run folder (resumable).", "flag": ("--output", "-o")})
    model: str = option(
        "default", "Hub id, folder, 'default' or 'gemma-3-270m'.", flag=("--model", "-m")
    )
    dataset: str = option("mmlu_offline", "Training and held-out dataset.")
    ood_dataset: str | None = option(
        "calibrated_math", "Out-of-distribution dataset ('none': none)."
    )
    subjects: tuple[str, ...] = option(
        (), "Keep these subjects of the dataset (comma list; a subject takes its children)."
    )
    train_split: str | None = option(None, "Split for training (default: the dataset's).")
    eval_split: str | None = option(None, "Split for the held-out set (default: the dataset's).")
    validation_split: str | None = option(
        None, "Split for the validation set (default: held apart from the training split)."
    )
    ood_split: str | None = option(
        None, "Split of the out-of-distribution dataset (default: its own default split)."
    )
    train_limit: int = option(700, "Training questions.")
    eval_limit: int = option(300, "Held-out questions.")
    ood_limit: int = option(200, "Out-of-distribution questions.")
    validation_limit: int = option(0, "Training-split questions held apart for tuning (0: none).")
    seed: int = option(0, "Training sample and training seed.")
    eval_seed: int = option(1, "Held-out sample seed (confalign eval's --seed).")
    validation_seed: int = option(2, "Validation sample seed.")
    ood_seed: int = option(1, "Out-of-distribution sample seed.")
    stratify: bool = option(True, "Stratify every sample by subject.")
    lr: float = option(_T.learning_rate, "Learning rate.", flag=("--lr",))
    epochs: float = option(_T.epochs, "Epochs.")
    batch_size: int = option(_T.batch_size, "Training instances per micro-batch.")
    grad_accum: int = option(_T.grad_accum, "Gradient accumulation steps.")
    max_steps: int = option(-1, "Stop after N steps (-1: epochs).")
    optim: str = option(_T.optim, "Optimizer (transformers' names).")
    max_grad_norm: float = option(_T.max_grad_norm, "Gradient clipping (0: off).")
    save_steps: int = option(_T.save_steps, "Steps between checkpoints.")
    logging_steps: int = option(_T.logging_steps, "Steps between loss logs.")
    lora_r: int = option(_L.r, "LoRA rank.")
    lora_alpha: int = option(_L.alpha, "LoRA alpha.")
    lora_dropout: float = option(_L.dropout, "LoRA dropout.")
    lora_targets: tuple[str, ...] = option(_L.target_modules, "LoRA's projections (comma list).")
    evaluate: bool = option(True, "Evaluate before/after.")
    validation_only: bool = option(
        False, "Evaluate on the validation split only (sweeps; held-out stays unseen)."
    )
    device: str = option("auto", "auto, cpu, cuda, cuda:1, ...")
    threads: int | None = option(None, "CPU threads.")
    release_memory: bool = option(
        True,
        "Hand each training pass's freed memory back at once (glibc): lower peak memory, "
        "slower steps (about 10% and 12% for DCA at batch 8).",
    )
    # Fields that say how or where to run, not what the results are.
    RUNTIME: ClassVar[frozenset[str]] = frozenset(
        {"output", "device", "threads", "evaluate", "validation_only", "release_memory"}
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "output", Path(self.output))
        for name in ("train_limit", "eval_limit", "ood_limit"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise TrainingRunError(f"{_flag(name)}: must be an integer >= 1, got {value!r}")
        if self.validation_limit < 0:
            raise TrainingRunError(f"validation-limit: must be >= 0, got {self.validation_limit}")
        if self.validation_only and not self.validation_limit:
            raise TrainingRunError("validation-only: needs --validation-limit >= 1")
        self.train  # noqa: B018  (TrainSettings and LoraSettings check themselves)
        _check_data(self)
        if self.device != "auto":
            from confalign.backends import check_device

            check_device(self.device)

    @property
    def train(self) -> TrainSettings:
        """The optimisation settings these options give."""
        lora = LoraSettings(self.lora_r, self.lora_alpha, self.lora_dropout, self.lora_targets)
        return TrainSettings(
            learning_rate=self.lr, epochs=self.epochs, batch_size=self.batch_size,
            grad_accum=self.grad_accum, max_steps=self.max_steps, optim=self.optim,
            max_grad_norm=self.max_grad_norm, save_steps=self.save_steps,
            logging_steps=self.logging_steps, seed=self.seed, lora=lora,
        )  # fmt: skip


def _flag(name: str) -> str:
    return name.replace("_", "-")


def _check_data(s: RunSettings) -> None:
    """The datasets exist; the out-of-distribution set is not the training set."""
    from confalign.data import BENCHMARKS
    from confalign.data.load import parse_spec

    for name in (s.dataset, s.ood_dataset):
        if not name or name in BENCHMARKS or Path(name).is_file():
            continue
        try:
            known = parse_spec(name) is not None
        except KeyError as error:
            raise TrainingRunError(f"dataset: {error.args[0]}") from None
        if not known:
            raise TrainingRunError(f"dataset: {name!r} is neither a registered dataset nor a file")
    if s.ood_dataset and s.ood_dataset == s.dataset and s.ood_split == s.train_split:
        raise TrainingRunError(
            f"ood-dataset: {s.ood_dataset!r} is the training dataset and split, so it is not "
            "out of distribution; name another dataset or 'none'"
        )


@dataclass(frozen=True)
class TrainingConfig:
    """One run: the shared settings, the method's name and its options."""

    settings: RunSettings
    method: str
    options: Any

    @property
    def spec(self) -> TrainingMethod:
        return get_method(self.method)

    @property
    def output(self) -> Path:
        return self.settings.output

    def identity(self) -> dict[str, Any]:
        """The settings that determine the results (not the folder, device, threads), as JSON
        values (files as content hashes): the run folder's settings file, which a rerun must
        match."""
        s = self.settings
        out = {f.name: getattr(s, f.name) for f in fields(s) if f.name not in s.RUNTIME}
        options = {
            f.name: _identity_value(getattr(self.options, f.name)) for f in fields(self.options)
        }
        out |= {"method": self.method, "options": options}
        return json.loads(json.dumps(out, default=str))

    def default_identity(self) -> dict[str, Any]:
        """The identity of this method's run with every setting at its default."""
        return make_config(self.method, output=self.output).identity()


def _identity_value(value: Any) -> Any:
    if isinstance(value, Path):
        return {"file": str(value), "sha256": file_hash(value)}
    return value


def file_hash(path: Path | str | None) -> str | None:
    """A short content hash (None for no file)."""
    if path is None:
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def method_defaults(method: str) -> dict[str, Any]:
    """Every option of ``method``'s command and its default (the method's own, and the shared
    ones with the method's changes)."""
    spec = get_method(method)
    shared = {f.name: f.default for f in fields(RunSettings) if f.name != "output"}
    own = {f.name: f.default for f in fields(spec.options)}
    return {**shared, **dict(spec.defaults), **own}


def make_config(method: str, **values: Any) -> TrainingConfig:
    """The config of ``method`` from option values by name (the CLI's, without dashes);
    missing ones take ``method_defaults``. Raises ``TrainingRunError`` (or ``KeyError`` for an
    unknown method) naming the first bad option."""
    spec = get_method(method)
    shared_names = {f.name for f in fields(RunSettings)}
    merged = {**dict(spec.defaults), **values}
    shared = {k: v for k, v in merged.items() if k in shared_names}
    own = {k: v for k, v in merged.items() if k not in shared_names}
    try:
        settings = RunSettings(**shared)
        options = spec.make_options(**own)
    except TrainingRunError:
        raise
    except ValueError as error:  # TrainSettings, LoraSettings, AdviceWeights
        raise TrainingRunError(str(error)) from None
    return TrainingConfig(settings, method, options)


def replace_settings(config: TrainingConfig, **changes: Any) -> TrainingConfig:
    """``config`` with shared settings changed (validated again)."""
    return dataclasses.replace(config, settings=dataclasses.replace(config.settings, **changes))
