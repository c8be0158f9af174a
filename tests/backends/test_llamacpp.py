"""The ``llamacpp`` backend: protocol, prompt sharing, generation, agreement with ``hf``.

Agreement with ``hf`` (measured on 20 MMLU questions, 80 option continuations and 80 letter
candidates, chat template, this machine):

- the embedded Q4_1 file: llama.cpp's Q4_1 kernels quantise activations to 8 bits and keep
  the KV cache in float16, so per-token log-probabilities differ from the dequantised float32
  torch model by 0.03-0.06 nats on average; see ``Q4_TOLERANCE``;
- the same weights dequantised to a float32 GGUF with a float32 KV cache: the two runtimes
  agree to ``F32_TOLERANCE``, which checks prompts, tokenisation, trailing-space handling,
  prompt sharing and candidate sums exactly.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from llamacpp_probe import require_llama_cpp

from confalign.backends import BackendConfig, GenerateRequest, Prompt, ScoreRequest, load_backend
from confalign.backends.base import CapabilityError

# Max abs difference of option log-likelihoods (sums) and letter log-masses vs hf.
F32_TOLERANCE = 1e-3  # measured: sums max 2.2e-4 (mean 6.4e-5), letters max 3.5e-5
Q4_TOLERANCE = 1.5  # measured: sums max 0.74 (mean 0.21), letters max 0.33: quantisation

PROMPTS = [
    Prompt("What is the capital of France?"),
    Prompt("What is the capital of France?", assistant_prefix="Answer: "),
    Prompt("2+2=?", system="Answer with one number.", assistant_prefix="The answer is"),
    Prompt("Ünïcödé: naïve café — 東京?", assistant_prefix="Answer:\t"),
]
CONTINUATIONS = ("Paris", " Paris", "the city of Lyon", "4", "")
REQUESTS = [
    ScoreRequest(p, continuations=CONTINUATIONS, candidates=("A", "B", "4")) for p in PROMPTS
]


@pytest.fixture(scope="module")
def reference_backend(default_gguf: Path) -> Any:
    require_llama_cpp()
    backend = load_backend(
        "llamacpp", BackendConfig(model=str(default_gguf), options={"reuse_prompt": False})
    )
    yield backend
    backend.close()


def test_options_are_checked_before_loading() -> None:
    with pytest.raises(ValueError, match="unknown llamacpp options"):
        load_backend("llamacpp", BackendConfig(model="x.gguf", options={"n_cxt": 8}))
    with pytest.raises(ValueError, match="n_batch"):
        load_backend("llamacpp", BackendConfig(model="x.gguf", options={"n_batch": 1}))


def test_missing_package_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(ImportError, match=r"confalign\[llamacpp\]"):
        load_backend("llamacpp", BackendConfig(model="default"))


def test_missing_file(tmp_path: Path) -> None:
    require_llama_cpp()
    with pytest.raises(FileNotFoundError, match="no GGUF file"):
        load_backend("llamacpp", BackendConfig(model=str(tmp_path / "none.gguf")))


def test_capabilities_and_describe(llamacpp_backend: Any) -> None:
    assert llamacpp_backend.capabilities == {
        "score", "candidates", "generate", "prefill", "chat", "top_logprobs"
    }  # fmt: skip
    info = llamacpp_backend.describe()
    assert info["backend"] == "llamacpp" and info["chat"] is True
    assert info["model_path"].endswith(".gguf")


def test_render_and_tokens_equal_transformers(
    llamacpp_backend: Any, default_model_dir: Path
) -> None:
    """Same text from the GGUF's template as from transformers, and the same token ids."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(default_model_dir)
    for p in PROMPTS:
        messages = ([{"role": "system", "content": p.system}] if p.system else []) + [
            {"role": "user", "content": p.user}
        ]
        text = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        assert llamacpp_backend.render(p) == text + p.assistant_prefix
        rendered = llamacpp_backend.render(p)
        assert (
            llamacpp_backend.encode(rendered)
            == tok(rendered, add_special_tokens=False)["input_ids"]
        )
    for c in ("Paris", " Paris", "the city of Lyon", "\n\n  x", "naïve 東京 🙂"):
        assert llamacpp_backend.encode(c) == tok(c, add_special_tokens=False)["input_ids"]


