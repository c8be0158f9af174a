"""The before/after evaluation of a training run, by the kind its method names
(``TrainingMethod.evaluation``):

- ``alignment`` (DCA): Cv against Ci, the internal confidence of the same answer: the
  ``choice``, ``answer_prob`` and verbalized ``probability`` runs in the method's
  ``eval_modes``; the table of ρ(Cv, Ci), ε, ECE ... (``report.before_after``).
- ``preference`` (DPO alignment): the greedy answers' accuracy and ``answer_prob`` before and
  after, and on the held-out questions' preference pairs (built as the training pairs are)
  how often each model puts the chosen completion above the rejected one.
- ``calibration`` (ADVICE, ConfTuner, verbalized SFT): Cv in ``distribution`` mode per score
  format against correctness, beside Platt scaling of the untrained model's Cv (fitted on its
  answers to the training split); and per held-out question JSD(P_correct, P_wrong) before
  and after (the ADVICE statistic, in ADVICE's two formats so every method's runs compare).

Each section (``held-out``, ``out of distribution``, ``validation``) is one eval run per side:
``eval-``, ``ood-``, ``valid-`` + ``base`` or the method's name.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from confalign.data.example import QAExample
from confalign.pipelines.settings import TrainingConfig
from confalign.pipelines.splits import Splits

SECTIONS = (("held-out", "eval"), ("out of distribution", "ood"), ("validation", "valid"))
JSD_FORMATS = ("score_letter", "score_number")  # ADVICE's


@dataclass(frozen=True)
class Kind:
    """One kind of before/after evaluation: what each section's runs extract, the table of a
    section, and an optional extra measurement on the held-out questions (before and after)."""

    methods: tuple[str, ...]
    modes: Callable[[Any], tuple[str, ...] | None]
    formats: Callable[[Any, str], tuple[str, ...] | None]
    table: Callable[[TrainingConfig, str, Path, Path], tuple[list[dict], str]]
    measure: Callable[[TrainingConfig, Splits, Any, str], None] | None = None
    summary: Callable[[TrainingConfig], tuple[dict, str]] | None = None


def eval_runs(
    config: TrainingConfig, splits: Splits, adapter: Path | None
) -> list[tuple[Any, dict[str, list[QAExample]]]]:
    """``(EvalConfig, examples per dataset)`` of every section, before (``adapter`` None) or
    after; ``validation_only``: the validation section alone."""
    from confalign.evaluate import EvalConfig

    s, kind = config.settings, KINDS[config.spec.evaluation]
    tag = config.method if adapter else "base"
    data = {
        "eval": {s.dataset: splits.heldout},
        "ood": {s.ood_dataset: splits.ood} if s.ood_dataset else {},
        "valid": {s.dataset: splits.validation},
    }
    runs = []
    for _, prefix in SECTIONS:
        examples = {k: v for k, v in data[prefix].items() if v}
        if not examples or (s.validation_only and prefix != "valid"):
            continue
        eval_config = EvalConfig(
            datasets=tuple(examples),
            model=s.model,
            adapter=str(adapter) if adapter else None,
            methods=kind.methods,
            formats=kind.formats(config.options, prefix),
            modes=kind.modes(config.options),
            seed=s.eval_seed,
            output=s.output / f"{prefix}-{tag}",
            device=s.device,
            threads=s.threads,
        )
        runs.append((eval_config, examples))
    return runs


def write_report(config: TrainingConfig, stats: dict[str, Any], splits: dict[str, Any]) -> Path:
    """``report/<method>.md`` and ``.json``: the training data's counts, the splits, each
    section's before/after table (and the kind's summary), and the runs' full comparison."""
    from confalign.report import write_comparison
    from confalign.runs import atomic_write

    s, kind, name = config.settings, KINDS[config.spec.evaluation], config.method
    out = s.output / "report"
    out.mkdir(exist_ok=True)
    text = [f"# {name} before/after: {s.model} on {s.dataset}\n"]
    text.append(f"\nTraining data: {json.dumps(stats)}; splits: {json.dumps(splits['sizes'])}\n")
    tables: dict[str, Any] = {}
    for section, prefix in SECTIONS:
        before, after = s.output / f"{prefix}-base", s.output / f"{prefix}-{name}"
        if before.exists() and after.exists():
            tables[section], md = kind.table(config, prefix, before, after)
            text += [f"\n## {section}\n\n", md]
    extra: dict[str, Any] = {}
    if kind.summary is not None:
        extra, md = kind.summary(config)
        text.append(md)
    record = {"data": stats, "splits": splits, "tables": tables, **extra}
    atomic_write(out / f"{name}.json", json.dumps(record, indent=2, default=str) + "\n")
    md_path = atomic_write(out / f"{name}.md", "".join(text))
    prefix = "valid" if s.validation_only else "eval"
    runs = [s.output / f"{prefix}-base", s.output / f"{prefix}-{name}"]
    write_comparison(runs, out / "compare", labels=["base", name])
    return md_path


