"""The training methods: name -> module. Adding a method is a module holding a
``TrainingMethod`` called ``METHOD`` (``base``) and one line here."""

from __future__ import annotations

import importlib

from confalign.registry import unknown_name_message
from confalign.train.methods.base import TrainingMethod

_MODULES = {
    "dca": "confalign.train.methods.dca",
    "advice": "confalign.train.methods.advice",
    "conftuner": "confalign.train.methods.conftuner",
    "verbalized-sft": "confalign.train.methods.verbalized_sft",
    "dpo": "confalign.train.methods.dpo",
}


def method_names() -> list[str]:
    """The registered methods, in the order they were added."""
    return list(_MODULES)


def get_method(name: str) -> TrainingMethod:
    """The method called ``name``; an unknown name lists the known ones (``KeyError``)."""
    if name not in _MODULES:
        raise KeyError(unknown_name_message("training method", name, _MODULES))
    method: TrainingMethod = importlib.import_module(_MODULES[name]).METHOD
    return method
