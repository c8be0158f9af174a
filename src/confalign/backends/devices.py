"""Which torch device a ``--device`` value names, checked against this machine before a model
loads, so that ``cuda:9`` on a machine without it is one line naming what is there instead of
torch's error after a long load. torch is imported only to look for accelerators."""

from __future__ import annotations

import re

DEVICE_NAMES = "auto, cpu, cuda, cuda:N, mps"
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class DeviceError(ValueError):
    """A device name that is malformed or not present on this machine; the message lists the
    devices that are."""


def available_devices() -> list[str]:
    """The devices of this machine as torch names them: ``cpu``, then ``cuda:0``... for each
    CUDA device torch sees, then ``mps`` when Apple's Metal backend is usable."""
    import torch

    devices = ["cpu"]
    devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    return devices


def check_device(device: str) -> str:
    """``device`` as torch should be given it on this machine: ``auto`` becomes ``cuda`` when a
    CUDA device is present, else ``cpu``; any other name is returned as given once it is known
    to exist. Raises ``DeviceError`` naming the available devices otherwise."""
    if not _DEVICE.match(device):
        raise DeviceError(
            f"device: {device!r} is not a device name; use one of {DEVICE_NAMES} "
            f"(available here: {', '.join(available_devices())})"
        )
    if device == "cpu":
        return device
    available = available_devices()
    if device == "auto":
        return "cuda" if any(d.startswith("cuda:") for d in available) else "cpu"
    wanted = "cuda:0" if device == "cuda" else device
    if wanted not in available:
        raise DeviceError(
            f"device: {device!r} is not available on this machine{_why(device, available)}; "
            f"available: {', '.join(available)}"
        )
    return device


def _why(device: str, available: list[str]) -> str:
    if not device.startswith("cuda"):
        return ""
    import torch

    count = sum(d.startswith("cuda:") for d in available)
    if count:
        return f" (it has {count} CUDA device{'s' if count > 1 else ''})"
    if torch.version.cuda is None:
        return " (this torch is built without CUDA)"
    return " (torch sees no CUDA device)"
