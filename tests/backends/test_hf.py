"""The ``hf`` backend: rendering, exact scoring (shared prompt == plain forward pass),
candidates, generation, LoRA adapters. Fast tests use the tiny random model; ``slow`` ones
the embedded SmolLM2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from confalign.backends import BackendConfig, load_backend
from confalign.backends.base import GenerateRequest, Prompt, ScoreRequest
from confalign.backends.hf import HFBackend
from confalign.backends.packed import common_prefix, make_batches, shared_row

ATOL = 1e-4
HEADER = "<|im_start|>assistant\n"

REQUESTS = [
    ScoreRequest(
        Prompt("What is the capital of France?", assistant_prefix="Answer:"),
        continuations=(" Paris", " London", " The city of Berlin, in Germany"),
        candidates=("A", "B", "Paris"),
    ),
    ScoreRequest(
        Prompt("Pick one.\nA. red\nB. blue", system="Be brief.", assistant_prefix="Answer: "),
        continuations=("A", "blue", ""),
        candidates=("A", "B"),
    ),
    ScoreRequest(Prompt("2 + 2 ="), continuations=(" 4", " four, of course")),
    ScoreRequest(Prompt("Letters only, a much longer prompt " * 6), candidates=("A", "B", "C")),
    ScoreRequest(Prompt("Nothing asked")),
]


def reference_scores(backend: HFBackend, request: ScoreRequest) -> tuple[list, np.ndarray]:
    """One plain full forward pass per prompt+continuation, straight from the model."""
    text = backend.render(request.prompt)
    context = text.rstrip(" \t")
    space = text[len(context) :]
    tok = backend.tokenizer
    ctx = tok(context, add_special_tokens=not backend.chat)["input_ids"]
    lps = []
    for cont in request.continuations:
        ids = tok(space + cont, add_special_tokens=False)["input_ids"]
        lp = _forward_logprobs(backend.model, ctx + ids)
        lps.append(np.array([lp[len(ctx) - 1 + j, t] for j, t in enumerate(ids)]))
    cands = np.zeros(len(request.candidates))
    if request.candidates:
        prefix = ctx + (tok(space, add_special_tokens=False)["input_ids"] if space else [])
        last = _forward_logprobs(backend.model, prefix)[-1]
        for k, c in enumerate(request.candidates):
            forms = [tok(f, add_special_tokens=False)["input_ids"] for f in (c, " " + c)]
            ids = sorted({f[0] for f in forms if len(f) == 1})
            cands[k] = torch.logsumexp(last[ids], 0).item()
    return lps, cands


def _forward_logprobs(model: torch.nn.Module, ids: list[int]) -> torch.Tensor:
    with torch.inference_mode():
        logits = model(torch.tensor([ids])).logits[0]
    return torch.log_softmax(logits.float(), -1)


def assert_matches_reference(backend: HFBackend, requests: list[ScoreRequest]) -> None:
    results = backend.score(requests)
    assert len(results) == len(requests)
    for request, result in zip(requests, results, strict=True):
        lps, cands = reference_scores(backend, request)
        assert len(result.continuation_logprobs) == len(request.continuations)
        for got, want in zip(result.continuation_logprobs, lps, strict=True):
            assert got.dtype == np.float64
            np.testing.assert_allclose(got, want, atol=ATOL, rtol=0)
        np.testing.assert_allclose(result.candidate_logprobs, cands, atol=ATOL, rtol=0)
        assert result.candidate_logprobs.shape == (len(request.candidates),)


def tiny(tiny_model_dir: Path, **kwargs: object) -> HFBackend:
    options = kwargs.pop("options", {})
    config = BackendConfig(model=str(tiny_model_dir), options=options, **kwargs)  # type: ignore[arg-type]
    backend = load_backend("hf", config)
    assert isinstance(backend, HFBackend)
    return backend


# -- rendering ---------------------------------------------------------------------------


def test_render_puts_prefix_right_after_assistant_header(tiny_backend: HFBackend) -> None:
    text = tiny_backend.render(Prompt("Hi?", system="Sys.", assistant_prefix="Answer: Paris\n"))
    assert text.endswith(HEADER + "Answer: Paris\n")
    assert text.startswith("<|im_start|>system\nSys.<|im_end|>\n<|im_start|>user\nHi?<|im_end|>")
    assert tiny_backend.chat and "chat" in tiny_backend.capabilities


def test_render_without_chat(tiny_model_dir: Path) -> None:
    backend = tiny(tiny_model_dir, chat=False)
    # the assistant prefix on a line of its own, never glued to the user turn
    assert (
        backend.render(Prompt("Q.", system="S", assistant_prefix="Answer:")) == "S\n\nQ.\nAnswer:"
    )
    assert backend.render(Prompt("Q\n", assistant_prefix="Answer:")) == "Q\nAnswer:"
    assert backend.render(Prompt("Q")) == "Q"
    # a prompt's own completion layout wins over the turns
    assert backend.render(Prompt("Q", assistant_prefix="Answer:", plain="Q?\nAnswer:")) == (
        "Q?\nAnswer:"
    )
    assert "chat" not in backend.capabilities


# -- scoring -------------------------------------------------------------------------------


def test_shared_scoring_equals_plain_forward(tiny_backend: HFBackend) -> None:
    assert_matches_reference(tiny_backend, REQUESTS)


@pytest.mark.parametrize(
    "options",
    [
        {"share_prompt": False},
        {"attn_implementation": "eager"},  # the float (additive) mask
    ],
)
def test_other_layouts_equal_plain_forward(tiny_model_dir: Path, options: dict) -> None:
    assert_matches_reference(tiny(tiny_model_dir, options=options), REQUESTS)


def test_make_batches_packs_short_rows_into_padding() -> None:
    lengths = [100, 10, 90, 30, 20, 95]
    batches = make_batches(lengths, 200, pack=True)
    # Longest first, two lines of width 100, then two of width 90; 10 and 20 fill the gap.
    assert batches == [[[0], [5]], [[2], [3, 1, 4]]]
    placed = sorted(i for b in batches for line in b for i in line)
    assert placed == list(range(len(lengths)))
    for batch in batches:
        width = lengths[batch[0][0]]
        assert len(batch) * width <= 200 or len(batch) == 1
        assert all(sum(lengths[i] for i in line) <= width for line in batch)
    assert make_batches(lengths, 200, pack=False)[0] == [[0], [5]]


@pytest.mark.parametrize("batch_tokens", [16, 60, 120])
def test_batching_and_packing_do_not_change_scores(tiny_model_dir: Path, batch_tokens: int) -> None:
    # 16: one row per batch, rows over budget; 60, 120: short rows packed into long lines.
    backend = tiny(tiny_model_dir, batch_tokens=batch_tokens)
    assert_matches_reference(backend, REQUESTS + REQUESTS[::-1])


NO_SYSTEM = [
    ScoreRequest(
        Prompt(r.prompt.user, assistant_prefix=r.prompt.assistant_prefix),
        r.continuations,
        r.candidates,
    )
    for r in REQUESTS
]


@pytest.mark.parametrize(
    ("batch_tokens", "options"),
    [(4096, {}), (60, {}), (4096, {"attn_implementation": "eager"}), (4096, {"pack": False})],
)
def test_common_prefix_computed_once_equals_plain_forward(
    tiny_model_dir: Path, batch_tokens: int, options: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The default system turn is common to all these prompts: it runs once, as a KV cache.
    backend = tiny(tiny_model_dir, batch_tokens=batch_tokens, options=options)
    prefixes: list[int] = []
    original = backend._scorer._prefix_cache
    monkeypatch.setattr(
        backend._scorer, "_prefix_cache", lambda t: prefixes.append(len(t)) or original(t)
    )
    assert_matches_reference(backend, NO_SYSTEM)
    assert prefixes == ([] if options.get("pack") is False else [prefixes[0]])
    assert not prefixes or prefixes[0] > 20


def test_common_prefix_stops_before_reads() -> None:
    prompt = list(range(10))
    rows = [shared_row([*prompt, 20 + k], [[30, 31]])[0] for k in range(3)]
    assert common_prefix(rows) == 10
    rows.append(shared_row(prompt, [[5]], cand_ids=[[1]])[0])  # reads at position 9
    assert common_prefix(rows) == 9
    rows.append(shared_row([0, 1, 9], [[5]])[0])
    assert common_prefix(rows) == 2


def test_full_forward_fallback_equals_plain_forward(tiny_model_dir: Path) -> None:
    # Models with logit post-processing cannot project hidden states themselves.
    backend = tiny(tiny_model_dir)
    backend._scorer.body = backend._scorer.head = None
    assert_matches_reference(backend, REQUESTS)


def test_trailing_space_moves_to_the_continuation(tiny_backend: HFBackend) -> None:
    spaced = ScoreRequest(Prompt("Q", assistant_prefix="Answer: "), continuations=("Paris",))
    moved = ScoreRequest(Prompt("Q", assistant_prefix="Answer:"), continuations=(" Paris",))
    a, b = tiny_backend.score([spaced, moved])
    np.testing.assert_allclose(a.continuation_logprobs[0], b.continuation_logprobs[0], atol=1e-6)
    # A newline stays in the prompt: only spaces and tabs move.
    (nl,) = tiny_backend.score([ScoreRequest(Prompt("Q"), continuations=("Paris",))])
    assert len(nl.continuation_logprobs[0]) == len(tiny_backend.encode(["Paris"])[0])


def test_candidate_mass_sums_both_forms(tiny_backend: HFBackend) -> None:
    ids = tiny_backend.candidate_ids("A")
    assert sorted(ids) == sorted(
        {tiny_backend.encode(["A"])[0][0], tiny_backend.encode([" A"])[0][0]}
    )
    prompts = [Prompt("Which?", assistant_prefix="Answer:"), Prompt("Other")]
    got = tiny_backend.next_token_logprobs(prompts, ["A", "B"])
    assert [g.shape for g in got] == [(2,), (2,)]
    for prompt, g in zip(prompts, got, strict=True):
        _, want = reference_scores(tiny_backend, ScoreRequest(prompt, candidates=("A", "B")))
        np.testing.assert_allclose(g, want, atol=ATOL)


def test_multi_token_candidate_is_an_error_naming_it(tiny_backend: HFBackend) -> None:
    with pytest.raises(ValueError, match="'definitely not one token'"):
        tiny_backend.score(
            [ScoreRequest(Prompt("Q"), candidates=("A", "definitely not one token"))]
        )


def test_empty_request_and_empty_continuation(tiny_backend: HFBackend) -> None:
    (res,) = tiny_backend.score([ScoreRequest(Prompt("Q"), continuations=("",))])
    assert res.continuation_logprobs[0].shape == (0,)
    assert res.candidate_logprobs.shape == (0,)
    assert res.prompt_tokens == len(tiny_backend.encode_prompt(Prompt("Q"))[0])
    assert tiny_backend.score([]) == []


def test_unknown_option_is_rejected_before_loading(tiny_model_dir: Path) -> None:
    with pytest.raises(ValueError, match="unknown hf options"):
        tiny(tiny_model_dir, options={"share_promt": True})


def test_describe(tiny_backend: HFBackend) -> None:
    info = tiny_backend.describe()
    assert info["backend"] == "hf" and info["dtype"] == "float32" and info["device"] == "cpu"


# -- generation ------------------------------------------------------------------------


def _model_greedy(backend: HFBackend, prompt: Prompt, max_new: int) -> list[int]:
    ids = torch.tensor([backend.generation_ids(prompt)])
    with torch.inference_mode():
        out = backend.model.generate(
            ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new, do_sample=False
        )
    new = out[0, ids.shape[1] :].tolist()
    eos = [i for i, t in enumerate(new) if t in backend.eos_ids]
    return new[: eos[0]] if eos else new


def test_greedy_matches_model_generate_and_teacher_forcing(tiny_backend: HFBackend) -> None:
    prompts = [Prompt("Tell me a story."), Prompt("Hi", system="Be kind.", assistant_prefix="Sure")]
    requests = [GenerateRequest(p, max_new_tokens=12, top_logprobs=3) for p in prompts]
    outputs = tiny_backend.generate(requests)  # batched, left-padded
    for prompt, (gen,) in zip(prompts, outputs, strict=True):
        want = _model_greedy(tiny_backend, prompt, 12)
        ids = tiny_backend.tokenizer(list(gen.tokens), add_special_tokens=False)["input_ids"]
        assert gen.text == tiny_backend.tokenizer.decode(want, skip_special_tokens=True)
        assert len(gen.tokens) == len(want) == len(gen.token_logprobs) == len(gen.top_logprobs)
        ctx = tiny_backend.generation_ids(prompt)
        forced = _forward_logprobs(tiny_backend.model, ctx + want)
        teacher = [forced[len(ctx) - 1 + j, t].item() for j, t in enumerate(want)]
        np.testing.assert_allclose(gen.token_logprobs, teacher, atol=ATOL)
        assert gen.finish_reason == ("length" if len(want) == 12 else "stop")
        for top, lp in zip(gen.top_logprobs, gen.token_logprobs, strict=True):
            values = list(top.values())
            assert len(top) <= 3 and values == sorted(values, reverse=True)
            assert values[0] == pytest.approx(lp, abs=ATOL)  # greedy picks the best token
        assert all(len(i) >= 1 for i in ids)


def test_stop_string_cuts_text_and_tokens(tiny_backend: HFBackend) -> None:
    prompt = Prompt("Tell me a story.")
    (full,) = tiny_backend.generate([GenerateRequest(prompt, max_new_tokens=12)])[0]
    stop = full.text[len(full.text) // 2 :][:2]
    assert stop, full.text
    (cut,) = tiny_backend.generate([GenerateRequest(prompt, max_new_tokens=12, stop=(stop,))])[0]
    assert cut.text == full.text[: full.text.index(stop)]
    assert cut.finish_reason == "stop"
    assert "".join(cut.tokens).startswith(cut.text)
    assert cut.tokens == full.tokens[: len(cut.tokens)]
    np.testing.assert_allclose(
        cut.token_logprobs, full.token_logprobs[: len(cut.tokens)], atol=1e-6
    )


def test_sampling_is_repeatable_with_a_seed(tiny_backend: HFBackend) -> None:
    request = GenerateRequest(Prompt("Go"), max_new_tokens=8, temperature=1.5, n=3, seed=7)
    (a,) = tiny_backend.generate([request])
    (b,) = tiny_backend.generate([request])
    assert len(a) == 3
    assert [g.text for g in a] == [g.text for g in b]
    texts = {g.text for g in a}
    assert len(texts) > 1  # three samples at a high temperature differ
    # Log-probabilities stay those of the temperature-1 distribution.
    ctx = tiny_backend.generation_ids(request.prompt)
    checked = 0
    for g in a:
        ids = _piece_ids(tiny_backend, g.tokens)
        if ids is None:  # a piece that does not re-encode to itself (partial UTF-8)
            continue
        forced = _forward_logprobs(tiny_backend.model, ctx + ids)
        teacher = [forced[len(ctx) - 1 + j, t].item() for j, t in enumerate(ids)]
        np.testing.assert_allclose(g.token_logprobs, teacher, atol=ATOL)
        checked += 1
    assert checked


def _piece_ids(backend: HFBackend, pieces: tuple[str, ...]) -> list[int] | None:
    """The token ids behind decoded pieces, when each piece re-encodes to one token."""
    ids = backend.encode(list(pieces))
    return [i[0] for i in ids] if all(len(i) == 1 for i in ids) else None


def test_greedy_n_copies(tiny_backend: HFBackend) -> None:
    (gens,) = tiny_backend.generate([GenerateRequest(Prompt("Go"), max_new_tokens=4, n=2)])
    assert len(gens) == 2 and gens[0].text == gens[1].text


def test_bad_generate_request(tiny_backend: HFBackend, tiny_model_dir: Path) -> None:
    with pytest.raises(ValueError, match="top_p"):
        tiny_backend.generate([GenerateRequest(Prompt("Go"), top_p=0.0)])
    with pytest.raises(ValueError, match="generate_batch_tokens must be >= 1, not 0"):
        tiny(tiny_model_dir, options={"generate_batch_tokens": 0})


# -- LoRA adapter ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_adapter(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    config = LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )
    folder = tmp_path_factory.mktemp("tiny-lora")
    get_peft_model(base, config).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("merge", [True, False])
def test_lora_adapter_scores_equal_peft_model(
    tiny_model_dir: Path, tiny_adapter: Path, tiny_backend: HFBackend, merge: bool
) -> None:
    backend = tiny(tiny_model_dir, adapter=str(tiny_adapter), options={"merge_adapter": merge})
    assert_matches_reference(backend, REQUESTS[:2])  # reference runs backend.model (peft)
    base = tiny_backend.score(REQUESTS[:1])[0].continuation_logprobs[0]
    tuned = backend.score(REQUESTS[:1])[0].continuation_logprobs[0]
    assert not np.allclose(base, tuned, atol=1e-3)  # the adapter does something
    prompt = Prompt("Tell me a story.")
    (gen,) = backend.generate([GenerateRequest(prompt, max_new_tokens=6)])[0]
    want = _model_greedy(backend, prompt, 6)
    assert gen.text == backend.tokenizer.decode(want, skip_special_tokens=True)


# -- the embedded model ----------------------------------------------------------------


@pytest.mark.slow
def test_default_model_shared_scoring_equals_plain_forward(default_backend: HFBackend) -> None:
    text = default_backend.render(Prompt("Q?", assistant_prefix="Answer:"))
    assert text.endswith(HEADER + "Answer:")
    assert_matches_reference(default_backend, REQUESTS[:3])


@pytest.mark.slow
def test_default_model_greedy_matches_model_generate(default_backend: HFBackend) -> None:
    prompt = Prompt("What is the capital of France?")
    (gen,) = default_backend.generate([GenerateRequest(prompt, max_new_tokens=10)])[0]
    want = _model_greedy(default_backend, prompt, 10)
    assert gen.text == default_backend.tokenizer.decode(want, skip_special_tokens=True)
    assert "Paris" in gen.text


def _reference_samples(
    backend: HFBackend,
    ids: list[int],
    n: int,
    steps: int,
    temperature: float,
    top_p: float,
    seed: int,
) -> list[list[int]]:
    """Plain re-implementation of the sampler: full forward per step, no cache, no batch;
    each step draws n uniforms from torch.Generator(seed) and inverts the row's nucleus CDF."""
    g = torch.Generator().manual_seed(seed)
    rows = [list(ids) for _ in range(n)]
    done = [False] * n
    eos = backend._generator.eos_ids
    for _ in range(steps):
        u = torch.rand(n, generator=g)
        for r in range(n):
            if done[r]:
                continue
            with torch.no_grad():
                logits = backend.model(torch.tensor([rows[r]])).logits[0, -1].double()
            p = torch.softmax(logits / temperature, dim=-1)
            order = torch.argsort(p, descending=True)
            keep = torch.cumsum(p[order], 0) - p[order] < top_p  # smallest set reaching top_p
            q = torch.zeros_like(p)
            q[order[keep]] = p[order[keep]]
            cdf = torch.cumsum(q / q.sum(), 0)
            token = int(torch.searchsorted(cdf, u[r].double() * cdf[-1], right=True))
            rows[r].append(token)
            done[r] = token in eos
    return [row[len(ids) :] for row in rows]


