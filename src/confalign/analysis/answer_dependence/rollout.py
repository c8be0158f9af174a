"""Attention rollout (Abnar & Zuidema 2020) from the confidence position to the prompt.

Per layer the attention is averaged over heads, the residual stream is accounted for by mixing
in the identity, ``0.5 * A + 0.5 * I``, and rows are renormalised; the layers are multiplied
from the first to the last, ``R = Ã_L ... Ã_1``. Row ``i`` of ``R`` is how much of position
``i``'s last-layer state flows from each input token, and sums to 1. Written by hand: the
maintained attribution libraries (captum, inseq) offer no rollout for causal LMs.

Attention weights need eager attention (sdpa returns none): ``eager_attention`` switches the
model for the duration of the analysis only and restores its implementation afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch


def attention_rollout(attentions: Sequence[np.ndarray]) -> np.ndarray:
    """The rollout matrix ``R`` (seq, seq) of per-layer attentions, each (heads, seq, seq)
    with rows summing to 1, first layer first."""
    if not attentions:
        raise ValueError("attention_rollout needs at least one layer")
    n = attentions[0].shape[-1]
    eye = np.eye(n)
    rollout = eye
    for layer in attentions:
        mixed = 0.5 * np.asarray(layer, dtype=np.float64).mean(axis=0) + 0.5 * eye
        mixed /= mixed.sum(axis=-1, keepdims=True)
        rollout = mixed @ rollout
    return rollout


@contextmanager
def eager_attention(model: Any) -> Iterator[None]:
    """Run ``model`` with eager attention inside the block, its own implementation after."""
    before = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        yield
    finally:
        model.set_attn_implementation(before)


@torch.inference_mode()
def rollout_row(model: Any, ids: Sequence[int]) -> np.ndarray:
    """Rollout from the last position of ``ids`` (the confidence position) to every token,
    shape (seq,), summing to 1."""
    tensor = torch.as_tensor([list(ids)], device=next(model.parameters()).device)
    with eager_attention(model):
        out = model(input_ids=tensor, output_attentions=True, logits_to_keep=1)
    # Only the last row is needed: e_last · Ã_L · ... · Ã_1, O(L n^2) instead of O(L n^3).
    row = np.zeros(len(ids))
    row[-1] = 1.0
    for layer in reversed(out.attentions):
        mixed = 0.5 * layer[0].double().mean(dim=0).cpu().numpy() + 0.5 * np.eye(len(ids))
        mixed /= mixed.sum(axis=-1, keepdims=True)
        row = row @ mixed
    return row
