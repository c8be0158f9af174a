"""``EvalConfig``: everything ``run_eval`` needs, validated when it is built (before any model
or dataset loads). ``HELP`` describes each field and is the single source of the CLI's help;
the field defaults are the CLI's defaults."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args

from confalign.backends import BackendConfig, DeviceError, backend_names, check_device
from confalign.confidence.base import Mode
from confalign.registry import unknown_name_message
from confalign.runs import canonical, stable_hash

Dtype = Literal["auto", "float32", "bfloat16", "float16"]
BackendName = Literal["hf", "llamacpp", "openai", "vllm"]
Grader = Literal["contains", "exact", "judge"]
GRADERS: tuple[str, ...] = get_args(Grader)
MODES: tuple[str, ...] = get_args(Mode)
DEFAULT_RUNS_DIR = Path("runs")


class ConfigError(ValueError):
    """An ``EvalConfig`` value is invalid; the message names the field and the known values."""


# Field help: the single source of the CLI's option help.
HELP: dict[str, str] = {
    "datasets": "Datasets: registry names (see `confalign datasets list`) or JSONL/CSV/Parquet "
    "files.",
    "model": "Model: a Hugging Face id, a local folder, 'default' (the embedded "
    "SmolLM2-135M-Instruct) or 'gemma-3-270m' (the embedded Gemma-3-270M base model).",
    "backend": "Backend that runs the model.",
    "adapter": "LoRA adapter folder (peft) applied to the model; examples it was trained on "
    "(its training_examples.json) are refused.",
    "allow_overlap": "Evaluate an adapter on examples it was trained on anyway (the run records "
    "how many).",
    "methods": "Confidence methods; default: every method that applies to each dataset's type.",
    "formats": "Verbalized confidence formats; default: the extractors' default formats.",
    "modes": "Verbalized elicitation modes (free, prefill, distribution); default: the "
    "extractors'.",
    "limit": "Evaluate a seeded sample of at most this many examples per dataset.",
    "dataset_limits": "Per-dataset limits overriding --limit, as NAME=N,NAME=N.",
    "column_map": "Local files: our field -> your column, as question=q,gold=label,"
    "choices=opa|opb|opc (see the README's file schema).",
    "seed": "Seed for sampling examples and for sampled generations.",
    "samples": "Samples per question for the consistency methods; default: the extractors'.",
    "temperature": "Sampling temperature for the consistency methods; default: the extractors'.",
    "split": "Dataset split; default: each dataset's evaluation split.",
    "stratify": "Stratify the --limit sample by subject.",
    "output": "Run directory; default: runs/<model>_<datasets>_<hash of the settings>, so the "
    "same command resumes the same run.",
    "batch_size": "Examples per batch (one database transaction each; a kill loses at most one).",
    "dtype": "Model weights' dtype.",
    "device": "Device: auto, cpu, cuda, cuda:1, ...",
    "threads": "CPU threads for the backend; default: the library's.",
    "backend_options": "Backend-specific settings (e.g. base_url); never secrets.",
    "grader": "How open answers are graded: contains (the gold or an alias as whole words, "
    "accents folded, not negated or offered among alternatives), exact (SQuAD/TriviaQA "
    "normalised exact match) or judge (an LLM with SimpleQA's rubric; needs --judge-model).",
    "judge_model": "The judge's model for --grader judge (any model a backend loads; "
    "'default' is the embedded one).",
    "judge_backend": "The judge's backend; default: --backend.",
}


@dataclass(frozen=True)
class GradingConfig:
    """How a run's answers are graded; validated when built. ``judge_options``: the judge
    backend's settings (e.g. ``base_url``); never secrets."""

    grader: Grader = "contains"
    judge_model: str | None = None
    judge_backend: BackendName = "hf"
    judge_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.grader not in GRADERS:
            raise ConfigError(unknown_name_message("grader", self.grader, GRADERS))
        if self.grader == "judge" and not self.judge_model:
            raise ConfigError("grader 'judge' needs a judge model (--judge-model)")
        if self.grader != "judge" and self.judge_model:
            raise ConfigError(f"judge_model is for grader 'judge', not {self.grader!r}")
        if self.judge_backend not in backend_names():
            raise ConfigError(unknown_name_message("backend", self.judge_backend, backend_names()))

    def describe(self) -> dict[str, Any]:
        """What the manifest and the report say of the grading."""
        if self.grader != "judge":
            return {"grader": self.grader}
        return {
            "grader": self.grader,
            "judge_model": self.judge_model,
            "judge_backend": self.judge_backend,
        }


