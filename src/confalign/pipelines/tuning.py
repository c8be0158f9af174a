"""``confalign train advice`` and ``confalign train conftuner`` end to end: the untrained model's
own answers on the training split, the method's data (triplets; labelled answers), LoRA
training with the shared core, the adapter with its model card, and the before/after report
on held-out data and a dataset out of distribution, beside Platt scaling of the untrained
model's Cv fitted on the training split.

Output folder (every step is stored and skipped when done, so the same command resumes; every
file is written atomically, and the caches a rerun loads carry a ``.sha256`` checksum):

- ``<method>.json``: the settings that determine the results; another run's folder is refused;
- ``answers-run/``: the untrained model's ``distribution``-mode eval of the training split in
  the trained formats (its own answers, their correctness, its Cv for the Platt fit);
- ``data.jsonl`` (triplets or labelled answers) and ``data_stats.json`` (kept, dropped, used);
- ``checkpoints/``, ``adapter/`` (peft folder, ``README.md`` model card, training config);
- ``eval-base/``, ``eval-<method>/`` (and ``valid-*`` with a validation split): eval runs;
- ``jsd-base.json``, ``jsd-<method>.json``: per held-out question JSD(P_correct, P_wrong);
- ``report/``: ``<method>.md``/``.json`` and the runs' comparison.

Under ``accelerate launch`` the main process prepares the data first, every process trains,
and the main process saves and evaluates.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from confalign.confidence.formats import FORMAT_NAMES
from confalign.data.example import QAExample
from confalign.pipelines._steps import (
    LazyBackend,
    RunSettings,
    Splits,
    TrainingResult,
    TrainingRunError,
    claim_output,
    load_training_policy,
    make_splits,
    process_state,
    run_evals,
    save_training,
    store_stats,
    stored_data,
)
from confalign.train.advice import AdviceWeights
from confalign.train.advice_data import ADVICE_FORMATS, CorrectFrom
from confalign.train.core import ADAPTER, LoraSettings
from confalign.train.levels import OwnAnswer

UNTRAINED_FORMATS = ("score_text", "score_percent", "score_float")
# JSD(P_correct, P_wrong) is measured in ADVICE's two formats for both methods, so the runs
# compare (in 101-level formats it would cost 4 answers x 101 levels per question).
JSD_FORMATS = ADVICE_FORMATS


def advice_lora() -> LoraSettings:
    """ADVICE's reported set-up: r=16, alpha=32 on the attention projections."""
    return LoraSettings(r=16, alpha=32, target_modules=("q_proj", "k_proj", "v_proj", "o_proj"))


def conftuner_lora() -> LoraSettings:
    """ConfTuner's reference set-up: r=8, alpha=32, dropout 0.05 on q/v."""
    return LoraSettings(r=8, alpha=32, dropout=0.05, target_modules=("q_proj", "v_proj"))


@dataclass(frozen=True)
class AdviceOptions:
    """ADVICE's own settings: where correct answers come from, the loss's weights/margins,
    the trained formats (one per mini-batch)."""

    name: ClassVar[str] = "advice"
    correct_from: CorrectFrom = "greedy"
    weights: AdviceWeights = field(default_factory=AdviceWeights)
    formats: tuple[str, ...] = ADVICE_FORMATS


@dataclass(frozen=True)
class ConfTunerOptions:
    """ConfTuner's own settings: the trained format and the weight of the optional LM loss."""

    name: ClassVar[str] = "conftuner"
    format: str = "score_percent"
    lm_weight: float = 0.0

    @property
    def formats(self) -> tuple[str, ...]:
        return (self.format,)


@dataclass(frozen=True)
class TuningConfig(RunSettings):
    """One ADVICE or ConfTuner run (``method`` says which; the shared fields:
    ``RunSettings``). ``eval_formats``: the formats of the held-out evaluation (the trained
    ones and those not trained on); ``ood_formats``: of the out-of-distribution one (default:
    ADVICE's two and the trained ones)."""

    method: AdviceOptions | ConfTunerOptions = field(default_factory=AdviceOptions)
    dataset: str = "calibrated_math"
    ood_dataset: str | None = "mmlu_offline"
    train_limit: int = 600
    eval_formats: tuple[str, ...] = (*ADVICE_FORMATS, *UNTRAINED_FORMATS)
    ood_formats: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        for fmt in (*self.method.formats, *self.eval_formats, *(self.ood_formats or ())):
            if fmt not in FORMAT_NAMES or fmt == "probability":
                raise TrainingRunError(
                    f"format: {fmt!r} is not a score format ({', '.join(FORMAT_NAMES[1:])})"
                )
        m = self.method
        if isinstance(m, AdviceOptions) and m.correct_from not in ("greedy", "gold"):
            raise TrainingRunError(f"correct-from: must be greedy or gold, got {m.correct_from!r}")
        if isinstance(m, ConfTunerOptions) and m.lm_weight < 0:
            raise TrainingRunError(f"lm-weight: must be >= 0, got {m.lm_weight}")

    @property
    def name(self) -> str:
        return self.method.name

    def identity(self) -> dict[str, Any]:
        out = super().identity()
        out |= {"method": self.name, "options": asdict(self.method)}
        return json.loads(json.dumps(out, default=str))


