"""``--device`` is checked against this machine before a model loads: a device that is not
there is one line naming the ones that are. The machine is set by patching torch's counts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from confalign.backends import DeviceError, available_devices, check_device
from confalign.backends.base import BackendConfig
from confalign.evaluate import ConfigError, EvalConfig


def machine(monkeypatch: pytest.MonkeyPatch, cuda: int, mps: bool = False) -> None:
    monkeypatch.setattr(torch.cuda, "device_count", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


def test_available_devices_in_torch_names(monkeypatch: pytest.MonkeyPatch) -> None:
    machine(monkeypatch, cuda=2)
    assert available_devices() == ["cpu", "cuda:0", "cuda:1"]
    machine(monkeypatch, cuda=0, mps=True)
    assert available_devices() == ["cpu", "mps"]


def test_present_devices_pass_and_auto_resolves(monkeypatch: pytest.MonkeyPatch) -> None:
    machine(monkeypatch, cuda=2)
    assert [check_device(d) for d in ("cpu", "cuda", "cuda:0", "cuda:1")] == [
        "cpu",
        "cuda",
        "cuda:0",
        "cuda:1",
    ]
    assert check_device("auto") == "cuda"
    machine(monkeypatch, cuda=0)
    assert check_device("auto") == "cpu" and check_device("cpu") == "cpu"


def test_absent_cuda_device_names_what_is_there(monkeypatch: pytest.MonkeyPatch) -> None:
    machine(monkeypatch, cuda=2)
    with pytest.raises(DeviceError) as info:
        check_device("cuda:2")
    assert str(info.value) == (
        "device: 'cuda:2' is not available on this machine (it has 2 CUDA devices); "
        "available: cpu, cuda:0, cuda:1"
    )
    machine(monkeypatch, cuda=0)
    for device in ("cuda", "cuda:9"):
        with pytest.raises(DeviceError, match=rf"'{device}' is not available .*; available: cpu$"):
            check_device(device)
    with pytest.raises(DeviceError, match="'mps' is not available on this machine; available: cpu"):
        check_device("mps")


def test_malformed_device_lists_the_names(monkeypatch: pytest.MonkeyPatch) -> None:
    machine(monkeypatch, cuda=1)
    with pytest.raises(DeviceError) as info:
        check_device("gpu0")
    assert str(info.value) == (
        "device: 'gpu0' is not a device name; use one of auto, cpu, cuda, cuda:N, mps "
        "(available here: cpu, cuda:0)"
    )


def test_eval_config_refuses_an_absent_device_before_anything_loads(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    machine(monkeypatch, cuda=0)
    with pytest.raises(ConfigError, match=r"device: 'cuda:9' is not available.*available: cpu"):
        EvalConfig(datasets=("toy",), device="cuda:9", output=tmp_path / "run")
    assert not (tmp_path / "run").exists()
    # backends that do not place the model themselves ignore --device, as before
    assert EvalConfig(datasets=("toy",), backend="openai", device="cuda:9").device == "cuda:9"
    assert EvalConfig(datasets=("toy",), device="cpu").device == "cpu"


def test_hf_backend_checks_the_device_before_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    """A library user who builds a ``BackendConfig`` directly gets the same line."""
    import confalign.backends.hf as hf

    machine(monkeypatch, cuda=0)
    loaded: list[str] = []
    monkeypatch.setattr(hf, "_load_tokenizer", lambda *a: loaded.append("tokenizer"))
    monkeypatch.setattr(hf, "resolve_model", lambda model: model)
    with pytest.raises(DeviceError, match="available: cpu"):
        hf.HFBackend(BackendConfig(model="some/model", device="cuda:1"))
    assert loaded == []
