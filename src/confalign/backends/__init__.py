"""Model backends: one protocol (``base.Backend``), implementations registered by name."""

from __future__ import annotations

import importlib

from confalign.backends.base import (
    Backend,
    BackendConfig,
    CapabilityError,
    ChainRequest,
    ChainResult,
    GenerateRequest,
    Generation,
    Prompt,
    ScoreRequest,
    ScoreResult,
)
from confalign.backends.devices import DeviceError, available_devices, check_device
from confalign.registry import Registry, unknown_name_message

BACKENDS: Registry[type[Backend]] = Registry("backend")
register_backend = BACKENDS.register

# Modules are imported on first use so that optional extras (vllm, openai, llama-cpp) are
# only needed by the backend that uses them.
_MODULES = {
    "hf": "confalign.backends.hf",
    "llamacpp": "confalign.backends.llamacpp",
    "openai": "confalign.backends.openai",
    "vllm": "confalign.backends.vllm",
}


def backend_names() -> list[str]:
    return sorted(_MODULES)


def load_backend(name: str, config: BackendConfig | None = None) -> Backend:
    """Load the backend called ``name`` (``hf``, ``llamacpp``, ``openai``, ``vllm``)."""
    if name not in _MODULES:
        raise KeyError(unknown_name_message("backend", name, _MODULES))
    importlib.import_module(_MODULES[name])
    return BACKENDS.get(name)(config or BackendConfig())


__all__ = [
    "BACKENDS",
    "Backend",
    "BackendConfig",
    "CapabilityError",
    "ChainRequest",
    "ChainResult",
    "DeviceError",
    "GenerateRequest",
    "Generation",
    "Prompt",
    "ScoreRequest",
    "ScoreResult",
    "available_devices",
    "backend_names",
    "check_device",
    "load_backend",
    "register_backend",
]