def run_tuning(config: TuningConfig, *, progress: bool = True) -> TrainingResult:
    """Run (or resume) every step of ``config``; see the module docstring."""
    state = process_state(config.device)
    out = config.output
    with state.main_process_first():
        splits = make_splits(config)  # refuses overlapping splits before anything is written
        if state.is_main_process:
            claim_output(
                out,
                config.identity(),
                marker=f"{config.name}.json",
                kind=config.name,
                defaults=config.default_identity(),
            )
        backend = LazyBackend(config)
        data_path, stats = _data(config, splits, backend, progress)
        if config.evaluate and state.is_main_process:
            run_evals(_eval_runs(config, splits, None), backend, progress=progress)
            if not config.validation_only:
                _jsd(config, splits, backend, "base")
        backend.close()
    adapter = out / ADAPTER
    if not (adapter / "adapter_model.safetensors").exists():
        _train(config, data_path)
    report = None
    if state.is_main_process and config.evaluate:
        run_evals(_eval_runs(config, splits, adapter), None, progress=progress)
        if not config.validation_only:
            _jsd(config, splits, None, config.name)
        report = _report(config, stats)
    return TrainingResult(out, adapter, stats.get("kept", 0), stats, report)


# -- data --------------------------------------------------------------------------------------


def _data(
    config: TuningConfig, splits: Splits, backend: LazyBackend, progress: bool
) -> tuple[Path, dict[str, int]]:
    """The method's training data from the untrained model's own answers (stored)."""
    from confalign.confidence.formats import get_format
    from confalign.confidence.prompts import ANSWER_PREFIX, verbalized_prompt
    from confalign.runs import RunStore
    from confalign.train.advice_data import build_triplets
    from confalign.train.conftuner_data import label_answers
    from confalign.train.jsonl import write_records

    out = config.output
    path, stats_path = out / "data.jsonl", out / "data_stats.json"
    stored = stored_data(path, stats_path)
    if stored is not None:
        return path, stored
    run_dir = out / "answers-run"
    run_evals([(_answers_run(config), {config.dataset: splits.train})], backend, progress=progress)
    hf = backend.get()
    prompts = {
        (ex.id, f): hf.render(verbalized_prompt(ex, get_format(f), ANSWER_PREFIX))
        for ex in splits.train
        for f in config.method.formats
    }
    own = []
    with RunStore.open(run_dir) as store:
        for f in config.method.formats:
            own += [
                OwnAnswer(r.example_id, f, r.prediction, r.correct)
                for r in store.rows(config.dataset, f"verbalized/{f}/distribution")
            ]
    method = config.method
    if isinstance(method, AdviceOptions):
        records, counts = build_triplets(
            splits.train, own, prompts, correct_from=method.correct_from, seed=config.seed
        )
    else:
        records, counts = label_answers(own, prompts)
    stats = {"examples": len(splits.train), **counts}
    if not records:
        hint = " (try --correct-from gold)" if isinstance(method, AdviceOptions) else ""
        raise TrainingRunError(
            f"no training data from {len(splits.train)} examples: {dict(counts)}{hint}"
        )
    write_records(records, path)
    store_stats(stats_path, stats)
    return path, stats


def _answers_run(config: TuningConfig) -> Any:
    from confalign.evaluate import EvalConfig

    return EvalConfig(
        datasets=(config.dataset,),
        model=config.model,
        methods=("verbalized",),
        formats=config.method.formats,
        modes=("distribution",),
        seed=config.seed,
        output=config.output / "answers-run",
        device=config.device,
        threads=config.threads,
    )


# -- training ----------------------------------------------------------------------------------


