"""What an alignment study compares: (base, tuned) model pairs, tasks, methods and metrics.

A side of a pair is a Hub id, a local folder, an embedded model (``default``,
``gemma-3-270m``), or one of those plus a LoRA adapter folder. On the command line a pair is
``BASE,TUNED`` and a side with an adapter is ``MODEL+ADAPTER_FOLDER``; in a YAML file::

    pairs:
      - base: meta-llama/Llama-2-7b-hf
        tuned: meta-llama/Llama-2-7b-chat-hf
      - name: smollm2-dca
        base: default
        tuned: {model: default, adapter: runs/dca/adapter}
    tasks: [mmlu_offline, calibrated_math_mc]
    limit: 200

Everything is checked here, before any model loads (``StudyConfig.__post_init__``): an empty
pair list, a pair whose two sides are the same model, a local model or adapter folder that
does not exist, unknown methods or metrics. Tasks are checked for options when their data
loads (``confalign.analysis.study.run``), still before any model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confalign.backends.default_model import is_embedded
from confalign.runs import stable_hash

# The paper's five tasks (registry names; their Hub ids are in `confalign datasets list`).
DEFAULT_TASKS = ("arc_easy", "hellaswag", "medmcqa", "mmlu", "piqa")
OFFLINE_TASKS = ("mmlu_offline", "calibrated_math_mc")
METHODS = ("choice", "continuation_sum", "continuation_min")
# Calibration errors: lower is better; a positive tuned - base difference is harm.
ERROR_METRICS = ("ece", "sce", "brier")
# Higher is better: a negative difference is harm.
SCORE_METRICS = ("auroc", "accuracy")
METRICS = ("ece", "sce", "brier", "auroc", "accuracy")
# Hub ids are "name" or "owner/name"; anything else is a local path and must exist.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


class StudyError(ValueError):
    """A study set-up that cannot run; the message names the pair, task or field."""


@dataclass(frozen=True)
class ModelSpec:
    """One side of a pair: a model and an optional LoRA adapter folder."""

    model: str
    adapter: str | None = None

    @property
    def label(self) -> str:
        """``model`` or ``model+adapter-folder-name``, for tables; a folder named ``adapter``
        (where ``confalign train`` writes it) is named by its run folder (``dpo/adapter``:
        ``dpo``), so two trained adapters do not share a label."""
        if not self.adapter:
            return self.model
        folder = Path(self.adapter)
        name = (
            folder.parent.name if folder.name == "adapter" and folder.parent.name else folder.name
        )
        return f"{self.model}+{name or self.adapter}"

    @property
    def key(self) -> str:
        """A file-name-safe id, unique per (model, adapter path)."""
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", self.label).strip("-.") or "model"
        adapter = str(Path(self.adapter).resolve()) if self.adapter else None
        return f"{slug[:48]}-{stable_hash(repr((self.model, adapter)), 8)}"

    def check(self, where: str) -> None:
        """Raise ``StudyError`` for a missing local model or adapter folder."""
        if not self.model.strip():
            raise StudyError(f"{where}: the model is empty")
        local = not is_embedded(self.model) and not _HUB_ID.match(self.model)
        if local and not Path(self.model).expanduser().exists():
            raise StudyError(f"{where}: model folder {self.model!r} does not exist")
        if self.adapter is not None and not Path(self.adapter).expanduser().is_dir():
            raise StudyError(f"{where}: adapter folder {self.adapter!r} does not exist")

    def same_as(self, other: ModelSpec) -> bool:
        return self.model == other.model and _norm(self.adapter) == _norm(other.adapter)


def _norm(adapter: str | None) -> str | None:
    return str(Path(adapter).expanduser().resolve()) if adapter else None


@dataclass(frozen=True)
class Pair:
    """A base model and its tuned version; ``name`` labels the pair in tables."""

    base: ModelSpec
    tuned: ModelSpec
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or f"{self.base.label} → {self.tuned.label}"


@dataclass(frozen=True)
class StudyConfig:
    """One study. ``limit``: questions per task (seeded sample, ``seed``; None: all).
    ``output``: where study.json/md/html go; ``runs_dir``: where the per model x task evals
    are stored and reused (default ``output/runs``). ``n_bootstrap`` paired resamples per
    difference, ``ci_level`` its interval; a difference is significant when the interval
    excludes 0. ``eval_options``: extra ``EvalConfig`` fields (backend, threads, batch_size,
    dtype, device, stratify) passed to every eval."""

    pairs: tuple[Pair, ...]
    output: Path
    tasks: tuple[str, ...] = DEFAULT_TASKS
    methods: tuple[str, ...] = METHODS
    metrics: tuple[str, ...] = METRICS
    limit: int | None = None
    seed: int = 0
    n_bins: int = 15
    n_bootstrap: int = 1000
    ci_level: float = 0.95
    runs_dir: Path | None = None
    eval_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "output", Path(self.output))
        if self.runs_dir is not None:
            object.__setattr__(self, "runs_dir", Path(self.runs_dir))
        for name in ("tasks", "methods", "metrics"):
            value = getattr(self, name)
            if isinstance(value, str):
                value = value.split(",")
            object.__setattr__(self, name, tuple(v.strip() for v in value if v.strip()))
        _validate(self)

    @property
    def run_root(self) -> Path:
        return self.runs_dir if self.runs_dir is not None else self.output / "runs"

    def models(self) -> list[ModelSpec]:
        """Every distinct model of the pairs, in order of first appearance."""
        out: list[ModelSpec] = []
        for pair in self.pairs:
            for spec in (pair.base, pair.tuned):
                if not any(spec.same_as(m) for m in out):
                    out.append(spec)
        return out


def _validate(config: StudyConfig) -> None:
    if not config.pairs:
        raise StudyError("pairs: give at least one (base, tuned) pair")
    for i, pair in enumerate(config.pairs):
        where = f"pair {i + 1} ({pair.label})"
        pair.base.check(f"{where}, base")
        pair.tuned.check(f"{where}, tuned")
        if pair.base.same_as(pair.tuned):
            raise StudyError(f"{where}: base and tuned are the same model")
    labels = [p.label for p in config.pairs]
    if len(set(labels)) != len(labels):
        raise StudyError(f"pairs: a pair is given twice ({labels})")
    seen: dict[str, ModelSpec] = {}
    for spec in config.models():
        other = seen.setdefault(spec.label, spec)
        if not other.same_as(spec):
            raise StudyError(
                f"pairs: two different models are both labelled {spec.label!r} "
                f"({other.adapter} and {spec.adapter}); give their adapter folders other names"
            )
    _check_subset("tasks", config.tasks, None)
    _check_subset("methods", config.methods, METHODS)
    _check_subset("metrics", config.metrics, METRICS)
    if config.limit is not None and config.limit < 2:
        raise StudyError(f"limit: must be >= 2, got {config.limit}")
    if config.n_bins < 1 or config.n_bootstrap < 0:
        raise StudyError("n_bins must be >= 1 and n_bootstrap >= 0")
    if not 0 < config.ci_level < 1:
        raise StudyError(f"ci_level: must be in (0, 1), got {config.ci_level}")


def _check_subset(name: str, given: Sequence[str], known: Sequence[str] | None) -> None:
    if not given:
        raise StudyError(f"{name}: give at least one")
    if len(set(given)) != len(given):
        raise StudyError(f"{name}: a name is given twice ({', '.join(given)})")
    for value in given:
        if known is not None and value not in known:
            raise StudyError(f"{name}: unknown {value!r}; known: {', '.join(known)}")


def parse_side(text: str) -> ModelSpec:
    """``MODEL`` or ``MODEL+ADAPTER_FOLDER``."""
    model, plus, adapter = text.strip().partition("+")
    return ModelSpec(model.strip(), adapter.strip() if plus else None)


def parse_pair(text: str) -> Pair:
    """``BASE,TUNED`` (each side as ``parse_side``)."""
    parts = text.split(",")
    if len(parts) != 2 or not all(p.strip() for p in parts):
        raise StudyError(f"pair {text!r}: expected BASE,TUNED (a side may be MODEL+ADAPTER)")
    return Pair(parse_side(parts[0]), parse_side(parts[1]))


def _side_from_yaml(value: Any, where: str) -> ModelSpec:
    if isinstance(value, str):
        return parse_side(value)
    if isinstance(value, Mapping) and isinstance(value.get("model"), str):
        unknown = set(value) - {"model", "adapter"}
        if unknown:
            raise StudyError(f"{where}: unknown keys {sorted(unknown)}; known: model, adapter")
        adapter = value.get("adapter")
        return ModelSpec(value["model"], str(adapter) if adapter else None)
    raise StudyError(f"{where}: expected a model name or {{model: ..., adapter: ...}}")


def load_study_file(path: Path) -> dict[str, Any]:
    """The settings of a YAML study file as ``StudyConfig`` keyword arguments (``pairs``
    parsed; ``tasks``, ``methods``, ``metrics``, ``limit``, ``seed`` passed on)."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise StudyError(f"{path}: not valid YAML: {' '.join(str(error).split())}") from None
    if not isinstance(data, Mapping):
        raise StudyError(f"{path}: expected a mapping with a 'pairs' list")
    known = {"pairs", "tasks", "methods", "metrics", "limit", "seed"}
    unknown = set(data) - known
    if unknown:
        raise StudyError(f"{path}: unknown keys {sorted(unknown)}; known: {sorted(known)}")
    pairs = data.get("pairs") or []
    if not isinstance(pairs, list):
        raise StudyError(f"{path}: 'pairs' must be a list")
    out: dict[str, Any] = {k: v for k, v in data.items() if k != "pairs"}
    parsed = []
    for i, item in enumerate(pairs):
        where = f"{path}: pairs[{i}]"
        if not isinstance(item, Mapping) or "base" not in item or "tuned" not in item:
            raise StudyError(f"{where}: expected base and tuned")
        parsed.append(
            Pair(
                _side_from_yaml(item["base"], f"{where}.base"),
                _side_from_yaml(item["tuned"], f"{where}.tuned"),
                str(item.get("name") or ""),
            )
        )
    out["pairs"] = tuple(parsed)
    return out