# -- alignment (DCA) ---------------------------------------------------------------------------


def _alignment_table(
    config: TrainingConfig, prefix: str, before: Path, after: Path
) -> tuple[list[dict], str]:
    from confalign.report.before_after import before_after, to_markdown

    modes = config.options.eval_modes
    rows = before_after({"base": before, config.method: after}, modes=modes)
    return rows, to_markdown(rows)


ALIGNMENT = Kind(
    methods=("choice", "answer_prob", "verbalized"),
    modes=lambda options: tuple(options.eval_modes),
    formats=lambda options, prefix: ("probability",),
    table=_alignment_table,
)


# -- calibration (ADVICE, ConfTuner, verbalized SFT) -------------------------------------------


def _calibration_formats(options: Any, prefix: str) -> tuple[str, ...]:
    if prefix == "eval":
        return tuple(options.eval_formats)
    if prefix == "ood":
        return tuple(options.ood_formats) or tuple(dict.fromkeys((*JSD_FORMATS, *options.formats)))
    return tuple(options.formats)


def _calibration_table(
    config: TrainingConfig, prefix: str, before: Path, after: Path
) -> tuple[list[dict], str]:
    from confalign.report.calibration_table import (
        calibration_rows,
        interleave,
        platt_rows,
        to_markdown,
    )

    formats = _calibration_formats(config.options, prefix)
    answers = config.settings.output / "answers-run"
    rows = calibration_rows(before, "untrained", formats)
    rows += platt_rows(answers, before, "untrained + Platt", formats)
    rows += calibration_rows(after, config.method, formats)
    rows = interleave(rows)
    return rows, "(Cv: `distribution` mode)\n\n" + to_markdown(rows)


def measure_jsd(config: TrainingConfig, splits: Splits, backend: Any, tag: str) -> None:
    """``jsd-<tag>.json``: per held-out question and ``JSD_FORMATS`` format, JSD(P_correct,
    P_wrong), the gold answer against three wrong ones (``analysis.answer_dependence``)."""
    from confalign.analysis.answer_dependence.distributions import (
        answer_jsd,
        candidate_answers,
        level_distributions,
    )
    from confalign.confidence.formats import get_format
    from confalign.runs import read_checked, write_checked

    path = config.settings.output / f"jsd-{tag}.json"
    if config.settings.validation_only or read_checked(path) is not None:
        return
    hf = backend.get()
    examples = splits.heldout
    candidates = candidate_answers(examples, seed=config.settings.eval_seed)
    answers = [(c.correct, *c.wrong) for c in candidates]
    out: dict[str, dict[str, float]] = {}
    for f in JSD_FORMATS:
        dists = []
        for i in range(0, len(examples), 16):
            dists += level_distributions(
                hf, examples[i : i + 16], get_format(f), answers[i : i + 16]
            )
        out[f] = {ex.id: answer_jsd(d.p[0], d.p[1:]) for ex, d in zip(examples, dists, strict=True)}
    write_checked(path, json.dumps(out, indent=1) + "\n")


def _jsd_summary(config: TrainingConfig) -> tuple[dict, str]:
    rows = []
    for tag in ("base", config.method):
        path = config.settings.output / f"jsd-{tag}.json"
        if not path.exists():  # --validation-only
            continue
        for fmt, per_q in json.loads(path.read_text()).items():
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
    if not rows:
        return {"jsd": rows}, ""
    text = ["\n## JSD(P_correct, P_wrong) on held-out questions (nats)\n\n"]
    text.append("| format | model | N | mean | median | share <= 0.1 |\n|" + " --- |" * 6 + "\n")
    text += [
        f"| {r['format']} | {r['model']} | {r['n']} | {r['mean']:.4f} | {r['median']:.4f} "
        f"| {r['share_le_0.1']:.0%} |\n"
        for r in rows
    ]
    return {"jsd": rows}, "".join(text)


CALIBRATION = Kind(
    methods=("verbalized",),
    modes=lambda options: ("distribution",),
    formats=_calibration_formats,
    table=_calibration_table,
    measure=measure_jsd,
    summary=_jsd_summary,
)

# -- preference (DPO alignment) ----------------------------------------------------------------


def _preference_table(
    config: TrainingConfig, prefix: str, before: Path, after: Path
) -> tuple[list[dict], str]:
    from confalign.report.calibration_table import interleave, method_rows, to_markdown

    rows = method_rows(before, "untrained", ("answer_prob",))
    rows += method_rows(after, config.method, ("answer_prob",))
    rows = interleave(rows)
    return rows, "(`answer_prob`: the greedy answer and its mean token probability)\n\n" + (
        to_markdown(rows)
    )


