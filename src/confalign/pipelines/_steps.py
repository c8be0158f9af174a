"""Steps every training pipeline shares (``dca``, ``tuning``): the output folder's claim, the
splits, the lazily loaded base-model backend, this process's device, stored eval runs.

Splits: the held-out examples are the seeded (stratified) sample ``confalign eval --limit
EVAL_LIMIT --seed EVAL_SEED`` takes; training (and validation) examples come from the training
split with the held-out ids removed, and any overlap left is refused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import torch

from confalign.data.example import QAExample
from confalign.train.core import ADAPTER, TrainSettings, is_main_process


class TrainingRunError(ValueError):
    """A training run's setting or input is unusable (the message names it); nothing is lost."""


@dataclass(frozen=True)
class RunSettings:
    """What every training run's config has (a method's config adds its own fields).
    ``output``: the run folder. ``dataset``: training and in-distribution data;
    ``ood_dataset``: a second dataset evaluated out of distribution (None: none).
    ``validation_limit``: training-split examples held apart for choosing hyperparameters
    (evaluated before/after too). ``evaluate``: run the before/after evaluation.
    ``validation_only``: evaluate on the validation split alone (a hyperparameter sweep: the
    held-out split stays unseen)."""

    output: Path
    model: str = "default"
    dataset: str = "mmlu_offline"
    train_split: str | None = None
    eval_split: str | None = None
    ood_dataset: str | None = "calibrated_math"
    train_limit: int = 700
    eval_limit: int = 300
    ood_limit: int = 200
    validation_limit: int = 0
    seed: int = 0
    eval_seed: int = 1
    stratify: bool = True
    evaluate: bool = True
    validation_only: bool = False
    train: TrainSettings = field(default_factory=TrainSettings)
    device: str = "auto"
    threads: int | None = None
    # Fields that say how or where to run, not what the results are.
    RUNTIME: ClassVar[frozenset[str]] = frozenset(
        {"output", "device", "threads", "evaluate", "validation_only"}
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "output", Path(self.output))
        for name in ("train_limit", "eval_limit", "ood_limit"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise TrainingRunError(
                    f"{name.replace('_', '-')}: must be an integer >= 1, got {value!r}"
                )
        if self.validation_limit < 0:
            raise TrainingRunError(f"validation-limit: must be >= 0, got {self.validation_limit}")
        if self.validation_only and not self.validation_limit:
            raise TrainingRunError("validation-only: needs --validation-limit >= 1")
        if self.device != "auto":
            from confalign.backends import check_device

            check_device(self.device)
        from confalign.data import BENCHMARKS

        for name in (self.dataset, self.ood_dataset):
            if name and name not in BENCHMARKS and not Path(name).is_file():
                raise TrainingRunError(
                    f"dataset: {name!r} is neither a registered dataset nor a file"
                )

    def identity(self) -> dict[str, Any]:
        """The settings that determine the results (not the folder, device, threads), as
        JSON values: what the run folder's settings file holds and a rerun must match."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in self.RUNTIME}
        out["train"] = asdict(self.train)
        return json.loads(json.dumps(out, default=str))

    def default_identity(self) -> dict[str, Any]:
        """The identity of this kind of run with every setting at its default."""
        return type(self)(output=self.output).identity()


@dataclass(frozen=True)
class Splits:
    train: list[QAExample]
    validation: list[QAExample]
    heldout: list[QAExample]
    ood: list[QAExample]


@dataclass(frozen=True)
class TrainingResult:
    """A finished (or evaluated) run: its folder, adapter, training-data size and counts
    (kept, dropped, ...), and the before/after report (None without evaluation)."""

    output: Path
    adapter: Path
    examples: int
    stats: dict[str, int]
    report: Path | None


def process_state(device: str) -> Any:
    """accelerate's ``PartialState`` with the Trainer's own arguments: without ``cpu=True`` a
    CPU-only machine would not join the processes that ``accelerate launch`` started."""
    from accelerate import PartialState

    from confalign.train.core import pick_device

    return PartialState(cpu=pick_device(device).type == "cpu")


def make_splits(config: RunSettings) -> Splits:
    """Held-out, training, validation and out-of-distribution examples (module docstring)."""
    from confalign.data import load_benchmark
    from confalign.data.sampling import sample

    everything = list(load_benchmark(config.dataset, split=config.eval_split).examples)
    heldout = sample(
        everything, limit=config.eval_limit, seed=config.eval_seed, stratify=config.stratify
    )
    same = (config.train_split or None) == (config.eval_split or None)
    pool = (
        everything
        if same
        else list(load_benchmark(config.dataset, split=config.train_split).examples)
    )
    held_ids = {ex.id for ex in heldout}
    if same:
        pool = [ex for ex in pool if ex.id not in held_ids]
    validation: list[QAExample] = []
    if config.validation_limit:
        validation = sample(
            pool, limit=config.validation_limit, seed=config.seed + 1, stratify=config.stratify
        )
        val_ids = {ex.id for ex in validation}
        pool = [ex for ex in pool if ex.id not in val_ids]
    train = sample(pool, limit=config.train_limit, seed=config.seed, stratify=config.stratify)
    overlap = held_ids & {ex.id for ex in train}
    if overlap:
        raise TrainingRunError(
            f"the training split shares {len(overlap)} examples with the evaluation split "
            f"(e.g. {sorted(overlap)[0]!r}); choose disjoint splits"
        )
    ood: list[QAExample] = []
    if config.ood_dataset:
        ood = list(
            load_benchmark(
                config.ood_dataset,
                limit=config.ood_limit,
                seed=config.eval_seed,
                stratify=config.stratify,
            ).examples
        )
    return Splits(train, validation, heldout, ood)


def claim_output(
    out: Path,
    identity: Mapping[str, Any],
    *,
    marker: str,
    kind: str,
    defaults: Mapping[str, Any] | None = None,
) -> None:
    """Create ``out``, or check that it holds this run (``marker``: the file of its settings);
    refuse another run's folder (or a folder of other files) before anything is written.
    A setting the stored file lacks (added by a later confalign) counts as its ``defaults``
    value, so an upgrade does not orphan a run that was written before the setting existed."""
    from confalign.runs import atomic_write, check_output_dir, make_output_dir

    state = out / marker
    if check_output_dir(out, marker=marker, kind=f"{kind} output folder"):
        try:
            stored = json.loads(state.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise TrainingRunError(f"{state}: unreadable ({error}); use another --output") from None
        defaults = defaults or {}
        diff = sorted(
            k
            for k in set(stored) | set(identity)
            if stored.get(k, defaults.get(k)) != identity.get(k)
        )
        if diff:
            raise TrainingRunError(
                f"{out} holds another {kind} run (different {', '.join(diff)}); "
                "use another --output"
            )
        return
    make_output_dir(out)
    atomic_write(state, json.dumps(dict(identity), indent=2) + "\n")


class LazyBackend:
    """The ``hf`` backend of the run's base model, loaded on first use (not at all when
    every step it serves is stored)."""

    def __init__(self, config: RunSettings) -> None:
        self.model, self.device, self.threads = config.model, config.device, config.threads
        self.seed = config.seed
        self._backend: Any = None

    def get(self) -> Any:
        if self._backend is None:
            from confalign.backends import BackendConfig, load_backend

            self._backend = load_backend(
                "hf",
                BackendConfig(
                    model=self.model, device=self.device, threads=self.threads, seed=self.seed
                ),
            )
        return self._backend

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None


def process_device(device: str) -> torch.device:
    """This process's device: under ``accelerate launch`` each GPU process takes its own."""
    import os

    from confalign.train.core import pick_device

    chosen = pick_device(device)
    if chosen.type == "cuda" and chosen.index is None and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return chosen


