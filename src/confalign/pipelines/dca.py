"""``confalign train dca`` end to end: pairs from an eval run on the training split, DPO/IPO +
LoRA with the shared core, the adapter with its model card, before/after evaluation on the
held-out split (and a dataset out of distribution), and the before/after report.

Output folder (every step is stored and skipped when done, so the same command resumes; every
file is written atomically, and the caches a rerun loads carry a ``.sha256`` checksum):

- ``dca.json``: the settings that determine the results; another run's folder is refused;
- ``pairs-run/``: the eval run that generated the responses (resumable like any eval);
- ``pairs.jsonl`` (TRL's prompt/chosen/rejected format) and ``pairs_stats.json`` (drops);
- ``reference.pt``: the reference log-probabilities, once per pair;
- ``checkpoints/``: the Trainer's, each sealed once complete (a killed run continues from the
  newest complete one; ``train.checkpoints``);
- ``adapter/``: the peft adapter, ``README.md`` (model card), ``training_config.json``;
- ``eval-base/``, ``eval-dca/`` (and ``valid-*`` with a validation split): eval runs
  (``--validation-only``: ``valid-*`` alone, for a sweep that leaves held-out unseen);
- ``report/``: ``dca.md``/``dca.json`` (the before/after table) and the runs' comparison.

Splits: ``_steps.make_splits`` (held-out = ``confalign eval``'s seeded sample; training and
validation from the rest; overlap refused).

Under ``accelerate launch`` the main process prepares the data first (the others then find it
stored), every process trains, and the main process saves and evaluates.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from confalign.backends.base import Prompt
from confalign.data.example import QAExample
from confalign.pipelines._steps import (
    LazyBackend,
    RunSettings,
    Splits,
    TrainingResult,
    TrainingRunError,
    claim_output,
    file_hash,
    load_training_policy,
    make_splits,
    process_state,
    run_evals,
    save_training,
    store_stats,
    stored_data,
)
from confalign.train.core import ADAPTER, is_main_process

PairMode = Literal["free", "prefill"]
LossType = Literal["ipo", "sigmoid"]
STATE_FILE = "dca.json"


class DCAError(TrainingRunError):
    """A DCA setting or input is unusable (the message names it); nothing is lost."""


@dataclass(frozen=True)
class DCAConfig(RunSettings):
    """One DCA run (the shared fields: ``RunSettings``). ``mode``: how responses are elicited
    (``free`` as in the paper; ``prefill`` for models that write no confidence). ``beta``:
    DPO/IPO's beta. ``eval_modes``: the verbalized modes of the before/after evaluation.
    ``pairs_file``: train on these pairs (JSONL, TRL format) instead of generating them.
    ``sft_weight``: weight of the chosen responses' NLL added to the loss (TRL's ``sft`` loss
    type; 0: the paper's plain DPO/IPO)."""

    mode: PairMode = "prefill"
    loss: LossType = "ipo"
    beta: float = 0.1
    sft_weight: float = 0.0
    eval_modes: tuple[str, ...] = ("prefill", "distribution")
    pairs_file: Path | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mode not in ("free", "prefill"):
            raise DCAError(f"mode: must be free or prefill, got {self.mode!r}")
        if self.loss not in ("ipo", "sigmoid"):
            raise DCAError(f"loss: must be ipo or sigmoid, got {self.loss!r}")
        if not self.beta > 0:
            raise DCAError(f"beta: must be > 0, got {self.beta}")
        if not self.sft_weight >= 0:
            raise DCAError(f"sft-weight: must be >= 0, got {self.sft_weight}")
        for m in self.eval_modes:
            if m not in ("free", "prefill", "distribution"):
                raise DCAError(f"eval-modes: unknown mode {m!r}")
        if self.pairs_file is not None and not Path(self.pairs_file).is_file():
            raise DCAError(f"pairs-file: {self.pairs_file} does not exist")

    def identity(self) -> dict[str, Any]:
        out = super().identity()
        out["pairs_file"] = file_hash(self.pairs_file) if self.pairs_file else None
        return out


def run_dca(config: DCAConfig, *, progress: bool = True) -> TrainingResult:
    """Run (or resume) every step of ``config``; see the module docstring."""
    state = process_state(config.device)
    out = config.output
    with state.main_process_first():
        splits = make_splits(config)  # refuses overlapping splits before anything is written
        if state.is_main_process:
            claim_output(
                out,
                config.identity(),
                marker=STATE_FILE,
                kind="DCA",
                defaults=config.default_identity(),
            )
        backend = LazyBackend(config)
        pairs_path, stats = _pairs(config, splits, backend, progress)
        if config.evaluate and state.is_main_process:
            run_evals(_eval_runs(config, splits, None), backend, progress=progress)
        backend.close()
    adapter = out / ADAPTER
    if not (adapter / "adapter_model.safetensors").exists():
        _train(config, pairs_path)
    report = None
    if state.is_main_process and config.evaluate:
        run_evals(_eval_runs(config, splits, adapter), None, progress=progress)
        report = _report(config, stats)
    n_pairs = sum(1 for line in pairs_path.read_text().splitlines() if line.strip())
    return TrainingResult(out, adapter, n_pairs, stats, report)


