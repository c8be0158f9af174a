"""What produced a run's results, as the manifest's ``identity`` and per-extractor config keys.

The identity holds the model (id or path, adapter path and content hash, dtype), the backend and
its options (secrets redacted), each dataset (name, split, limit, seed, stratify, size, skipped
rows, a hash of its examples), the requested methods/formats/modes/samples/temperature/seed,
and each extractor (name, method keys, settings, prompt templates). A resumed run must present
the same identity. Batch size, device, threads and the output folder are not part of it.

Each extractor's ``config_key`` (stored on every row it produces) hashes the model section, the
backend options, the seed and that extractor's own description, so a row says exactly what made
it (STYLE.md item 10).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from confalign.confidence.base import Extractor
from confalign.data.example import QAExample
from confalign.evaluate.catalog import extractor_prompts, format_names
from confalign.evaluate.config import EvalConfig
from confalign.evaluate.datasets import LoadedDataset
from confalign.runs import canonical, content_hash, stable_hash


def build_identity(
    config: EvalConfig,
    datasets: Sequence[LoadedDataset],
    plan: Mapping[str, Sequence[Extractor]],
) -> dict[str, Any]:
    """The manifest identity for ``config`` over the loaded ``datasets`` and their extractors."""
    extractors: dict[str, Extractor] = {}
    for chosen in plan.values():
        for e in chosen:
            extractors.setdefault(extractor_id(e), e)
    formats = sorted({f for e in extractors.values() for f in _formats_of(e)})
    return canonical(
        {
            "model": {
                "model": config.model,
                "backend": config.backend,
                "adapter": config.adapter,
                "adapter_hash": content_hash(config.adapter),
                "dtype": config.dtype,
            },
            "backend_options": dict(config.backend_options),
            "seed": config.seed,
            "requested": {
                "methods": config.methods,
                "formats": config.formats,
                "modes": config.modes,
                "samples": config.samples,
                "temperature": config.temperature,
            },
            "datasets": [_dataset_identity(config, ds, plan[ds.name]) for ds in datasets],
            "extractors": [describe_extractor(e) for e in extractors.values()],
            "prompts": extractor_prompts(formats),
        }
    )


def config_keys(identity: Mapping[str, Any]) -> dict[str, str]:
    """``{extractor name: config key}`` for the extractors of ``identity``."""
    common = {k: identity[k] for k in ("model", "backend_options", "seed")}
    return {
        e["name"]: stable_hash({**common, "extractor": e, "prompts": identity["prompts"]})
        for e in identity["extractors"]
    }


def describe_extractor(extractor: Extractor) -> dict[str, Any]:
    """Name, class, method keys, settings (its dataclass attributes) and, where the extractor
    has a ``describe()`` method, what it says of itself (prompts...)."""
    cls = type(extractor)
    settings = {
        name: dataclasses.asdict(value)
        for name, value in vars(extractor).items()
        if dataclasses.is_dataclass(value) and not isinstance(value, type)
    }
    described = extractor.describe() if callable(getattr(extractor, "describe", None)) else {}
    return {
        "name": extractor_id(extractor),
        "class": f"{cls.__module__}.{cls.__qualname__}",
        "kind": getattr(extractor, "kind", ""),
        "applies_to": getattr(extractor, "applies_to", "both"),
        "method_keys": list(extractor.method_keys()),
        "settings": settings,
        "described": described,
    }


def _dataset_identity(
    config: EvalConfig, ds: LoadedDataset, extractors: Sequence[Extractor]
) -> dict[str, Any]:
    return {
        "name": ds.name,
        "split": config.split,
        "limit": config.limit_of(ds.name),
        "seed": config.seed,
        "stratify": config.stratify,
        "size": len(ds.examples),
        "skipped": ds.skipped,
        "multiple_choice": sum(x.is_multiple_choice for x in ds.examples),
        "examples_hash": examples_hash(ds.examples),
        "extractors": [extractor_id(e) for e in extractors],
    }


def examples_hash(examples: Sequence[QAExample]) -> str:
    """What a run's identity knows its examples by (ids, questions, options, gold, aliases)."""
    return stable_hash([(x.id, x.question, x.choices, x.gold, x.aliases) for x in examples])


def extractor_id(extractor: Extractor) -> str:
    """How a run names an extractor: ``name`` when it yields the one method key ``name``,
    else ``name:key1+key2`` (method keys are unique across a run's extractors)."""
    name = extractor.name or type(extractor).__name__
    keys = list(extractor.method_keys())
    return name if keys == [name] else f"{name}:{'+'.join(keys)}"


def _formats_of(extractor: Extractor) -> list[str]:
    """Verbalized format names in the extractor's method keys (``verbalized/<format>/<mode>``)."""
    known = set(format_names())
    parts = (k.split("/") for k in extractor.method_keys())
    return [p[1] for p in parts if len(p) == 3 and p[1] in known]