@dataclass(frozen=True)
class EvalConfig:
    """One evaluation: which model, which data, which confidence methods, where to store.

    Lists may be given as tuples, lists or comma-separated strings; they are stored as tuples.
    ``None`` for methods/formats/modes/samples/temperature means the extractors' defaults
    (methods: every method that applies to each dataset's type). ``HELP`` documents each field.
    """

    datasets: tuple[str, ...]
    model: str = "default"
    backend: BackendName = "hf"
    adapter: str | None = None
    methods: tuple[str, ...] | None = None
    formats: tuple[str, ...] | None = None
    modes: tuple[str, ...] | None = None
    limit: int | None = None
    dataset_limits: Mapping[str, int] = field(default_factory=dict)
    column_map: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)
    seed: int = 0
    samples: int | None = None
    temperature: float | None = None
    split: str | None = None
    stratify: bool = False
    output: Path | None = None
    # The unit of commit (a SIGKILL loses at most one batch) and of extraction: 32 examples fill
    # the backend's batches; measured on 2 CPU cores, verbalized extraction is 1.6x faster per
    # example than with 8 (2.3 s against 3.6 s on MMLU, 2 formats x prefill + distribution).
    batch_size: int = 32
    dtype: Dtype = "auto"
    device: str = "auto"
    threads: int | None = None
    backend_options: Mapping[str, Any] = field(default_factory=dict)
    grader: Grader = "contains"
    judge_model: str | None = None
    judge_backend: BackendName | None = None
    allow_overlap: bool = False

    def __post_init__(self) -> None:
        for name in ("datasets", "methods", "formats", "modes"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, _as_tuple(name, value))
        if isinstance(self.column_map, str):
            from confalign.data.files import parse_column_map

            try:
                object.__setattr__(self, "column_map", parse_column_map(self.column_map))
            except ValueError as error:
                raise ConfigError(f"column_map: {error}") from None
        if isinstance(self.dataset_limits, str):
            object.__setattr__(self, "dataset_limits", _parse_limits(self.dataset_limits))
        if self.output is not None and not isinstance(self.output, Path):
            object.__setattr__(self, "output", Path(self.output))
        _validate(self)

    def limit_of(self, dataset: str) -> int | None:
        """The sample size of ``dataset``: its ``dataset_limits`` entry, else ``limit``."""
        return self.dataset_limits.get(dataset, self.limit)

    def run_dir(self) -> Path:
        """``output``, or a name derived from the settings that determine the results."""
        if self.output is not None:
            return self.output
        model = _slug(Path(self.model).name or self.model)
        data = _slug("+".join(Path(d).stem for d in self.datasets))[:40]
        return (
            DEFAULT_RUNS_DIR / f"{model}_{data}_{stable_hash(canonical(self.result_settings()), 8)}"
        )

    def result_settings(self) -> dict[str, Any]:
        """The fields that determine the results (all but output, batch size, device, threads
        and the grading, which ``confalign regrade`` can change on the stored results)."""
        skip = {"output", "batch_size", "device", "threads", "allow_overlap", *GRADING_FIELDS}
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}

    def as_dict(self) -> dict[str, Any]:
        """Every field, for the manifest (secrets are redacted when it is written)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def grading(self) -> GradingConfig:
        """The grading settings; the judge runs on ``backend`` (and its options) unless
        ``judge_backend`` names another."""
        same = self.judge_backend in (None, self.backend)
        return GradingConfig(
            grader=self.grader,
            judge_model=self.judge_model,
            judge_backend=self.backend if same else self.judge_backend,  # type: ignore[arg-type]
            judge_options=dict(self.backend_options) if same else {},
        )

    def backend_config(self) -> BackendConfig:
        """The ``BackendConfig`` for ``load_backend``."""
        return BackendConfig(
            model=self.model,
            adapter=self.adapter,
            dtype=self.dtype,
            device=self.device,
            threads=self.threads,
            seed=self.seed,
            options=dict(self.backend_options),
        )


GRADING_FIELDS = ("grader", "judge_model", "judge_backend")


def _as_tuple(name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, Iterable):
        raise ConfigError(f"{name}: expected a list of names, got {value!r}")
    return tuple(str(v).strip() for v in value if str(v).strip())


def _validate(config: EvalConfig) -> None:
    if not config.datasets:
        raise ConfigError("datasets: give at least one dataset name or file")
    duplicate = _first_duplicate(config.datasets)
    if duplicate:
        raise ConfigError(f"datasets: {duplicate!r} is given twice")
    if config.backend not in backend_names():
        raise ConfigError(unknown_name_message("backend", config.backend, backend_names()))
    _check_names("method", config.methods, _known_methods)
    _check_names("format", config.formats, _known_formats)
    _check_names("mode", config.modes, lambda: MODES)
    if config.methods == () or config.formats == () or config.modes == ():
        raise ConfigError("methods, formats and modes, when given, must name at least one")
    _check_range("limit", config.limit, 1)
    for name, value in config.dataset_limits.items():
        if name not in config.datasets:
            raise ConfigError(
                f"dataset_limits: {name!r} is not one of the datasets "
                f"({', '.join(config.datasets)})"
            )
        _check_range(f"dataset_limits[{name!r}]", value, 1)
    _check_range("samples", config.samples, 1)
    _check_range("batch_size", config.batch_size, 1)
    _check_range("threads", config.threads, 1)
    if config.temperature is not None and not config.temperature >= 0:
        raise ConfigError(f"temperature: must be >= 0, got {config.temperature}")
    if config.dtype not in get_args(Dtype):
        raise ConfigError(unknown_name_message("dtype", config.dtype, get_args(Dtype)))
    if not config.model:
        raise ConfigError("model: must not be empty (use 'default' for the embedded model)")
    adapter = Path(config.adapter) if config.adapter else None
    if adapter is not None and adapter.exists() and not (adapter / "adapter_config.json").exists():
        raise ConfigError(
            f"adapter: {config.adapter} is not a LoRA adapter folder (no adapter_config.json)"
        )
    if config.backend == "hf" and config.device != "auto":
        # Only the hf backend places the model itself (vllm, llamacpp, openai ignore --device);
        # "auto" needs no check and no torch import here.
        try:
            check_device(config.device)
        except DeviceError as error:
            raise ConfigError(str(error)) from None
    config.grading()  # raises ConfigError on a bad grader or judge


def _parse_limits(text: str) -> dict[str, int]:
    """``"a=100,b=20"`` -> ``{"a": 100, "b": 20}``."""
    limits: dict[str, int] = {}
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        name, sep, value = item.rpartition("=")
        if not sep or not name.strip() or not value.strip().isdigit():
            raise ConfigError(f"dataset_limits: expected NAME=N, got {item!r}")
        limits[name.strip()] = int(value)
    return limits


def _check_names(
    kind: str, given: tuple[str, ...] | None, known: Callable[[], Iterable[str]]
) -> None:
    """Each of ``given`` must be one of ``known()`` (asked only when something is given)."""
    if given is None:
        return
    known_names = tuple(known())
    for name in given:
        if name not in known_names:
            raise ConfigError(unknown_name_message(kind, name, known_names))
    duplicate = _first_duplicate(given)
    if duplicate:
        raise ConfigError(f"{kind}s: {duplicate!r} is given twice")


def _check_range(name: str, value: int | None, low: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{name}: must be an integer >= {low}, got {value!r}")


def _first_duplicate(values: Iterable[str]) -> str | None:
    seen: set[str] = set()
    for v in values:
        if v in seen:
            return v
        seen.add(v)
    return None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "run"


def _known_methods() -> tuple[str, ...]:
    from confalign.evaluate.catalog import method_names

    return method_names()


def _known_formats() -> tuple[str, ...]:
    from confalign.evaluate.catalog import format_names

    return format_names()
