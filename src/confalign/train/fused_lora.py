"""LoRA's forward in one matrix product after the base layer's: ``W x + s B (A x)`` as
``addmm_`` into the base output.

peft's ``lora.Linear`` computes ``result + lora_B(lora_A(x)) * scaling``: three full-size
tensors per layer beyond the base output (``B A x``, its scaled copy, the sum), two of them
elementwise passes over the layer's whole output (a multiply by 1 at SmolLM2's r = alpha),
and a backward node for each. On a CPU step those passes and their fresh memory were about a
fifth of DCA's step (the 12-07 profile in docs/performance.md: ``aten::mul`` 19%,
``aten::add`` 10%). Here the low-rank product is added into the base output in place, with
the scaling as ``addmm_``'s ``alpha``: same function, same gradients (autograd's addmm
backward), no extra tensor. Written here because peft has no fused path for plain LoRA.

Only the plain case is fused: one active adapter, vanilla LoRA (no DoRA or other variant, no
bias on B), an ``nn.Linear`` base, one dtype throughout, no extra forward arguments and
autocast off; anything else takes peft's own forward, unchanged.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from peft.tuners.lora import Linear as LoraLinear
from torch import nn


class FusedLoraLinear(LoraLinear):
    """peft's ``lora.Linear`` (same state, same saved adapter) with the fused forward."""

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        name = self._fusable(x, args, kwargs)
        if name is None:
            return super().forward(x, *args, **kwargs)
        base, lora_a, lora_b = self.base_layer, self.lora_A[name], self.lora_B[name]
        flat = x.reshape(-1, x.shape[-1])
        out = F.linear(flat, base.weight, base.bias)
        low = lora_a(self.lora_dropout[name](flat))
        out.addmm_(low, lora_b.weight.t(), alpha=self.scaling[name])
        return out.view(*x.shape[:-1], out.shape[-1])

    def _fusable(self, x: torch.Tensor, args: tuple, kwargs: dict) -> str | None:
        """The one active adapter's name when the fused path computes exactly what peft's
        forward does; else None."""
        if args or kwargs or self.disable_adapters or self.merged:
            return None
        active = [a for a in self.active_adapters if a in self.lora_A]
        if len(active) != 1 or active[0] in self.lora_variant:
            return None
        name = active[0]
        base, lora_a, lora_b = self.base_layer, self.lora_A[name], self.lora_B[name]
        if type(base) is not nn.Linear or lora_b.bias is not None:
            return None
        if torch.is_autocast_enabled(x.device.type):
            return None
        dtypes = {x.dtype, base.weight.dtype, lora_a.weight.dtype, lora_b.weight.dtype}
        return name if len(dtypes) == 1 else None


def fuse_lora(model: nn.Module) -> int:
    """Give every plain peft ``lora.Linear`` of ``model`` the fused forward (in place; the
    modules keep their parameters and state dict). Returns how many were switched."""
    n = 0
    for module in model.modules():
        if type(module) is LoraLinear:
            module.__class__ = FusedLoraLinear
            n += 1
    return n
