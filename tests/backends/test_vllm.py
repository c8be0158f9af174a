"""The ``vllm`` backend.

vLLM needs a CUDA GPU and is not installed on CPU machines, so the backend runs here against a
stand-in ``vllm`` module: ``LLM.generate`` answers with output objects built as dataclasses of
vLLM's documented shapes (``RequestOutput``, ``CompletionOutput``, ``Logprob``) from a toy
next-token distribution, and the real SmolLM2 tokenizer. That checks the requests the backend
builds and its mapping of the outputs. The last test runs the real vLLM and skips without it.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from confalign.backends import BackendConfig, GenerateRequest, Prompt, ScoreRequest, load_backend
from confalign.backends.vllm import (
    VLLMOptions,
    continuation_logprobs,
    to_generation,
    top_candidates,
)

VOCAB = 49152


@dataclass
class Logprob:
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


@dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: list[int]
    cumulative_logprob: float | None
    logprobs: list[dict[int, Logprob]] | None
    finish_reason: str | None = None


@dataclass
class RequestOutput:
    request_id: str
    prompt: str | None
    prompt_token_ids: list[int]
    prompt_logprobs: list[dict[int, Logprob] | None] | None
    outputs: list[CompletionOutput]
    finished: bool = True


@dataclass
class SamplingParams:
    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: list[str] | None = None
    max_tokens: int | None = 16
    logprobs: int | None = None
    prompt_logprobs: int | None = None


def toy_logprobs(prefix: Sequence[int]) -> np.ndarray:
    """A deterministic next-token distribution over the vocabulary, given the prefix."""
    v = np.arange(VOCAB, dtype=np.int64)
    logits = -(((v * 31 + len(prefix) * 17 + int(prefix[-1]) * 7) % 101) / 8.0)
    logits[[28, 41, 338]] += 14.0 + (len(prefix) % 3)  # a few likely tokens ("A"?, ..)
    return logits - np.logaddexp.reduce(logits)


@dataclass
class FakeLLM:
    """``vllm.LLM`` as documented, over ``toy_logprobs``; records what it was given."""

    kwargs: dict[str, Any]
    tokenizer: Any = None
    calls: list[tuple[list[dict[str, Any]], list[SamplingParams], Any]] = field(
        default_factory=list
    )

    def get_tokenizer(self) -> Any:
        return self.tokenizer

    def generate(
        self,
        prompts: list[dict[str, Any]],
        sampling_params: Any,
        lora_request: Any = None,
        use_tqdm: bool = True,
    ) -> list[RequestOutput]:
        self.calls.append((prompts, sampling_params, lora_request))
        return [
            self._one(p["prompt_token_ids"], s)
            for p, s in zip(prompts, sampling_params, strict=True)
        ]

    def _entry(self, dist: np.ndarray, token: int) -> Logprob:
        rank = int((dist > dist[token]).sum()) + 1
        return Logprob(float(dist[token]), rank, self.tokenizer.decode([token]))

    def _row(self, dist: np.ndarray, token: int, k: int) -> dict[int, Logprob]:
        row = {int(t): self._entry(dist, int(t)) for t in np.argsort(-dist, kind="stable")[:k]}
        row[token] = self._entry(dist, token)
        return row

    def _one(self, ids: list[int], s: SamplingParams) -> RequestOutput:
        prompt_lps = None
        if s.prompt_logprobs is not None:
            prompt_lps = [None] + [
                self._row(toy_logprobs(ids[:i]), ids[i], s.prompt_logprobs)
                for i in range(1, len(ids))
            ]
        rng = np.random.default_rng(s.seed)
        outputs = []
        for index in range(s.n):
            out, rows = [], []
            for _ in range(s.max_tokens or 16):
                dist = toy_logprobs(ids + out)
                token = (
                    int(np.argmax(dist))
                    if s.temperature == 0
                    else int(rng.choice(VOCAB, p=np.exp(dist)))
                )
                out.append(token)
                rows.append(self._row(dist, token, s.logprobs or 0))
            text, reason = self.tokenizer.decode(out, skip_special_tokens=True), "length"
            cut = min((i for i in (text.find(x) for x in s.stop or ()) if i >= 0), default=-1)
            if cut >= 0:
                text, reason = text[:cut], "stop"
            outputs.append(
                CompletionOutput(
                    index, text, out, None, rows if s.logprobs is not None else None, reason
                )
            )
        return RequestOutput("0", None, ids, prompt_lps, outputs)


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch, default_model_dir: Path) -> types.ModuleType:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(default_model_dir)
    module = types.ModuleType("vllm")
    module.SamplingParams = SamplingParams  # type: ignore[attr-defined]
    module.LLM = lambda **kwargs: FakeLLM(kwargs, tokenizer)  # type: ignore[attr-defined]
    lora = types.ModuleType("vllm.lora.request")
    lora.LoRARequest = lambda name, index, path: ("lora", name, index, path)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setitem(sys.modules, "vllm.lora", types.ModuleType("vllm.lora"))
    monkeypatch.setitem(sys.modules, "vllm.lora.request", lora)
    return module


@pytest.fixture
def backend(fake_vllm: types.ModuleType, default_model_dir: Path) -> Any:
    config = BackendConfig(
        model=str(default_model_dir),
        adapter="/adapters/a",
        options={"top_logprobs": 5, "tensor_parallel_size": 2},
    )
    return load_backend("vllm", config)


def test_llm_arguments(backend: Any) -> None:
    args = backend.llm.kwargs
    assert args["tensor_parallel_size"] == 2 and args["enable_lora"] is True
    assert args["max_logprobs"] == 20 and "distributed_executor_backend" not in args
    extra = VLLMOptions(
        distributed_executor_backend="ray", llm_kwargs={"logprobs_mode": "raw_logprobs"}
    )
    built = extra.llm_arguments(BackendConfig(model="m"), "m")
    assert (
        built["distributed_executor_backend"] == "ray" and built["logprobs_mode"] == "raw_logprobs"
    )
    with pytest.raises(ValueError, match="unknown vllm options"):
        VLLMOptions.parse({"tp": 2})


def test_score_reads_prompt_logprobs(backend: Any) -> None:
    prompt = Prompt("Capital of France?", assistant_prefix="Answer: ")
    (res,) = backend.score([ScoreRequest(prompt, continuations=("Paris", "the city of Lyon"))])
    ids, space = backend.encode_prompt(prompt)
    for cont, got in zip(("Paris", "the city of Lyon"), res.continuation_logprobs, strict=True):
        cont_ids = backend.encode(space + cont)
        full = ids + cont_ids
        expected = [toy_logprobs(full[:i])[full[i]] for i in range(len(ids), len(full))]
        np.testing.assert_allclose(got, expected)
    _, params, lora = backend.llm.calls[0]
    assert params[0].prompt_logprobs == 1 and params[0].max_tokens == 1
    assert lora == ("lora", "adapter", 1, "/adapters/a")


def test_candidates_exact_beyond_top_k(backend: Any) -> None:
    prompt = Prompt("Pick one.", assistant_prefix="Letter:")
    (res,) = backend.score([ScoreRequest(prompt, candidates=("A", "B", "Z"))])
    ids, _ = backend.encode_prompt(prompt)
    dist = toy_logprobs(ids)
    expected = [np.logaddexp.reduce(dist[backend.candidate_ids(c)]) for c in ("A", "B", "Z")]
    np.testing.assert_allclose(res.candidate_logprobs, expected)
    _, params, _ = backend.llm.calls[-1]  # the forms outside the top 5, scored exactly
    assert all(p.prompt_logprobs == 1 for p in params) and len(params) >= 1


def test_generate_greedy_and_sampled(backend: Any) -> None:
    greedy = GenerateRequest(Prompt("Hi"), max_new_tokens=5, n=3, top_logprobs=2)
    sampled = GenerateRequest(Prompt("Hi"), max_new_tokens=5, n=2, temperature=1.0, seed=1)
    g, s = backend.generate([greedy, sampled])
    assert len(g) == 3 and g[0] is g[2] and len(s) == 2
    _, params, _ = backend.llm.calls[-1]
    assert (
        params[0].n == 1 and params[0].temperature == 0 and params[1].n == 2 and params[1].seed == 1
    )
    assert len(g[0].tokens) == len(g[0].token_logprobs) == len(g[0].top_logprobs)
    assert all(len(t) <= 2 for t in g[0].top_logprobs)


def test_mapping_without_vllm() -> None:
    """The pure functions on hand-built outputs."""
    out = RequestOutput(
        "0",
        None,
        [5, 6, 7],
        [None, {6: Logprob(-1.0, 1)}, {7: Logprob(-2.0, 3), 1: Logprob(-0.5, 1)}],
        [],
    )
    np.testing.assert_array_equal(continuation_logprobs(out, 1, [6, 7]), [-1.0, -2.0])
    with pytest.raises(RuntimeError, match="lack the prompt token"):
        continuation_logprobs(out, 1, [6, 8])
    first = {3: Logprob(-0.1, 1, " A"), 4: Logprob(-2.0, 2, "A")}
    gen = RequestOutput(
        "0", None, [1], None, [CompletionOutput(0, " A", [3], None, [first], "length")]
    )
    found, missing = top_candidates(gen, [[4, 3], [9]])
    assert found == [[-2.0, -0.1], []] and missing == [(1, 9)]
    steps = [{3: Logprob(-0.1, 1, " A")}, {2: Logprob(-0.3, 1, "")}]
    completion = CompletionOutput(0, " A", [3, 2], None, steps, "stop")  # 2 = EOS, not in text
    g = to_generation(completion, 1, lambda ids: "".join(" A" if i == 3 else "" for i in ids))
    assert g.tokens == (" A",) and g.top_logprobs == ({" A": -0.1},) and g.finish_reason == "stop"


@pytest.mark.skipif(
    importlib.util.find_spec("vllm") is None, reason="vllm not installed / no CUDA GPU"
)
def test_real_vllm_matches_hf(
    default_model_dir: Path, default_backend: Any
) -> None:  # pragma: no cover
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("vllm not installed / no CUDA GPU")
    backend = load_backend("vllm", BackendConfig(model=str(default_model_dir), dtype="float32"))
    request = ScoreRequest(
        Prompt("Capital of France?", assistant_prefix="Answer: "),
        continuations=("Paris", "Lyon"),
        candidates=("A", "B"),
    )
    ours, reference = backend.score([request])[0], default_backend.score([request])[0]
    for x, y in zip(ours.continuation_logprobs, reference.continuation_logprobs, strict=True):
        np.testing.assert_allclose(x, y, atol=1e-2)
    np.testing.assert_allclose(ours.candidate_logprobs, reference.candidate_logprobs, atol=1e-2)