def test_plain_prompts_without_chat(default_gguf: Path) -> None:
    require_llama_cpp()
    backend = load_backend("llamacpp", BackendConfig(model=str(default_gguf), chat=False))
    try:
        p = Prompt("Question?", system="Sys.", assistant_prefix=" A:")
        # a base-model prompt: the assistant prefix on a line of its own, as lm-eval lays it out
        assert backend.render(p) == "Sys.\n\nQuestion?\n A:"
        assert "chat" not in backend.capabilities
        (res,) = backend.score([ScoreRequest(p, continuations=(" yes",))])
        assert res.continuation_logprobs[0].shape == (1,)
    finally:
        backend.close()


def test_prompt_sharing_equals_reference(llamacpp_backend: Any, reference_backend: Any) -> None:
    """Reusing the cached prompt (and prefixes across requests) gives exactly what one fresh
    pass over each prompt + continuation gives."""
    shared = llamacpp_backend.score(REQUESTS)
    fresh = reference_backend.score(REQUESTS)
    again = llamacpp_backend.score(REQUESTS[::-1])[::-1]  # other cache states
    for a, b, c in zip(shared, fresh, again, strict=True):
        assert a.prompt_tokens == b.prompt_tokens
        for x, y, z in zip(
            a.continuation_logprobs, b.continuation_logprobs, c.continuation_logprobs, strict=True
        ):
            np.testing.assert_array_equal(x, y)
            np.testing.assert_array_equal(x, z)
        np.testing.assert_array_equal(a.candidate_logprobs, b.candidate_logprobs)
        np.testing.assert_array_equal(a.candidate_logprobs, c.candidate_logprobs)


def test_score_shapes_and_candidate_sums(llamacpp_backend: Any) -> None:
    p = Prompt("Pick a letter.", assistant_prefix="Letter:")
    (res,) = llamacpp_backend.score(
        [ScoreRequest(p, continuations=("A", " A", "", "Paris is big"), candidates=("A",))]
    )
    a, space_a, empty, long = res.continuation_logprobs
    assert a.shape == space_a.shape == (1,) and empty.shape == (0,) and long.shape == (3,)
    assert np.all(long <= 0) and np.all(np.isfinite(long))
    # The candidate "A" is the summed mass of the tokens "A" and " A" at the same position.
    np.testing.assert_allclose(res.candidate_logprobs[0], np.logaddexp(a[0], space_a[0]), atol=1e-9)
    assert res.prompt_tokens == len(llamacpp_backend.encode(llamacpp_backend.render(p)))
    logps = llamacpp_backend.next_token_logprobs([p], ["A"])
    np.testing.assert_array_equal(logps[0], res.candidate_logprobs)


def test_candidate_must_be_one_token(llamacpp_backend: Any) -> None:
    with pytest.raises(ValueError, match="not a single token"):
        llamacpp_backend.score([ScoreRequest(Prompt("x"), candidates=("antidisestablishment",))])


def test_context_overflow_is_an_error(default_gguf: Path) -> None:
    require_llama_cpp()
    backend = load_backend(
        "llamacpp", BackendConfig(model=str(default_gguf), options={"n_ctx": 64})
    )
    try:
        with pytest.raises(ValueError, match="do not fit the context"):
            backend.score([ScoreRequest(Prompt("word " * 80), continuations=("x",))])
    finally:
        backend.close()


def test_generate_greedy(llamacpp_backend: Any) -> None:
    request = GenerateRequest(Prompt("What is 2+2?"), max_new_tokens=12, n=3, top_logprobs=4)
    (gens,) = llamacpp_backend.generate([request])
    assert len(gens) == 3 and gens[0].text == gens[1].text == gens[2].text
    g = gens[0]
    assert len(g.tokens) == len(g.token_logprobs) == len(g.top_logprobs) > 0
    assert "".join(g.tokens) == g.text
    for chosen, top in zip(g.token_logprobs, g.top_logprobs, strict=True):
        assert len(top) <= 4 and list(top.values()) == sorted(top.values(), reverse=True)
        assert chosen == pytest.approx(max(top.values()))  # greedy takes the best token
    # The first generated token's log-probability is the one scoring reads at that position.
    (res,) = llamacpp_backend.score([ScoreRequest(request.prompt, continuations=(g.tokens[0],))])
    assert res.continuation_logprobs[0][0] == pytest.approx(g.token_logprobs[0], abs=1e-9)