def _train(config: TuningConfig, data_path: Path) -> None:
    from dataclasses import replace

    from confalign.train.advice import advice_item, advice_loss, advice_records
    from confalign.train.advice_data import Triplet, shuffled_batches
    from confalign.train.conftuner import conftuner_item, conftuner_loss, conftuner_records
    from confalign.train.conftuner_data import LabelledAnswer
    from confalign.train.core import fit
    from confalign.train.jsonl import read_records

    p = load_training_policy(config)
    settings, method = config.train, config.method
    if isinstance(method, AdviceOptions):
        triplets = read_records(data_path, Triplet)
        lm = method.weights.lm > 0
        batches = [
            [advice_item(p.tokenizer, t, special=p.special, lm=lm) for t in batch]
            for batch in shuffled_batches(triplets, settings.batch_size, seed=settings.seed)
        ]
        records = advice_records(batches)
        loss = advice_loss(p.scorer, method.weights)
        settings = replace(settings, batch_size=1)  # a record is a whole one-format mini-batch
        n = len(triplets)
    else:
        answers = read_records(data_path, LabelledAnswer)
        lm = method.lm_weight > 0
        items = [conftuner_item(p.tokenizer, a, special=p.special, lm=lm) for a in answers]
        records = conftuner_records(items, answers)
        loss = conftuner_loss(p.scorer, lm_weight=method.lm_weight)
        n = len(answers)
    history = fit(p.model, records, loss, settings, config.output, device=p.device)
    save_training(config, p, history, method=config.name, card=model_card(config, n, None))


# -- evaluation and report ---------------------------------------------------------------------


def _eval_runs(
    config: TuningConfig, splits: Splits, adapter: Path | None
) -> list[tuple[Any, dict[str, list[QAExample]]]]:
    from confalign.evaluate import EvalConfig

    tag = config.name if adapter else "base"
    common = {
        "model": config.model,
        "adapter": str(adapter) if adapter else None,
        "methods": ("verbalized",),
        "modes": ("distribution",),
        "seed": config.eval_seed,
        "device": config.device,
        "threads": config.threads,
    }
    runs: list[tuple[Any, dict[str, list[QAExample]]]] = []
    for name, formats, data in (
        ("eval", config.eval_formats, {config.dataset: splits.heldout}),
        (
            "ood",
            _ood_formats(config),
            {config.ood_dataset: splits.ood} if config.ood_dataset else {},
        ),
        ("valid", config.method.formats, {config.dataset: splits.validation}),
    ):
        data = {k: v for k, v in data.items() if k and v}
        if data and (name == "valid" or not config.validation_only):
            output = config.output / f"{name}-{tag}"
            runs.append(
                (EvalConfig(datasets=tuple(data), formats=formats, output=output, **common), data)
            )
    return runs


def _ood_formats(config: TuningConfig) -> tuple[str, ...]:
    return config.ood_formats or tuple(dict.fromkeys((*ADVICE_FORMATS, *config.method.formats)))


def _jsd(config: TuningConfig, splits: Splits, backend: LazyBackend | None, tag: str) -> None:
    """Per held-out question and ``JSD_FORMATS`` format, JSD(P_correct, P_wrong) (the ADVICE
    statistic: the gold answer against three wrong ones, ``analysis.answer_dependence``)."""
    from confalign.analysis.answer_dependence.distributions import (
        answer_jsd,
        candidate_answers,
        level_distributions,
    )
    from confalign.confidence.formats import get_format
    from confalign.runs import read_checked, write_checked

    path = config.output / f"jsd-{tag}.json"
    if read_checked(path) is not None:
        return
    if backend is None:
        from confalign.backends import BackendConfig, load_backend

        hf = load_backend(
            "hf",
            BackendConfig(
                model=config.model,
                adapter=str(config.output / ADAPTER),
                device=config.device,
                threads=config.threads,
                seed=config.seed,
            ),
        )
    else:
        hf = backend.get()
    examples = splits.heldout
    candidates = candidate_answers(examples, seed=config.eval_seed)
    answers = [(c.correct, *c.wrong) for c in candidates]
    out: dict[str, dict[str, float]] = {}
    for f in JSD_FORMATS:
        dists = []
        for i in range(0, len(examples), 16):
            dists += level_distributions(
                hf, examples[i : i + 16], get_format(f), answers[i : i + 16]
            )
        out[f] = {ex.id: answer_jsd(d.p[0], d.p[1:]) for ex, d in zip(examples, dists, strict=True)}
    if backend is None:
        hf.close()
    write_checked(path, json.dumps(out, indent=1) + "\n")


def _jsd_rows(config: TuningConfig) -> list[dict[str, Any]]:
    rows = []
    for tag in ("base", config.name):
        path = config.output / f"jsd-{tag}.json"
        if not path.exists():  # --validation-only
            continue
        data = json.loads(path.read_text())
        for fmt, per_q in data.items():
            v = np.array(list(per_q.values()), dtype=np.float64)
            rows.append(
                {
                    "model": tag,
                    "format": fmt,
                    "n": len(v),
                    "mean": float(v.mean()),
                    "median": float(np.median(v)),
                    "share_le_0.1": float((v <= 0.1).mean()),
                }
            )
    return rows


