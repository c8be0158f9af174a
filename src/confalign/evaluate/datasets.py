"""Load the datasets an ``EvalConfig`` names through ``confalign.data.load_benchmark``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from confalign.data.example import DataError, QAExample
from confalign.evaluate.config import EvalConfig


@dataclass(frozen=True)
class LoadedDataset:
    """``name``: as given in the config (registry name or path); ``skipped``: rows the loader
    reported and left out (e.g. MMLU's two non-question rows)."""

    name: str
    examples: tuple[QAExample, ...]
    skipped: int = 0


def load_datasets(config: EvalConfig) -> list[LoadedDataset]:
    """Every dataset of ``config``, sampled by its limit/seed/stratify; raises ``DataError`` on
    malformed rows and ``ValueError`` on an empty dataset or duplicate example ids."""
    from confalign.data import BENCHMARKS, load_benchmark

    loaded = []
    for name in config.datasets:
        result = load_benchmark(
            name,
            split=config.split,
            limit=config.limit_of(name),
            seed=config.seed,
            stratify=config.stratify,
            column_map=None if name in BENCHMARKS else config.column_map or None,
        )
        examples, skipped = _unpack(result)
        _check(name, examples)
        loaded.append(LoadedDataset(name, tuple(examples), skipped))
    return loaded


def _unpack(result: Any) -> tuple[Sequence[QAExample], int]:
    """Accept the loader's result object (``.examples``/``.skipped``) or a pair."""
    if hasattr(result, "examples"):
        examples, skipped = result.examples, getattr(result, "skipped", 0)
    elif isinstance(result, tuple) and len(result) == 2:
        examples, skipped = result
    else:
        examples, skipped = result, 0
    count = skipped if isinstance(skipped, int) else len(skipped)
    return list(examples), count


def _check(name: str, examples: Sequence[QAExample]) -> None:
    if not examples:
        raise DataError(name, None, "rows", "the dataset has no usable examples")
    seen: set[str] = set()
    for row, example in enumerate(examples):
        if example.id in seen:
            raise DataError(name, row, "id", f"duplicate example id {example.id!r}")
        seen.add(example.id)