def test_generate_stop_and_length(llamacpp_backend: Any) -> None:
    p = Prompt("Write one sentence about the sea.")
    (free,) = llamacpp_backend.generate([GenerateRequest(p, max_new_tokens=8)])
    assert free[0].finish_reason == "length" and len(free[0].tokens) == 8
    stop = free[0].tokens[4].strip() or free[0].tokens[4]  # a string the output contains
    (cut,) = llamacpp_backend.generate([GenerateRequest(p, max_new_tokens=8, stop=(stop,))])
    assert cut[0].text == free[0].text[: free[0].text.find(stop)]
    assert cut[0].finish_reason == "stop"
    assert "".join(cut[0].tokens).startswith(cut[0].text)
    assert len(cut[0].tokens) == len(cut[0].token_logprobs) <= 5


def test_generate_seeded_sampling_is_repeatable(llamacpp_backend: Any) -> None:
    request = GenerateRequest(
        Prompt("Tell a story."), max_new_tokens=10, temperature=1.0, n=3, seed=7
    )
    first = llamacpp_backend.generate([request])[0]
    llamacpp_backend.score(REQUESTS[:1])  # another cache state in between
    second = llamacpp_backend.generate([request])[0]
    assert [g.text for g in first] == [g.text for g in second]
    assert len({g.text for g in first}) > 1  # the n samples differ from each other
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a.token_logprobs, b.token_logprobs)


def test_generate_checks_requests(llamacpp_backend: Any) -> None:
    with pytest.raises(ValueError):
        llamacpp_backend.generate([GenerateRequest(Prompt("x"), max_new_tokens=0)])
    with pytest.raises(ValueError):
        llamacpp_backend.generate([GenerateRequest(Prompt("x"), top_p=0.0, temperature=1.0)])


def test_require_reports_the_backend(llamacpp_backend: Any) -> None:
    llamacpp_backend.require("prefill", "prefill mode")
    with pytest.raises(CapabilityError, match="llamacpp"):
        llamacpp_backend.require("nonexistent", "x")  # type: ignore[arg-type]


# -- agreement with hf (slow: the real model twice) ------------------------------------------


def _max_differences(results: list[Any], reference: list[Any]) -> tuple[float, float, float]:
    """(max |sum difference| over options, mean of it, max |difference| over letters)."""
    sums, letters = [], []
    for a, b in zip(results, reference, strict=True):
        for x, y in zip(a.continuation_logprobs, b.continuation_logprobs, strict=True):
            assert x.shape == y.shape  # the same tokenisation
            sums.append(abs(x.sum() - y.sum()))
        letters.extend(np.abs(a.candidate_logprobs - b.candidate_logprobs))
    return float(np.max(sums)), float(np.mean(sums)), float(np.max(letters))


@pytest.mark.slow
def test_f32_gguf_agrees_with_hf(
    f32_gguf: Path, default_backend: Any, mmlu_requests: list[Any]
) -> None:
    require_llama_cpp()
    config = BackendConfig(
        model=str(f32_gguf), options={"llama_kwargs": {"type_k": 0, "type_v": 0}}
    )
    backend = load_backend("llamacpp", config)
    try:
        ours = backend.score(mmlu_requests)
    finally:
        backend.close()
    reference = default_backend.score(mmlu_requests)
    max_sum, mean_sum, max_letter = _max_differences(ours, reference)
    print(
        f"f32 gguf vs hf: options max {max_sum:.2e} mean {mean_sum:.2e}; letters {max_letter:.2e}"
    )
    assert max_sum < F32_TOLERANCE and max_letter < F32_TOLERANCE


@pytest.mark.slow
def test_q4_gguf_is_close_to_hf(
    llamacpp_backend: Any, default_backend: Any, mmlu_requests: list[Any]
) -> None:
    ours = llamacpp_backend.score(mmlu_requests)
    reference = default_backend.score(mmlu_requests)
    max_sum, mean_sum, max_letter = _max_differences(ours, reference)
    print(
        f"q4_1 gguf vs hf: options max {max_sum:.3f} mean {mean_sum:.3f}; letters {max_letter:.3f}"
    )
    assert max_sum < Q4_TOLERANCE and max_letter < Q4_TOLERANCE