# The random tiny model spreads its mass over ~17k tokens at T = 1.3, top-p 0.8, where the
# cached and uncached logits' rounding moves the nucleus edge by more than a token's mass;
# T = 0.5 makes it peaked enough for exact draws.
@pytest.mark.parametrize(("temperature", "top_p"), [(1.3, 1.0), (0.5, 0.8)])
def test_sampling_draws_equal_a_plain_reference(
    tiny_backend: HFBackend, temperature: float, top_p: float
) -> None:
    """The batched sampler (prompt computed once, cache expanded to n rows, per-request
    generator) draws exactly the tokens of an uncached, unbatched reference."""
    prompt = Prompt("Go on, tell me more")
    request = GenerateRequest(prompt, 6, temperature, top_p, n=4, seed=11)
    (ours,) = tiny_backend.generate([request])
    ids = tiny_backend.generation_ids(prompt)
    want = _reference_samples(tiny_backend, ids, 4, 6, temperature, top_p, seed=11)
    eos = tiny_backend._generator.eos_ids
    for sample, expected in zip(ours, want, strict=True):
        cut = next((i for i, t in enumerate(expected) if t in eos), len(expected))
        # Compared as pieces: some ids decode to the same text.
        pieces = tiny_backend.tokenizer.batch_decode([[t] for t in expected[:cut]])
        assert list(sample.tokens) == pieces
    assert len({g.text for g in ours}) > 1


