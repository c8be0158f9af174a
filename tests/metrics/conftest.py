"""Shared fixtures of the metric tests."""

from __future__ import annotations

import importlib
import sys

import pytest


@pytest.fixture
def no_relplot(monkeypatch: pytest.MonkeyPatch) -> None:
    """``relplot`` as if it were not installed (``importlib.import_module`` refuses it)."""
    real = importlib.import_module

    def refuse(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("relplot"):
            raise ImportError("No module named 'relplot'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", refuse)
    monkeypatch.delitem(sys.modules, "relplot", raising=False)