def heldout_pairs(config: TrainingConfig, splits: Splits) -> list[Any]:
    """The held-out questions' preference pairs, built as the training pairs are, from the
    untrained model's own held-out answers (``eval-base``): the same pairs before and after."""
    from confalign.runs import RunStore
    from confalign.train.methods.dpo import own_answers
    from confalign.train.preference_data import build_factual_pairs

    s = config.settings
    with RunStore.open(s.output / "eval-base") as store:
        own = own_answers(store.rows(s.dataset, "answer_prob"))
    prompts = {ex.id: "" for ex in splits.heldout}  # scored from the Prompt, not the text
    pairs, _ = build_factual_pairs(splits.heldout, own, prompts, seed=s.eval_seed)
    return pairs


def measure_preference(config: TrainingConfig, splits: Splits, backend: Any, tag: str) -> None:
    """``pref-<tag>.json``: per held-out pair, the summed log-probabilities (nats) of the
    chosen and the rejected completion after the ``answer_prob`` prompt, and the pair's
    source (``own_wrong``/``distractor``)."""
    from confalign.backends.base import ScoreRequest
    from confalign.confidence.prompts import answer_prompt
    from confalign.runs import read_checked, write_checked

    path = config.settings.output / f"pref-{tag}.json"
    if config.settings.validation_only or read_checked(path) is not None:
        return
    pairs = heldout_pairs(config, splits)
    by_id = {ex.id: ex for ex in splits.heldout}
    requests = [
        ScoreRequest(answer_prompt(by_id[p.example_id]), continuations=(p.chosen, p.rejected))
        for p in pairs
    ]
    hf = backend.get()
    out = {}
    for i in range(0, len(requests), 16):
        for p, result in zip(pairs[i : i + 16], hf.score(requests[i : i + 16]), strict=True):
            chosen, rejected = (float(lp.sum()) for lp in result.continuation_logprobs)
            out[p.example_id] = {"chosen": chosen, "rejected": rejected, "source": p.source}
    write_checked(path, json.dumps(out, indent=1) + "\n")


def preference_rows(base: dict[str, dict], tuned: dict[str, dict], label: str) -> list[dict]:
    """Per pair source and overall: the share of held-out pairs where each model gives the
    chosen completion the higher log-probability, and where the tuned model's implicit reward
    ``r = log pi - log pi_ref`` is higher for chosen than rejected (TRL's reward accuracy),
    with the mean reward margin (nats)."""
    ids = [k for k in base if k in tuned]
    groups = {"all": ids}
    for k in ids:
        groups.setdefault(base[k]["source"], []).append(k)
    rows = []
    for name, keys in groups.items():
        if not keys:
            continue
        b = np.array([[base[k]["chosen"], base[k]["rejected"]] for k in keys])
        t = np.array([[tuned[k]["chosen"], tuned[k]["rejected"]] for k in keys])
        margin = (t[:, 0] - b[:, 0]) - (t[:, 1] - b[:, 1])
        rows.append(
            {
                "pairs": name,
                "n": len(keys),
                "untrained_prefers_chosen": float((b[:, 0] > b[:, 1]).mean()),
                f"{label}_prefers_chosen": float((t[:, 0] > t[:, 1]).mean()),
                "reward_accuracy": float((margin > 0).mean()),
                "reward_margin": float(margin.mean()),
                "chosen_logp_change": float((t[:, 0] - b[:, 0]).mean()),
            }
        )
    return rows


def _preference_summary(config: TrainingConfig) -> tuple[dict, str]:
    out = config.settings.output
    base, tuned = out / "pref-base.json", out / f"pref-{config.method}.json"
    if not (base.exists() and tuned.exists()):
        return {"preference": []}, ""
    label = config.method
    rows = preference_rows(json.loads(base.read_text()), json.loads(tuned.read_text()), label)
    text = ["\n## Chosen over rejected on held-out pairs\n\n"]
    text.append(
        f"| pairs | N | untrained prefers chosen | {label} prefers chosen | reward accuracy "
        "| reward margin (nats) | chosen log-prob change (nats) |\n|" + " --- |" * 7 + "\n"
    )
    text += [
        f"| {r['pairs']} | {r['n']} | {r['untrained_prefers_chosen']:.1%} "
        f"| {r[f'{label}_prefers_chosen']:.1%} | {r['reward_accuracy']:.1%} "
        f"| {r['reward_margin']:+.2f} | {r['chosen_logp_change']:+.2f} |\n"
        for r in rows
    ]
    return {"preference": rows}, "".join(text)


PREFERENCE = Kind(
    methods=("answer_prob",),
    modes=lambda options: None,
    formats=lambda options, prefix: None,
    table=_preference_table,
    measure=measure_preference,
    summary=_preference_summary,
)

KINDS: dict[str, Kind] = {
    "alignment": ALIGNMENT,
    "calibration": CALIBRATION,
    "preference": PREFERENCE,
}
