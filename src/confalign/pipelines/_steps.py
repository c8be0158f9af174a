"""The training pipeline's steps that know no method: the output folder's claim, this
process's device and policy, the adapter's saving, stored eval runs."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from confalign.backends.lazy import LazyBackend
from confalign.data.example import QAExample
from confalign.pipelines.settings import RunSettings, TrainingConfig
from confalign.train.core import ADAPTER, is_main_process
from confalign.train.methods.base import Policy, TrainingRunError


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


def process_device(device: str) -> torch.device:
    """This process's device: under ``accelerate launch`` each GPU process takes its own."""
    import os

    from confalign.train.core import pick_device

    chosen = pick_device(device)
    if chosen.type == "cuda" and chosen.index is None and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return chosen


def load_training_policy(config: RunSettings) -> Policy:
    """The run's policy with a fresh LoRA adapter (``config.train``), on this process's
    device, with ``config.threads`` CPU threads."""
    from confalign.train.core import load_policy, pad_id
    from confalign.train.packing import PackedScorer

    if config.threads:
        torch.set_num_threads(config.threads)
    device = process_device(config.device)
    t = config.train
    model, tokenizer = load_policy(
        config.model, t.lora, device=device, seed=t.seed, release_memory=config.release_memory
    )
    scorer = PackedScorer(model, pad_id(tokenizer), batch_tokens=t.batch_tokens)
    special = getattr(tokenizer, "chat_template", None) is None
    return Policy(model, tokenizer, scorer, device, special)


def save_training(
    config: TrainingConfig,
    policy: Policy,
    history: list[dict[str, float]],
    *,
    card: str,
    train_ids: Sequence[str],
) -> None:
    """On the main process: the Trainer's log history and the adapter (``adapters``: its base
    model's Hub id, its training example ids) with its training config and model card."""
    from confalign.adapters import TRAINING_EXAMPLES, training_examples_text
    from confalign.runs import atomic_write
    from confalign.train.core import save_adapter

    if is_main_process():
        s = config.settings
        atomic_write(s.output / "train_log.json", json.dumps(history, indent=2) + "\n")
        examples = training_examples_text(s.dataset, s.train_split, train_ids)
        save_adapter(
            policy.model,
            s.output / ADAPTER,
            config=config.identity(),
            card=card,
            base_model=s.model,
            files={TRAINING_EXAMPLES: examples},
        )


def stored_tensor(path: Path, key: Mapping[str, Any], compute: Callable[[], Any]) -> Any:
    """``compute()``, stored (checksummed) in ``path`` with ``key`` (what it was computed from)
    and read back while the key matches and the file is whole (a method's preparation, e.g.
    DCA's reference); a damaged file is recomputed."""
    import io

    from confalign.runs import read_checked, write_checked

    text = json.dumps(dict(key), sort_keys=True)
    data = read_checked(path)
    if data is not None:
        stored = torch.load(io.BytesIO(data), weights_only=True)
        if stored.get("key") == text:
            return stored["value"]
    value = compute()
    if is_main_process():
        buffer = io.BytesIO()
        torch.save({"key": text, "value": value}, buffer)
        write_checked(path, buffer.getvalue())
    return value


def backend_of(s: RunSettings, adapter: Path | None = None) -> LazyBackend:
    """The run's ``hf`` backend (base model, or with ``adapter``), loaded on first use."""
    from confalign.backends import BackendConfig

    config = BackendConfig(
        model=s.model,
        adapter=str(adapter) if adapter else None,
        device=s.device,
        threads=s.threads,
        seed=s.seed,
    )
    return LazyBackend("hf", config)


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
