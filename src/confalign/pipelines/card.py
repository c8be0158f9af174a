"""The adapter's model card (its ``README.md``) and the command that reproduces the run: every
option whose value differs from the method's default, written as the CLI takes it."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

from confalign.pipelines.settings import RunSettings, TrainingConfig, method_defaults
from confalign.train.core import ADAPTER


def flag(f: Any) -> str:
    """The long flag of a dataclass field made with ``option``."""
    flags = f.metadata.get("flag")
    return flags[0] if flags else "--" + f.name.replace("_", "-")


def cli_value(value: Any) -> str:
    """``value`` as the command line writes it (tuples: comma lists; None: ``none``)."""
    if value is None:
        return "none"
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


def command(config: TrainingConfig) -> str:
    """``confalign train <method> ...`` with ``--output`` and every non-default option."""
    defaults = method_defaults(config.method)
    parts = [f"confalign train {config.method}"]
    for source in (config.settings, config.options):
        for f in fields(source):
            value = getattr(source, f.name)
            if f.name != "output" and value == defaults.get(f.name):
                continue
            name = flag(f)
            if isinstance(value, bool):
                parts.append(name if value else "--no-" + name[2:])
            else:
                parts.append(f"{name} {cli_value(value)}")
    return " ".join(parts)


def model_card(
    config: TrainingConfig, stats: dict[str, Any], splits: dict[str, Any], results: str | None
) -> str:
    """The adapter's README: base model (Hub id), method, data and splits, the command, the
    before/after numbers (None: not evaluated yet)."""
    from confalign.backends.default_model import hub_id

    s: RunSettings = config.settings
    t, name = s.train, config.method
    base = hub_id(s.model)
    adapter = s.output / ADAPTER
    sizes = splits.get("sizes", {})
    return f"""---
library_name: peft
base_model: {base}
tags: [confalign, {name}, lora, calibration]
---

# {name} adapter for `{base}`

{config.spec.describe(config.options)}

- Base model: `{base}`; LoRA r={t.lora.r}, alpha={t.lora.alpha}, dropout={t.lora.dropout}
  on {", ".join(t.lora.target_modules)}.
- Data: {stats.get("kept", 0)} training instances from {sizes.get("train", s.train_limit)}
  `{s.dataset}` questions (seed {s.seed}; their ids: `training_examples.json`); validation:
  {sizes.get("validation", 0)} (seed {s.validation_seed}); held-out: {sizes.get("heldout", 0)}
  (seed {s.eval_seed}); out of distribution: `{s.ood_dataset}` (split
  `{s.ood_split or "default"}`), {sizes.get("ood", 0)} (seed {s.ood_seed}). Every pair of
  splits is disjoint (checked).
- Optimisation: lr {t.learning_rate}, {t.epochs} epochs, batch {t.batch_size} x {t.grad_accum}
  accumulation, {t.scheduler} schedule with {t.warmup_ratio:.0%} warm-up, seed {t.seed}.
- Command: `{command(config)}`
- Load it: `confalign eval --model {s.model} --adapter {adapter} ...` (examples it was trained
  on are refused), or `PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained("{base}"),
  "{adapter}")`.

## Before/after

{results or "Not evaluated yet (run the same command again without --no-evaluate)."}
"""


def write_card(config: TrainingConfig, text: str) -> None:
    """Replace the adapter's card (after the evaluation adds its numbers)."""
    from confalign.runs import atomic_write

    atomic_write(Path(config.settings.output) / ADAPTER / "README.md", text)
