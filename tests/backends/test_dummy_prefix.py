"""Continuations and candidates on a tokenizer that adds a dummy prefix (SentencePiece style).

The tokenizer is built here: a word-level vocabulary behind the normalizer of Llama-2's fast
tokenizer (prepend ``"▁"``, spaces to ``"▁"``), so ``" Paris"`` alone encodes as
``▁ ▁Paris`` while inside ``"Answer: Paris"`` it is ``▁Paris``, and the letter right after
``"Answer:"`` is ``A`` (no ``▁``). The expected token ids are written by hand from the
vocabulary and the log-probabilities read from one plain forward pass of the model, so the
reference shares nothing with the backend's tokenization or scoring.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from confalign.backends import load_backend
from confalign.backends.base import BackendConfig, Prompt, ScoreRequest
from confalign.backends.hf import HFBackend

WORDS = [
    "<unk>",
    "<s>",
    "</s>",
    "▁",
    "▁Capital",
    "▁of",
    "▁France",
    "?",
    "▁Answer",
    ":",
    "▁Paris",
    "Paris",
    "▁Lyon",
    "▁Nice",
    "A",
    "▁A",
    "B",
    "▁B",
]
VOCAB = {w: i for i, w in enumerate(WORDS)}
CONTEXT = "Capital of France? Answer:"
CONTEXT_IDS = [VOCAB[t] for t in ("<s>", "▁Capital", "▁of", "▁France", "?", "▁Answer", ":")]


@pytest.fixture(scope="module")
def prefix_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(VOCAB, unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split("▁", behavior="merged_with_next"), pre_tokenizers.Punctuation()]
    )
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", VOCAB["<s>"])]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    folder = tmp_path_factory.mktemp("dummy-prefix")
    tokenizer.save_pretrained(folder)
    config = LlamaConfig(
        vocab_size=len(WORDS),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        initializer_range=0.5,
        bos_token_id=VOCAB["<s>"],
        eos_token_id=VOCAB["</s>"],
    )
    torch.manual_seed(7)
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def _backend(folder: Path, share_prompt: bool) -> HFBackend:
    config = BackendConfig(model=str(folder), options={"share_prompt": share_prompt})
    backend = load_backend("hf", config)
    assert isinstance(backend, HFBackend) and not backend.chat
    return backend


def _reference(backend: HFBackend, ids: list[int]) -> np.ndarray:
    """log-softmax of the next token after every position of one plain forward pass."""
    with torch.inference_mode():
        logits = backend.model(torch.tensor([ids])).logits[0].double()
    return torch.log_softmax(logits, dim=-1).numpy()


def test_the_tokenizer_has_the_dummy_prefix_problem(prefix_model_dir: Path) -> None:
    backend = _backend(prefix_model_dir, True)
    alone = backend.tokenizer(" Paris", add_special_tokens=False)["input_ids"]
    assert alone == [VOCAB["▁"], VOCAB["▁Paris"]]  # what scoring it apart would count
    assert backend.tokenizer(CONTEXT)["input_ids"] == CONTEXT_IDS


@pytest.mark.parametrize("share_prompt", [True, False])
def test_continuations_are_split_from_the_joint_encoding(
    prefix_model_dir: Path, share_prompt: bool
) -> None:
    backend = _backend(prefix_model_dir, share_prompt)
    prompt = Prompt("unused", plain=CONTEXT)
    (res,) = backend.score([ScoreRequest(prompt, continuations=(" Paris", " Lyon Nice"))])
    paris, lyon_nice = res.continuation_logprobs
    ref = _reference(backend, [*CONTEXT_IDS, VOCAB["▁Lyon"], VOCAB["▁Nice"]])
    last = len(CONTEXT_IDS) - 1
    assert paris == pytest.approx([ref[last, VOCAB["▁Paris"]]], abs=1e-5)
    assert lyon_nice == pytest.approx(
        [ref[last, VOCAB["▁Lyon"]], ref[last + 1, VOCAB["▁Nice"]]], abs=1e-5
    )
    assert res.prompt_tokens == len(CONTEXT_IDS)


@pytest.mark.parametrize("share_prompt", [True, False])
def test_candidates_count_the_letter_with_and_without_the_prefix(
    prefix_model_dir: Path, share_prompt: bool
) -> None:
    backend = _backend(prefix_model_dir, share_prompt)
    (res,) = backend.score([ScoreRequest(Prompt("unused", plain=CONTEXT), candidates=("A", "B"))])
    ref = _reference(backend, CONTEXT_IDS)[-1]
    want = [np.logaddexp(ref[VOCAB[c]], ref[VOCAB["▁" + c]]) for c in "AB"]
    assert res.candidate_logprobs == pytest.approx(want, abs=1e-5)