# -- pairs -------------------------------------------------------------------------------------


def _pairs(
    config: DCAConfig, splits: Splits, backend: LazyBackend, progress: bool
) -> tuple[Path, dict[str, int]]:
    from confalign.train.dca_data import read_pairs, write_pairs

    out = config.output
    path, stats_path = out / "pairs.jsonl", out / "pairs_stats.json"
    stored = stored_data(path, stats_path)
    if stored is not None:
        return path, stored
    if config.pairs_file is not None:
        pairs = read_pairs(config.pairs_file)
        stats = {"kept": len(pairs), "from_file": 1}
    else:
        pairs, counts = _generate_pairs(config, splits.train, backend, progress)
        stats = {"examples": len(splits.train), **counts}
        if not pairs:
            raise DCAError(f"no usable pairs from {len(splits.train)} examples: {dict(counts)}")
    write_pairs(pairs, path)
    store_stats(stats_path, stats)
    return path, stats


def _generate_pairs(
    config: DCAConfig, train: Sequence[QAExample], backend: LazyBackend, progress: bool
) -> tuple[list[Any], Any]:
    from confalign.confidence.formats import get_format
    from confalign.confidence.prompts import verbalized_user
    from confalign.evaluate import EvalConfig, run_eval
    from confalign.runs import RunStore
    from confalign.train.dca_data import PAIR_FORMAT, PairSource, build_pairs

    eval_config = EvalConfig(
        datasets=(config.dataset,),
        model=config.model,
        methods=("verbalized",),
        formats=(PAIR_FORMAT,),
        modes=(config.mode,),
        seed=config.seed,
        output=config.output / "pairs-run",
        device=config.device,
        threads=config.threads,
    )
    hf = backend.get()
    run_dir = run_eval(eval_config, progress=progress, backend=hf, examples={config.dataset: train})
    fmt = get_format(PAIR_FORMAT)
    prompts = {ex.id: hf.render(Prompt(user=verbalized_user(ex, fmt))) for ex in train}
    with RunStore.open(run_dir) as store:
        rows = store.rows(config.dataset, f"verbalized/{PAIR_FORMAT}/{config.mode}")
    sources = [
        PairSource(
            r.example_id,
            r.mode,
            r.prediction,
            r.correct,
            r.confidence,
            r.raw_text,
            r.parse_failed,
            r.extra,
        )
        for r in rows
    ]
    return build_pairs(sources, prompts)


# -- training ----------------------------------------------------------------------------------


def _train(config: DCAConfig, pairs_path: Path) -> None:
    from confalign.train.core import fit
    from confalign.train.dca import dca_loss, dca_records, reference_logps
    from confalign.train.dca_data import read_pairs, tokenize_pair

    p = load_training_policy(config)
    pairs = read_pairs(pairs_path)
    items = [
        tokenize_pair(p.tokenizer, x.prompt, x.chosen, x.rejected, add_special_tokens=p.special)
        for x in pairs
    ]
    reference = _cached_reference(
        config, pairs_path, lambda: reference_logps(p.model, p.scorer, items)
    )
    loss = dca_loss(p.scorer, loss_type=config.loss, beta=config.beta, sft_weight=config.sft_weight)
    records = dca_records(items, reference)
    history = fit(p.model, records, loss, config.train, config.output, device=p.device)
    save_training(config, p, history, method="dca", card=model_card(config, len(pairs), None))


def _cached_reference(config: DCAConfig, pairs_path: Path, compute: Any) -> torch.Tensor:
    """The reference log-probabilities, stored (checksummed) with the hash of the pairs they
    belong to; a damaged file is recomputed."""
    import io

    from confalign.runs import read_checked, write_checked

    path = config.output / "reference.pt"
    key = json.dumps({"pairs": file_hash(pairs_path), "model": config.model}, sort_keys=True)
    data = read_checked(path)
    if data is not None:
        stored = torch.load(io.BytesIO(data), weights_only=True)
        if stored.get("key") == key:
            return stored["logps"]
    logps = compute()
    if is_main_process():
        buffer = io.BytesIO()
        torch.save({"key": key, "logps": logps}, buffer)
        write_checked(path, buffer.getvalue())
    return logps


# -- evaluation and report ---------------------------------------------------------------------


