"""Extractor logic on a scripted backend: records, keys, batching, hand computations."""

from __future__ import annotations

import numpy as np
import pytest
from conf_doubles import ScriptedBackend, mc_example, open_example

from confalign.backends.base import GenerateRequest, ScoreRequest
from confalign.confidence import (
    AnswerProbExtractor,
    ChoiceConfig,
    ChoiceExtractor,
    VerbalizedConfig,
    VerbalizedExtractor,
    get_format,
)
from confalign.confidence.internal import answer_token_slice
from confalign.confidence.prompts import (
    answer_prompt,
    continuation_prompt,
    prefill_prompt,
    verbalized_prompt,
)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def test_choice_extractor_matches_hand_computation() -> None:
    backend = ScriptedBackend()
    examples = [mc_example(0, gold=0), mc_example(1, gold=3)]
    records = ChoiceExtractor().extract(backend, examples)
    assert backend.calls == [("score", 4)]  # per question: letters, then options
    assert [r.key for r in records[:4]] == [
        "choice",
        "continuation_sum",
        "continuation_sum_norm",
        "continuation_min",
    ]
    for ex, recs in zip(examples, (records[:4], records[4:]), strict=True):
        letters, options = backend.score(
            [
                ScoreRequest(answer_prompt(ex), candidates=("A", "B", "C", "D")),
                ScoreRequest(
                    continuation_prompt(ex), continuations=tuple(" " + c for c in ex.choices)
                ),
            ]
        )
        lps = options.continuation_logprobs
        scores = {
            "choice": letters.candidate_logprobs,
            "continuation_sum": np.array([lp.sum() for lp in lps]),
            "continuation_sum_norm": np.array([lp.mean() for lp in lps]),
            "continuation_min": np.array([lp.min() for lp in lps]),
        }
        for rec in recs:
            p = _softmax(scores[rec.method])
            assert rec.probs == pytest.approx(p, abs=1e-12)
            assert rec.confidence == pytest.approx(p.max())
            assert rec.prediction == "ABCD"[int(np.argmax(p))]
            assert rec.correct == (rec.prediction == ex.gold_letter)
            assert rec.kind == "internal" and rec.example_id == ex.id


def test_continuation_methods_have_a_prompt_of_their_own() -> None:
    """Options are scored after a prompt that asks for the answer itself, never after the
    letter-only instruction (and without the lettered options, as lm-eval's cloze tasks)."""
    backend = ScriptedBackend()
    ex = mc_example(0)
    ChoiceExtractor().extract(backend, [ex])
    letters, options = backend.score_requests
    assert letters.candidates == ("A", "B", "C", "D") and letters.continuations == ()
    assert options.candidates == () and options.continuations == tuple(" " + c for c in ex.choices)
    assert "letter" in letters.prompt.user
    assert "letter" not in options.prompt.user
    assert "A. " not in options.prompt.user and "Answer with a short answer" in options.prompt.user
    assert options.prompt.assistant_prefix == "Answer:"
    assert options.prompt.plain == f"Question: {ex.question.strip()}\nAnswer:"
    only = ScriptedBackend()
    ChoiceExtractor(ChoiceConfig(methods=("continuation_min",))).extract(only, [ex])
    (req,) = only.score_requests
    assert req.prompt == options.prompt and req.candidates == ()


def test_choice_only_sends_no_continuations() -> None:
    backend = ScriptedBackend()
    ChoiceExtractor(ChoiceConfig(methods=("choice",))).extract(backend, [mc_example()])
    (req,) = backend.score_requests
    assert req.continuations == () and req.candidates == ("A", "B", "C", "D")
    assert req.prompt.assistant_prefix == "Answer:"


def test_extractor_rejects_wrong_example_type() -> None:
    with pytest.raises(ValueError, match="open0"):
        ChoiceExtractor().extract(ScriptedBackend(), [mc_example(), open_example()])


@pytest.mark.parametrize(
    ("text", "tokens", "expected"),
    [
        (" Paris", (" Paris",), slice(0, 1)),
        (" Paris", (" ", "Paris"), slice(1, 2)),
        (" New York", (" New", " York", "<|im_end|>"), slice(0, 2)),
        ("Paris.", ("Paris", ".\n"), slice(0, 2)),
        ("Paris  ", ("Paris", " ", " "), slice(0, 1)),
        ("\n", ("\n",), slice(0, 0)),
        ("", (), slice(0, 0)),
    ],
)
def test_answer_token_slice(text: str, tokens: tuple[str, ...], expected: slice) -> None:
    assert answer_token_slice(text, tokens) == expected


