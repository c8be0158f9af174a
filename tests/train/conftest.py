"""Fixtures for the training tests: a tiny random Llama with the real SmolLM2 tokenizer (from
``tests/conftest.py``'s ``tiny_model_dir``) wrapped in a LoRA adapter, and hand-made pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from train_helpers import PAIRS, render

from confalign.train.core import LoraSettings, load_policy


@pytest.fixture
def policy(tiny_model_dir: Path) -> tuple[Any, Any]:
    """(peft model with a random, non-zero LoRA adapter, tokenizer), float32, CPU.

    ``init_lora_weights=False`` would give B != 0; we perturb B instead so the adapter moves
    the policy away from the reference (otherwise every log-ratio is 0)."""
    torch.manual_seed(0)
    model, tokenizer = load_policy(
        str(tiny_model_dir), LoraSettings(r=4, alpha=8, dropout=0.0), device=torch.device("cpu")
    )
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    return model, tokenizer


@pytest.fixture
def pair_rows(policy: tuple[Any, Any]) -> list[dict[str, str]]:
    _, tokenizer = policy
    return [{"prompt": render(tokenizer, u), "chosen": c, "rejected": r} for u, c, r in PAIRS]