def _report(config: TuningConfig, stats: dict[str, int]) -> Path:
    from confalign.report import write_comparison
    from confalign.report.calibration_table import (
        calibration_rows,
        interleave,
        platt_rows,
        to_markdown,
    )
    from confalign.runs import atomic_write

    out = config.output / "report"
    out.mkdir(exist_ok=True)
    name = config.name
    sections: dict[str, list[dict[str, Any]]] = {}
    for section, prefix, formats in (
        ("held-out", "eval", config.eval_formats),
        ("out of distribution", "ood", _ood_formats(config)),
        ("validation", "valid", config.method.formats),
    ):
        before, after = config.output / f"{prefix}-base", config.output / f"{prefix}-{name}"
        if not (before.exists() and after.exists()):
            continue
        rows = calibration_rows(before, "untrained", formats)
        rows += platt_rows(config.output / "answers-run", before, "untrained + Platt", formats)
        rows += calibration_rows(after, name, formats)
        sections[section] = interleave(rows)
    jsd = _jsd_rows(config)
    text = [f"# {name} before/after: {config.model} on {config.dataset}\n"]
    text.append(f"\nTraining data: {json.dumps(stats)}\n")
    for section, rows in sections.items():
        text += [f"\n## {section} (Cv: `distribution` mode)\n\n", to_markdown(rows)]
    if jsd:
        text.append("\n## JSD(P_correct, P_wrong) on held-out questions (nats)\n\n")
        text.append(
            "| format | model | N | mean | median | share <= 0.1 |\n|" + " --- |" * 6 + "\n"
        )
    for r in jsd:
        text.append(
            f"| {r['format']} | {r['model']} | {r['n']} | {r['mean']:.4f} | {r['median']:.4f} "
            f"| {r['share_le_0.1']:.0%} |\n"
        )
    atomic_write(
        out / f"{name}.json",
        json.dumps({"data": stats, "tables": sections, "jsd": jsd}, indent=2, default=str) + "\n",
    )
    md = atomic_write(out / f"{name}.md", "".join(text))
    card = model_card(config, stats.get("kept", 0), "".join(text[1:]))
    atomic_write(config.output / ADAPTER / "README.md", card)
    prefix = "valid" if config.validation_only else "eval"
    runs = [config.output / f"{prefix}-base", config.output / f"{prefix}-{name}"]
    write_comparison(runs, out / "compare", labels=["untrained", name])
    return md


def model_card(config: TuningConfig, n: int, results: str | None) -> str:
    """The adapter's README: base model, method, data, command, before/after numbers."""
    t, m = config.train, config.method
    if isinstance(m, AdviceOptions):
        w = m.weights
        what = (
            "ADVICE (answer-dependent verbalized confidence): contrastive losses on the level "
            "distributions after a correct and a wrong answer, L = "
            f"{w.lm} L_LM + {w.jsd} max(0, {w.d_jsd} - JSD) + {w.margin} max(0, {w.d_m} - "
            f"(mu_c - mu_w)) + {w.sum} |1 - (mu_c + mu_w)|; correct answers: {m.correct_from}"
        )
        options = f"--correct-from {m.correct_from} "
    else:
        what = (
            "ConfTuner: the tokenized Brier loss sum_i P(level_i) (y - value_i)^2 over the "
            f"`{m.format}` levels of the model's own answers, + {m.lm_weight} L_LM"
        )
        options = f"--format {m.format} --lm-weight {m.lm_weight} "
    command = (
        f"confalign train {config.name} --model {config.model} --dataset {config.dataset} "
        f"--train-limit {config.train_limit} --eval-limit {config.eval_limit} {options}"
        f"--lr {t.learning_rate} --epochs {t.epochs} --batch-size {t.batch_size} "
        f"--grad-accum {t.grad_accum} --seed {config.seed} --output {config.output}"
    )
    return f"""---
library_name: peft
base_model: {config.model}
tags: [confalign, {config.name}, lora, calibration]
---

# {config.name} adapter for `{config.model}`

{what}.

- Base model: `{config.model}`; LoRA r={t.lora.r}, alpha={t.lora.alpha}, dropout={t.lora.dropout}
  on {", ".join(t.lora.target_modules)}.
- Data: {n} training instances from {config.train_limit} `{config.dataset}` questions (formats
  {", ".join(m.formats)}, seed {config.seed}); held-out: {config.eval_limit} questions (seed
  {config.eval_seed}); out of distribution: `{config.ood_dataset}`.
- Optimisation: lr {t.learning_rate}, {t.epochs} epochs, batch {t.batch_size} x {t.grad_accum}
  accumulation, {t.scheduler} schedule with {t.warmup_ratio:.0%} warm-up, seed {t.seed}.
- Command: `{command}`
- Load it: `confalign eval --model {config.model} --adapter {config.output / ADAPTER} ...`, or
  `PeftModel.from_pretrained(model, "{config.output / ADAPTER}")`.

## Before/after

{results or "Not evaluated yet (run the same command again without --no-eval)."}
"""