def test_answer_prob_excludes_whitespace_tokens() -> None:
    backend = ScriptedBackend(reply=lambda r: [" Paris"] * r.n)  # tokens: " ", "P", "a", ...
    records = AnswerProbExtractor().extract(backend, [open_example()])
    assert backend.calls == [("generate", 1)]
    (req,) = backend.generate_requests
    assert req.temperature == 0.0 and req.stop == ("\n",)
    mean, product = records
    assert mean.key == "answer_prob" and product.key == "answer_prob_product"
    assert mean.confidence == pytest.approx(np.exp(-0.5))  # 5 answer tokens of -0.5 each
    assert product.confidence == pytest.approx(np.exp(-2.5))
    assert mean.prediction == "Paris" and mean.correct is True
    assert mean.extra["answer_tokens"] == 5 and mean.generated_tokens == 6


def test_answer_prob_empty_answer_is_a_failure() -> None:
    backend = ScriptedBackend(reply=lambda r: ["  "] * r.n)
    records = AnswerProbExtractor().extract(backend, [open_example()])
    assert all(r.confidence is None and r.parse_failed and r.correct is None for r in records)


def _verbal_reply(request: GenerateRequest) -> list[str]:
    prefix = request.prompt.assistant_prefix
    if prefix.endswith("Probability:"):
        return [" 85%"] * request.n
    if prefix.endswith("Confidence:"):
        return [" B"] * request.n
    if prefix == "Answer:":  # the open-QA answer step
        return [" Paris"] * request.n
    return ["Answer: C\nProbability: 70%"] * request.n


def test_verbalized_all_modes_records_and_calls() -> None:
    backend = ScriptedBackend(reply=_verbal_reply)
    examples = [mc_example(0), open_example(0), mc_example(1, gold=1)]
    config = VerbalizedConfig(formats=("probability",), modes=("free", "prefill", "distribution"))
    records = VerbalizedExtractor(config).extract(backend, examples)
    keys = [f"verbalized/probability/{m}" for m in ("free", "prefill", "distribution")]
    assert [(r.example_id, r.key) for r in records] == [(ex.id, k) for ex in examples for k in keys]
    # open own answers: 1 generate, once for every format; free: 1 generate; MC own answers:
    # 1 score; prefill: 1 generate; distribution: 1 score. Every call takes the whole batch.
    assert backend.calls == [
        ("generate", 1),
        ("generate", 3),
        ("score", 2),
        ("generate", 3),
        ("score", 3),
    ]
    # the open answer is asked on the plain answer prompt (answer_prob's), not the verbalized one
    assert backend.generate_requests[0].prompt == answer_prompt(examples[1])
    free = records[0]
    assert (free.prediction, free.confidence, free.correct) == ("C", 0.7, True)
    assert free.mode == "free" and free.format == "probability" and not free.parse_failed
    fmt = get_format("probability")
    for ex, recs in zip(examples, (records[0:3], records[3:6], records[6:9]), strict=True):
        prefill, dist = recs[1], recs[2]
        if ex.is_multiple_choice:
            (res,) = backend.score(
                [
                    ScoreRequest(
                        verbalized_prompt(ex, fmt, "Answer:"), candidates=("A", "B", "C", "D")
                    )
                ]
            )
            own = "ABCD"[int(np.argmax(res.candidate_logprobs))]
            assert prefill.extra["answer_ci"] == pytest.approx(
                _softmax(res.candidate_logprobs).max()
            )
        else:
            own = "Paris"
        assert prefill.prediction == own == dist.prediction
        assert prefill.confidence == 0.85 and prefill.raw_text == " 85%"
        # the distribution equals one level at a time, renormalised
        naive = np.array(
            [
                backend.score(
                    [ScoreRequest(prefill_prompt(ex, fmt, own), continuations=(" " + lv,))]
                )[0]
                .continuation_logprobs[0]
                .sum()
                for lv in fmt.level_strings
            ]
        )
        p = _softmax(naive)
        assert dist.probs == pytest.approx(p, abs=1e-12)
        assert dist.confidence == pytest.approx(float(p @ np.array(fmt.values)))
        assert dist.extra["argmax_level"] == fmt.level_strings[int(np.argmax(p))]
    prefill_reqs = [r for r in backend.generate_requests if r.prompt.assistant_prefix.endswith(":")]
    assert {r.prompt.assistant_prefix for r in prefill_reqs} >= {"Answer: Paris\nProbability:"}


def test_verbalized_failures_are_recorded() -> None:
    backend = ScriptedBackend(reply=lambda r: ["I do not know."] * r.n)
    config = VerbalizedConfig(formats=("score_letter", "score_text"), modes=("free", "prefill"))
    records = VerbalizedExtractor(config).extract(backend, [mc_example()])
    assert len(records) == 4
    for rec in records:
        assert rec.confidence is None and rec.parse_failed
        assert rec.extra["parse_error"]
    assert records[0].prediction == "" and records[0].correct is None
    assert records[1].prediction in "ABCD" and records[1].correct is not None
