"""A backend loaded on first use, so a step whose results are all stored never loads a model."""

from __future__ import annotations

from typing import Any

from confalign.backends.base import BackendConfig


class LazyBackend:
    """``load_backend(name, config)`` on the first ``get()`` (or attribute access, so it can
    stand where a backend is expected); ``close()`` frees it and a later use loads it again."""

    def __init__(self, name: str, config: BackendConfig) -> None:
        self.name, self.config = name, config
        self._backend: Any = None

    def get(self) -> Any:
        if self._backend is None:
            from confalign.backends import load_backend

            self._backend = load_backend(self.name, self.config)
        return self._backend

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_") or attr in ("name", "config"):
            raise AttributeError(attr)
        return getattr(self.get(), attr)

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None
