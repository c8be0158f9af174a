"""The fused LoRA forward against peft's own ``lora.Linear`` forward (the reference): the same
logits and the same LoRA gradients, with dropout too; peft's path wherever fusing would
change what is computed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from peft.tuners.lora import Linear as LoraLinear

from confalign.train.core import LoraSettings, load_policy
from confalign.train.fused_lora import FusedLoraLinear, fuse_lora


def _unfuse(model: torch.nn.Module) -> None:
    for m in model.modules():
        if type(m) is FusedLoraLinear:
            m.__class__ = LoraLinear


def _logits_and_grads(model: Any, ids: torch.Tensor, seed: int) -> tuple[torch.Tensor, dict]:
    model.zero_grad()
    torch.manual_seed(seed)  # the same dropout masks in both runs
    logits = model(input_ids=ids).logits
    (logits.square().mean()).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    return logits.detach(), grads


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_fused_forward_and_gradients_equal_peft(tiny_model_dir: Path, dropout: float) -> None:
    model, _ = load_policy(
        str(tiny_model_dir), LoraSettings(r=4, alpha=8, dropout=dropout), device=torch.device("cpu")
    )
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)  # B = 0 at init would hide a wrong product
    n_fused = sum(type(m) is FusedLoraLinear for m in model.modules())
    assert n_fused == 7 * model.config.num_hidden_layers  # every projection of every layer
    model.train()
    ids = torch.randint(0, model.config.vocab_size, (2, 11))
    fused = _logits_and_grads(model, ids, seed=3)
    _unfuse(model)
    reference = _logits_and_grads(model, ids, seed=3)
    torch.testing.assert_close(fused[0], reference[0], rtol=1e-5, atol=1e-5)
    assert fused[1].keys() == reference[1].keys() and len(fused[1]) == 2 * n_fused
    for name, g in reference[1].items():
        torch.testing.assert_close(fused[1][name], g, rtol=1e-4, atol=1e-6, msg=name)
    assert fuse_lora(model) == n_fused  # the count of switched modules


def test_peft_path_where_fusing_would_differ(tiny_model_dir: Path) -> None:
    model, _ = load_policy(
        str(tiny_model_dir), LoraSettings(r=4, alpha=8, dropout=0.0), device=torch.device("cpu")
    )
    layer = next(m for m in model.modules() if type(m) is FusedLoraLinear)
    x = torch.randn(3, layer.in_features)
    assert layer._fusable(x, (), {}) == "default"
    assert layer._fusable(x.double(), (), {}) is None  # dtypes differ: peft casts
    assert layer._fusable(x, (), {"adapter_names": ["default"] * 3}) is None
    with model.disable_adapter():
        assert layer._fusable(x, (), {}) is None
        torch.testing.assert_close(layer(x), layer.base_layer(x))
