"""A trained adapter as a product: the base model it names, and the examples it was trained on.

``training/`` writes into the adapter folder, beside peft's files, ``training_examples.json``
(the training dataset, split and example ids); ``confalign eval --adapter`` reads it and
refuses to evaluate on examples the adapter was trained on (``AdapterOverlapError``, naming
the count) unless ``--allow-overlap``, which runs anyway and records the overlap in the run.
``adapter_config.json`` names the base model by its Hub id (an embedded model's real id, not
the local conversion folder), so the adapter loads on another machine.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

TRAINING_EXAMPLES = "training_examples.json"


class AdapterOverlapError(ValueError):
    """An evaluation would score an adapter on examples it was trained on."""


def training_examples_text(dataset: str, split: str | None, ids: Sequence[str]) -> str:
    """The contents of ``training_examples.json``."""
    record = {"dataset": dataset, "split": split, "ids": list(ids)}
    return json.dumps(record, indent=1) + "\n"


def read_training_examples(folder: Path | str) -> dict[str, Any] | None:
    """The adapter's ``training_examples.json`` (None: an adapter without one)."""
    path = Path(folder) / TRAINING_EXAMPLES
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        return {"dataset": str(data["dataset"]), "ids": set(map(str, data["ids"]))}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise AdapterOverlapError(f"{path}: unreadable ({error})") from None


def overlap_counts(folder: Path | str, examples: Mapping[str, Sequence[Any]]) -> dict[str, int]:
    """Per dataset of ``examples`` (name -> ``QAExample``s), how many the adapter in
    ``folder`` was trained on (datasets with none left out)."""
    trained = read_training_examples(folder)
    if trained is None:
        return {}
    out = {}
    for name, exs in examples.items():
        if name == trained["dataset"]:
            n = sum(1 for ex in exs if ex.id in trained["ids"])
            if n:
                out[name] = n
    return out


def check_overlap(
    folder: Path | str, examples: Mapping[str, Sequence[Any]], *, allow: bool
) -> dict[str, int]:
    """``overlap_counts``; unless ``allow``, a non-empty one raises ``AdapterOverlapError``."""
    counts = overlap_counts(folder, examples)
    if counts and not allow:
        name, n = next(iter(counts.items()))
        raise AdapterOverlapError(
            f"the adapter {folder} was trained on {n} of the {len(examples[name])} {name} "
            "examples to evaluate; choose others (--seed, --split) or pass --allow-overlap"
        )
    return counts


def name_base_model(folder: Path | str, model: str) -> None:
    """Set ``adapter_config.json``'s ``base_model_name_or_path`` to ``model``'s Hub id."""
    from confalign.backends.default_model import hub_id

    path = Path(folder) / "adapter_config.json"
    config = json.loads(path.read_text())
    config["base_model_name_or_path"] = hub_id(model)
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
