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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from confalign.data.example import QAExample


class TrainingRunError(ValueError):
    """A training run's setting or input is unusable (the message names it); nothing is lost."""


class SplitSettings(Protocol):
    """The fields of a pipeline config that ``make_splits`` reads."""

    dataset: str
    train_split: str | None
    eval_split: str | None
    ood_dataset: str | None
    train_limit: int
    eval_limit: int
    ood_limit: int
    validation_limit: int
    seed: int
    eval_seed: int
    stratify: bool


@dataclass(frozen=True)
class Splits:
    train: list[QAExample]
    validation: list[QAExample]
    heldout: list[QAExample]
    ood: list[QAExample]


def make_splits(config: SplitSettings) -> Splits:
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


def claim_output(out: Path, identity: Mapping[str, Any], *, marker: str, kind: str) -> None:
    """Create ``out``, or check that it holds this run (``marker``: the file of its settings);
    refuse another run's folder (or a folder of other files) before anything is written."""
    from confalign.runs import atomic_write, check_output_dir, make_output_dir

    state = out / marker
    if check_output_dir(out, marker=marker, kind=f"{kind} output folder"):
        try:
            stored = json.loads(state.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise TrainingRunError(f"{state}: unreadable ({error}); use another --output") from None
        diff = sorted(k for k in set(stored) | set(identity) if stored.get(k) != identity.get(k))
        if diff:
            raise TrainingRunError(
                f"{out} holds another {kind} run (different {', '.join(diff)}); "
                "use another --output"
            )
        return
    make_output_dir(out)
    atomic_write(state, json.dumps(dict(identity), indent=2) + "\n")


class LazyBackend:
    """The ``hf`` backend of the base model, loaded on first use (not at all when every step
    it serves is stored)."""

    def __init__(self, model: str, *, device: str, threads: int | None, seed: int) -> None:
        self.model, self.device, self.threads, self.seed = model, device, threads, seed
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
