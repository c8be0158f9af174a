"""Extractors end to end on the hf backend: the tiny random model, and the default model
(slow). Hand computations use ``backend.score``/``generate`` directly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conf_doubles import RecordingBackend

from confalign.backends import BackendConfig, load_backend
from confalign.backends.base import Backend, GenerateRequest, ScoreRequest
from confalign.confidence import (
    AnswerProbExtractor,
    ChoiceExtractor,
    ConsistencyConfig,
    ConsistencyExtractor,
    VerbalizedConfig,
    VerbalizedExtractor,
    build_extractors,
    get_format,
)
from confalign.confidence.internal import answer_token_slice
from confalign.confidence.prompts import answer_prompt, continuation_prompt, verbalized_prompt
from confalign.data.example import QAExample

MC = [
    QAExample(
        "m1", "Which gas do plants absorb?", ("Oxygen", "Carbon dioxide", "Helium", "Neon"), 1
    ),
    QAExample("m2", "What is 3 + 4?", ("5", "6", "7"), 2),
]
OPEN = [QAExample("o1", "What is the capital of France?", gold="Paris")]


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


@pytest.fixture(scope="module")
def plain_tiny_backend(tiny_model_dir: Path) -> Backend:
    """The tiny model with no prompt sharing: one plain causal row per continuation."""
    config = BackendConfig(model=str(tiny_model_dir), options={"share_prompt": False})
    return load_backend("hf", config)


def test_choice_equals_hand_computation(tiny_backend: Backend) -> None:
    backend = RecordingBackend(tiny_backend)
    records = ChoiceExtractor().extract(backend, MC)
    assert backend.calls == [("score", 4)]
    requests = [
        req
        for ex in MC
        for req in (
            ScoreRequest(answer_prompt(ex), candidates=tuple("ABCD"[: len(ex.choices)])),
            ScoreRequest(continuation_prompt(ex), continuations=tuple(" " + c for c in ex.choices)),
        )
    ]
    assert [(r.prompt, r.continuations, r.candidates) for r in backend.score_requests] == [
        (r.prompt, r.continuations, r.candidates) for r in requests
    ]
    results = tiny_backend.score(requests)  # the same batch: the same float32 arithmetic
    for i, ex in enumerate(MC):
        letters, options = results[2 * i], results[2 * i + 1]
        lps = options.continuation_logprobs
        expected = {
            "choice": _softmax(letters.candidate_logprobs),
            "continuation_sum": _softmax(np.array([lp.sum() for lp in lps])),
            "continuation_sum_norm": _softmax(np.array([lp.mean() for lp in lps])),
            "continuation_min": _softmax(np.array([lp.min() for lp in lps])),
        }
        for rec in records[4 * i : 4 * i + 4]:
            assert rec.example_id == ex.id
            assert np.asarray(rec.probs) == pytest.approx(expected[rec.method], abs=1e-12)
            assert rec.confidence == pytest.approx(expected[rec.method].max(), abs=1e-12)
            assert rec.prediction == "ABCD"[int(np.argmax(expected[rec.method]))]
            assert rec.correct == (rec.prediction == ex.gold_letter)


@pytest.mark.parametrize(
    # score_percent and score_float are the same mechanism as probability (101 levels each)
    "fmt_name",
    ["probability", "score_number", "score_letter", "score_text"],
)
def test_distribution_equals_one_level_at_a_time(
    tiny_backend: Backend, plain_tiny_backend: Backend, fmt_name: str
) -> None:
    fmt = get_format(fmt_name)
    backend = RecordingBackend(tiny_backend)
    config = VerbalizedConfig(formats=(fmt_name,), modes=("distribution",), answer_max_new_tokens=6)
    # 101 separate calls per example for the percent levels: one example keeps it small
    examples = [MC[0]] if len(fmt.levels) > 20 else [MC[0], OPEN[0]]
    records = VerbalizedExtractor(config).extract(backend, examples)
    dist_requests = [r for r in backend.score_requests if r.continuations]
    assert len(dist_requests) == len(examples)
    assert backend.calls[-1] == ("score", len(examples))
    for rec, request in zip(records, dist_requests, strict=True):
        assert request.continuations == tuple(" " + lv for lv in fmt.level_strings)
        naive = np.array(
            [
                plain_tiny_backend.score([ScoreRequest(request.prompt, continuations=(c,))])[0]
                .continuation_logprobs[0]
                .sum()
                for c in request.continuations
            ]
        )
        p = _softmax(naive)
        assert np.asarray(rec.probs) == pytest.approx(p, abs=1e-5)
        assert rec.confidence == pytest.approx(float(p @ np.asarray(fmt.values)), abs=1e-5)
        assert rec.extra["argmax_level"] == fmt.level_strings[int(np.argmax(p))]


def test_prefill_text_placement(tiny_backend: Backend) -> None:
    backend = RecordingBackend(tiny_backend)
    config = VerbalizedConfig(formats=("probability",), modes=("prefill",), answer_max_new_tokens=4)
    records = VerbalizedExtractor(config).extract(backend, [MC[1], OPEN[0]])
    fmt = get_format("probability")
    value_requests = [
        r for r in backend.generate_requests if r.prompt.assistant_prefix != "Answer:"
    ]
    assert len(value_requests) == 2
    for rec, request, ex in zip(records, value_requests, [MC[1], OPEN[0]], strict=True):
        rendered = tiny_backend.render(request.prompt)
        user_turn = tiny_backend.render(verbalized_prompt(ex, fmt))
        expected_tail = f"Answer: {rec.prediction}\nProbability:"
        assert rendered == user_turn + expected_tail
        assert rendered.index(ex.question) < rendered.index(expected_tail)
        assert "<|im_start|>assistant\n" + expected_tail in rendered
        assert request.stop == ("\n",) and request.temperature == 0.0
    # the MC answer is the argmax letter after "Answer:" on the same user turn
    (res,) = tiny_backend.score(
        [ScoreRequest(verbalized_prompt(MC[1], fmt, "Answer:"), candidates=("A", "B", "C"))]
    )
    assert records[0].prediction == "ABC"[int(np.argmax(res.candidate_logprobs))]


def test_answer_prob_hand_computation(tiny_backend: Backend) -> None:
    records = AnswerProbExtractor().extract(tiny_backend, OPEN)
    (gens,) = tiny_backend.generate(
        [GenerateRequest(answer_prompt(OPEN[0]), 32, 0.0, stop=("\n",))]
    )
    g = gens[0]
    lps = g.token_logprobs[answer_token_slice(g.text, g.tokens)]
    if not g.text.strip():
        assert records[0].confidence is None
        return
    assert records[0].confidence == pytest.approx(np.exp(lps.mean()), rel=1e-9)
    assert records[1].confidence == pytest.approx(np.exp(lps.sum()), rel=1e-9)
    assert records[0].prediction == g.text.strip()


def test_every_extractor_runs_on_tiny_model(tiny_backend: Backend) -> None:
    extractors = build_extractors(
        None,
        formats=("score_letter",),
        modes=("free", "prefill", "distribution"),
        samples=3,
        max_new_tokens=12,
        answer_max_new_tokens=6,
        sample_max_new_tokens=6,
    )
    for extractor in extractors:
        examples = [x for x in MC + OPEN if extractor.accepts(x)]
        records = extractor.extract(tiny_backend, examples)
        assert [(r.example_id, r.key) for r in records] == [
            (x.id, k) for x in examples for k in extractor.method_keys()
        ]
        for r in records:
            assert r.confidence is None or 0.0 <= r.confidence <= 1.0
            if r.probs is not None:
                assert sum(r.probs) == pytest.approx(1.0)


def test_consistency_is_seeded(tiny_backend: Backend) -> None:
    extractor = ConsistencyExtractor(ConsistencyConfig(n=4, max_new_tokens=4, seed=1))
    first = extractor.extract(tiny_backend, MC)
    again = extractor.extract(tiny_backend, MC[::-1])
    by_id = {r.example_id: r.extra["samples"] for r in again if r.method == "agreement"}
    for r in first:
        assert r.extra["samples"] == by_id[r.example_id]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fmt_name", "checked"),
    [("probability", ("0%", "1%", "50%", "85%", "99%", "100%")), ("score_letter", "ABCDE")],
)
def test_default_model_distribution_equals_naive(
    default_backend: Backend, fmt_name: str, checked: tuple[str, ...]
) -> None:
    """Levels scored one call each (no sharing) against the extractor's one shared-prefix
    request; for the 101 percent levels a subset keeps the CPU time down (compared after
    renormalising over the subset, plus the unnormalised level probabilities)."""
    fmt = get_format(fmt_name)
    backend = RecordingBackend(default_backend)
    config = VerbalizedConfig(formats=(fmt_name,), modes=("prefill", "distribution"))
    prefill, dist = VerbalizedExtractor(config).extract(backend, MC[:1])
    (request,) = [r for r in backend.score_requests if r.continuations]
    index = [fmt.level_strings.index(level) for level in checked]
    naive = np.array(
        [
            default_backend.score([ScoreRequest(request.prompt, continuations=(" " + lv,))])[0]
            .continuation_logprobs[0]
            .sum()
            for lv in checked
        ]
    )
    probs = np.asarray(dist.probs)[index]
    assert probs / probs.sum() == pytest.approx(_softmax(naive), abs=1e-5)
    assert probs * dist.extra["level_mass"] == pytest.approx(np.exp(naive), abs=1e-5)
    assert prefill.prediction in "ABCD" and dist.prediction == prefill.prediction
    rendered = default_backend.render(request.prompt)
    assert rendered.endswith(f"<|im_start|>assistant\nAnswer: {prefill.prediction}\n{fmt.cue}")