def _eval_runs(config: DCAConfig, splits: Splits, adapter: Path | None) -> list[tuple[Any, dict]]:
    from confalign.evaluate import EvalConfig

    tag = "dca" if adapter else "base"
    common = {
        "model": config.model,
        "adapter": str(adapter) if adapter else None,
        "methods": ("choice", "answer_prob", "verbalized"),
        "formats": ("probability",),
        "modes": config.eval_modes,
        "seed": config.eval_seed,
        "device": config.device,
        "threads": config.threads,
    }
    runs = []
    main = {config.dataset: splits.heldout}
    if config.ood_dataset:
        main[config.ood_dataset] = splits.ood
    if not config.validation_only:
        output = config.output / f"eval-{tag}"
        runs.append((EvalConfig(datasets=tuple(main), output=output, **common), main))
    if splits.validation:
        val = {config.dataset: splits.validation}
        runs.append(
            (
                EvalConfig(
                    datasets=(config.dataset,), output=config.output / f"valid-{tag}", **common
                ),
                val,
            )
        )
    return runs


def _report(config: DCAConfig, stats: dict[str, int]) -> Path:
    from confalign.report.before_after import before_after, to_markdown
    from confalign.runs import atomic_write

    out = config.output / "report"
    out.mkdir(exist_ok=True)
    sections = {} if config.validation_only else {"held-out": ("eval-base", "eval-dca")}
    if config.validation_limit:
        sections["validation"] = ("valid-base", "valid-dca")
    tables: dict[str, Any] = {}
    text = [f"# DCA before/after: {config.model} on {config.dataset}\n"]
    for name, (before, after) in sections.items():
        rows = before_after(
            {"base": config.output / before, "dca": config.output / after}, modes=config.eval_modes
        )
        tables[name] = rows
        text += [f"\n## {name}\n\n", to_markdown(rows)]
    atomic_write(
        out / "dca.json",
        json.dumps({"pairs": stats, "tables": tables}, indent=2, default=str) + "\n",
    )
    md = atomic_write(out / "dca.md", "".join(text))
    card = model_card(config, stats.get("kept", 0), "".join(text[1:]))
    atomic_write(config.output / ADAPTER / "README.md", card)
    _write_comparison(config, out)
    return md


def _write_comparison(config: DCAConfig, out: Path) -> None:
    """The generic run comparison (every metric of both runs) beside the DCA table."""
    from confalign.report import write_comparison

    prefix = "valid" if config.validation_only else "eval"
    runs = [config.output / f"{prefix}-base", config.output / f"{prefix}-dca"]
    write_comparison(runs, out / "compare", labels=["base", "dca"])


def model_card(config: DCAConfig, n_pairs: int, results: str | None) -> str:
    """The adapter's README: base model, method, data, command, before/after numbers."""
    t = config.train
    command = (
        f"confalign train dca --model {config.model} --dataset {config.dataset} "
        f"--train-limit {config.train_limit} --eval-limit {config.eval_limit} --mode {config.mode} "
        f"--loss {config.loss} --beta {config.beta} --sft-weight {config.sft_weight} "
        f"--lr {t.learning_rate} --epochs {t.epochs} "
        f"--batch-size {t.batch_size} --grad-accum {t.grad_accum} --seed {config.seed} "
        f"--output {config.output}"
    )
    return f"""---
library_name: peft
base_model: {config.model}
tags: [confalign, dca, lora, calibration]
---

# DCA adapter for `{config.model}`

Direct Confidence Alignment (preference training, loss `{config.loss}`, beta {config.beta},
chosen-NLL weight {config.sft_weight})
teaches the model to *say* the confidence it *has*: preference pairs whose chosen response
carries its verbalized `Probability: X%` replaced by round(100 * Ci)%, Ci being the model's
internal probability of the answer it gave.

- Base model: `{config.model}`; LoRA r={t.lora.r}, alpha={t.lora.alpha}, dropout={t.lora.dropout}
  on {", ".join(t.lora.target_modules)}.
- Data: {n_pairs} pairs from {config.train_limit} `{config.dataset}` training questions
  (mode `{config.mode}`, seed {config.seed}); held-out: {config.eval_limit} questions (seed
  {config.eval_seed}); out of distribution: `{config.ood_dataset}`.
- Optimisation: lr {t.learning_rate}, {t.epochs} epochs, batch {t.batch_size} x {t.grad_accum}
  accumulation, {t.scheduler} schedule with {t.warmup_ratio:.0%} warm-up, seed {t.seed}.
- Command: `{command}`
- Load it: `confalign eval --model {config.model} --adapter {config.output / ADAPTER} ...`, or
  `PeftModel.from_pretrained(model, "{config.output / ADAPTER}")`.

## Before/after

{results or "Not evaluated yet (run the same command again without --no-eval)."}
"""