def test_samples_do_not_depend_on_the_batch(tiny_model_dir: Path) -> None:
    """A seeded request draws the same samples alone and batched with other seeds and
    prompts (each request samples from its own generator)."""
    backend = tiny(tiny_model_dir, options={"generate_batch_tokens": 100_000})
    prompts = ["Go", "Go on, tell me more", "Why?", "A much longer prompt than the others are"]
    requests = [
        GenerateRequest(Prompt(p), max_new_tokens=5, temperature=1.0, n=3, seed=s)
        for s, p in enumerate(prompts)
    ]
    together = backend.generate(requests)
    for request, batched in zip(requests, together, strict=True):
        (alone,) = backend.generate([request])
        assert [g.tokens for g in alone] == [g.tokens for g in batched]
        np.testing.assert_allclose(
            np.concatenate([g.token_logprobs for g in alone]),
            np.concatenate([g.token_logprobs for g in batched]),
            atol=ATOL,
        )
    other_seed = backend.generate([GenerateRequest(Prompt("Go"), 5, 1.0, n=3, seed=99)])[0]
    assert [g.tokens for g in other_seed] != [g.tokens for g in together[0]]


def test_base_model_sees_lm_evals_mmlu_prompt(tiny_model_dir: Path) -> None:
    from confalign.confidence.prompts import answer_prompt
    from confalign.data.example import QAExample

    ex = QAExample("m", "Why?", ("a", "b"), 0, subject="virology", source="mmlu")
    backend = tiny(tiny_model_dir, chat=False)
    want = (
        "The following are multiple choice questions (with answers) about virology.\n\n"
        "Why?\nA. a\nB. b\nAnswer:"
    )
    assert backend.render(answer_prompt(ex)) == want
    assert tiny(tiny_model_dir).render(answer_prompt(ex)).endswith(HEADER + "Answer:")


def test_a_repeated_greedy_request_is_served_from_memory(
    tiny_backend: HFBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """answer_prob and the verbalized modes ask the same greedy answer: the model runs once
    for it; a sampled request always runs."""
    from confalign.backends.base import GenerateRequest, Prompt

    greedy = GenerateRequest(Prompt(user="Cache me once, please?"), max_new_tokens=4)
    first = tiny_backend.generate([greedy])
    calls: list[int] = []
    run = tiny_backend._generator.run
    monkeypatch.setattr(
        tiny_backend._generator, "run", lambda reqs, *a: calls.append(len(reqs)) or run(reqs, *a)
    )
    sampled = GenerateRequest(greedy.prompt, max_new_tokens=4, temperature=1.0, seed=3)
    again, _ = tiny_backend.generate([greedy, sampled])
    assert calls == [1]  # the sampled request alone reached the model
    assert again is first[0] and again[0].text == first[0][0].text