@dataclass(frozen=True)
class Policy:
    """What a method's training step needs: the LoRA policy, its tokenizer, the packed
    scorer over it, this process's device, and whether prompts get the tokenizer's special
    tokens (models without a chat template, as the ``hf`` backend encodes them)."""

    model: Any
    tokenizer: Any
    scorer: Any
    device: torch.device
    special: bool


def load_training_policy(config: RunSettings) -> Policy:
    """The run's policy with a fresh LoRA adapter (``config.train``), on this process's
    device, with ``config.threads`` CPU threads."""
    from confalign.train.core import load_policy, pad_id
    from confalign.train.packing import PackedScorer

    if config.threads:
        torch.set_num_threads(config.threads)
    device = process_device(config.device)
    t = config.train
    model, tokenizer = load_policy(config.model, t.lora, device=device, seed=t.seed)
    scorer = PackedScorer(model, pad_id(tokenizer), batch_tokens=t.batch_tokens)
    special = getattr(tokenizer, "chat_template", None) is None
    return Policy(model, tokenizer, scorer, device, special)


def save_training(
    config: RunSettings, policy: Policy, history: list[dict[str, float]], *, method: str, card: str
) -> None:
    """On the main process: the Trainer's log history and the adapter with its training
    config and model card."""
    from confalign.runs import atomic_write
    from confalign.train.core import save_adapter

    if is_main_process():
        atomic_write(config.output / "train_log.json", json.dumps(history, indent=2) + "\n")
        save_adapter(
            policy.model,
            config.output / ADAPTER,
            config={"method": method, **config.identity()},
            card=card,
        )


def stored_data(path: Path, stats_path: Path) -> dict[str, int] | None:
    """The counts of the training data stored in ``path`` (``store_stats`` after it); None when
    either file is absent or damaged (said in one line): the caller recomputes both."""
    from confalign.runs import read_checked

    data, stats = read_checked(path), read_checked(stats_path)
    return json.loads(stats) if data is not None and stats is not None else None


def store_stats(stats_path: Path, stats: Mapping[str, int]) -> None:
    """Write the training data's counts, checksummed, after the data file itself."""
    from confalign.runs import write_checked

    write_checked(stats_path, json.dumps(dict(stats), indent=2) + "\n")


def run_complete(run_dir: Path | None) -> bool:
    """Whether ``run_dir`` holds a finished eval run."""
    if run_dir is None:
        return False
    try:
        return json.loads((run_dir / "manifest.json").read_text()).get("status") == "complete"
    except (OSError, json.JSONDecodeError):
        return False


def run_evals(
    runs: Sequence[tuple[Any, dict[str, list[QAExample]]]],
    backend: LazyBackend | None,
    *,
    progress: bool,
) -> None:
    """Run (or resume) each ``(EvalConfig, examples per dataset)``; finished runs are skipped.
    ``backend``: the base model's, shared (None: each run loads its own, e.g. with an
    adapter)."""
    from confalign.evaluate import run_eval

    for eval_config, examples in runs:
        if run_complete(eval_config.output):
            continue
        hf = backend.get() if backend is not None else None
        run_eval(eval_config, progress=progress, backend=hf, examples=examples)


def file_hash(path: Path | str | None) -> str | None:
    """A short content hash (None for no file)."""
    if path is None:
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
