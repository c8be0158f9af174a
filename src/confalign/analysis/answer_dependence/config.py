"""The answer-dependence analysis' settings, validated before any model loads."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from confalign.backends import backend_names
from confalign.confidence.formats import get_format
from confalign.runs import content_hash

DEFAULT_FORMATS = ("score_letter", "score_number")  # ADVICE's two training formats


@dataclass(frozen=True)
class AnswerDependenceConfig:
    """What to analyse and where to store it.

    ``limit``: questions per dataset (seeded, subject-stratified sample) for JSD and masking;
    ``rollout_limit``/``ig_limit``: how many of those get attention rollout and integrated
    gradients (None: all of them; 0: none), a seeded unstratified draw from them (nested: a
    larger limit keeps the smaller one's questions). ``ig_steps``:
    integration steps; ``ig_batch``: steps per forward pass (memory grows with it).
    ``chunk``: questions per scoring call and per write.
    """

    datasets: tuple[str, ...]
    output: Path
    model: str = "default"
    adapter: str | None = None
    backend: str = "hf"
    formats: tuple[str, ...] = DEFAULT_FORMATS
    limit: int | None = None
    rollout_limit: int | None = None
    ig_limit: int | None = None
    ig_steps: int = 64
    ig_batch: int = 8
    seed: int = 0
    stratify: bool = True
    dtype: str = "auto"
    device: str = "auto"
    threads: int | None = None
    chunk: int = 16

    def __post_init__(self) -> None:
        if not self.datasets:
            raise ValueError("answer-dependence needs at least one dataset")
        if len(set(self.datasets)) != len(self.datasets):
            raise ValueError(f"datasets has duplicates: {self.datasets}")
        if not self.formats or len(set(self.formats)) != len(self.formats):
            raise ValueError(f"formats must be distinct and non-empty: {self.formats}")
        for f in self.formats:
            get_format(f)
        if self.backend not in backend_names():
            raise ValueError(f"unknown backend {self.backend!r}; known: {backend_names()}")
        for name in ("limit", "ig_steps", "ig_batch", "chunk"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1, not {value}")
        for name in ("rollout_limit", "ig_limit"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0, not {value}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1, not {self.threads}")

    def sub_limit(self, name: str, n_examples: int) -> int:
        """How many of ``n_examples`` get ``rollout`` or ``ig``."""
        value = getattr(self, f"{name}_limit")
        return n_examples if value is None else min(value, n_examples)

    def identity(self) -> dict[str, Any]:
        """What determines the results (the run's manifest identity); not threads, device,
        chunk or the output folder, nor the rollout and IG limits: their subsets are nested
        seeded draws, so a rerun with a larger limit adds records to the same run."""
        model_keys = ("model", "backend", "adapter", "dtype")
        skip = {"output", "threads", "device", "chunk", "rollout_limit", "ig_limit", *model_keys}
        model = {k: getattr(self, k) for k in model_keys}
        model["adapter_hash"] = content_hash(self.adapter)
        settings = {k: v for k, v in asdict(self).items() if k not in skip}
        return {"analysis": "answer_dependence", "model": model, **settings}
