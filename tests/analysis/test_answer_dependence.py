"""The answer-dependence analyses on the tiny random model (real SmolLM2 tokenizer and chat
template): JSD bounds, the shared-prompt scoring against the ``distribution`` mode's own
requests, rollout by hand, IG completeness, masking, and segment boundaries on the real text."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import jensenshannon

from confalign.analysis.answer_dependence import (
    answer_jsd,
    attention_rollout,
    candidate_answers,
    eager_attention,
    integrated_gradients,
    level_distributions,
    mask_shift,
    rollout_row,
    segment_spans,
    token_segments,
)
from confalign.analysis.answer_dependence.distributions import BLANK, expected_value
from confalign.analysis.answer_dependence.segments import OTHER, segment_sums
from confalign.analysis.answer_dependence.target import (
    expected_confidence,
    level_target,
    token_prompt,
)
from confalign.backends import ScoreRequest
from confalign.confidence._common import normalized_softmax
from confalign.confidence.formats import get_format
from confalign.confidence.prompts import prefill_prompt
from confalign.confidence.verbalized import VerbalizedExtractor
from confalign.data.example import QAExample

MC = QAExample(
    "mc1",
    "Which planet is known as the red planet?",
    choices=("Venus", "Mars", "Jupiter", "Saturn"),
    gold=1,
    subject="astronomy",
)
OPEN = QAExample("op1", "What is 17 + 25?", gold="42", meta={"match": "numeric"})
LETTER, NUMBER = get_format("score_letter"), get_format("score_number")


# ------------------------------------------------------------------------------------- JSD
def test_jsd_of_identical_is_zero_and_of_disjoint_is_ln2() -> None:
    p = np.array([0.1, 0.2, 0.3, 0.4])
    assert answer_jsd(p, p[None]) == 0.0
    assert answer_jsd(np.array([1.0, 0.0]), np.array([[0.0, 1.0]])) == pytest.approx(math.log(2))
    # The wrong answers are pooled: both wrong rows are disjoint from the correct one.
    pooled = answer_jsd(np.array([1.0, 0, 0]), np.array([[0, 1.0, 0], [0, 0, 1.0]]))
    assert pooled == pytest.approx(math.log(2))
    q = np.array([[0.3, 0.3, 0.2, 0.2], [0.1, 0.1, 0.1, 0.7]])
    reference = jensenshannon(p, q.mean(axis=0)) ** 2  # scipy: natural log by default
    assert answer_jsd(p, q) == pytest.approx(reference, rel=1e-12)


def test_jsd_is_zero_when_the_model_gets_the_same_answer_twice(tiny_backend) -> None:
    (scores,) = level_distributions(tiny_backend, [MC], LETTER, [("B", "B")])
    assert answer_jsd(scores.p[0], scores.p[1:]) < 1e-9


def test_candidates_are_gold_against_the_other_options_or_numeric_distractors() -> None:
    mc, op = candidate_answers([MC, OPEN], seed=0)
    assert (mc.correct, mc.wrong) == ("B", ("A", "C", "D"))
    assert op.correct == "42" and len(op.wrong) == 3 and "42" not in op.wrong
    assert all(w.lstrip("-").isdigit() for w in op.wrong)


# ------------------------------------------------------ shared prompt == distribution mode
@pytest.mark.parametrize("fmt", [LETTER, NUMBER], ids=lambda f: f.name)
def test_level_distributions_equal_the_distribution_modes_requests(tiny_backend, fmt) -> None:
    answers = [("B", "A", BLANK), ("42", "41", "forty two", BLANK)]
    shared = level_distributions(tiny_backend, [MC, OPEN], fmt, answers)
    extractor = VerbalizedExtractor()
    for ex, group, got in zip([MC, OPEN], answers, shared, strict=True):
        # The distribution mode's own requests: every level after the prefilled cue.
        requests = [
            ScoreRequest(prefill_prompt(ex, fmt, a), continuations=fmt.level_continuations)
            for a in group
        ]
        for k, res in enumerate(tiny_backend.score(requests)):
            want = normalized_softmax([float(np.sum(lp)) for lp in res.continuation_logprobs])
            np.testing.assert_allclose(got.p[k], want, atol=2e-6)
    # The own letter is the one the verbalized modes take.
    (own,) = extractor.own_answers(tiny_backend, [MC], fmt)
    assert shared[0].own == own.text and shared[1].own == ""


# ------------------------------------------------------------------------------- rollout
def test_rollout_equals_a_hand_rolled_two_layer_example() -> None:
    # Layer 1 heads average to [[1, 0], [.5, .5]], layer 2 heads to [[1, 0], [.2, .8]].
    layer1 = np.array([[[1, 0], [1, 0]], [[1, 0], [0, 1]]], dtype=float)
    layer2 = np.array([[[1, 0], [0.4, 0.6]], [[1, 0], [0, 1]]], dtype=float)
    # 0.5 A + 0.5 I: [[1, 0], [.25, .75]] and [[1, 0], [.1, .9]]; R = Ã2 Ã1:
    # row 2 = [.1 * 1 + .9 * .25, .9 * .75] = [.325, .675].
    np.testing.assert_allclose(
        attention_rollout([layer1, layer2]), [[1.0, 0.0], [0.325, 0.675]], atol=1e-15
    )


def test_rollout_rows_sum_to_one() -> None:
    rng = np.random.default_rng(0)
    layers = []
    for _ in range(3):
        a = np.tril(rng.random((4, 6, 6)))
        layers.append(a / a.sum(axis=-1, keepdims=True))
    rollout = attention_rollout(layers)
    np.testing.assert_allclose(rollout.sum(axis=1), 1.0, atol=1e-12)
    assert np.allclose(np.triu(rollout, 1), 0.0)  # causal stays causal


def test_rollout_row_on_the_model_is_the_last_row_and_restores_sdpa(tiny_backend) -> None:
    model = tiny_backend.model
    ids = tiny_backend.encode_prompt(tiny_backend.render(_prompt(MC, "B")))[0]
    row = rollout_row(model, ids)
    with eager_attention(model), torch.inference_mode():
        out = model(input_ids=torch.tensor([ids]), output_attentions=True)
    full = attention_rollout([a[0].double().numpy() for a in out.attentions])
    np.testing.assert_allclose(row, full[-1], atol=1e-12)
    assert row.sum() == pytest.approx(1.0, abs=1e-12)
    assert model.config._attn_implementation == "sdpa"


def _prompt(ex: QAExample, answer: str):
    from confalign.confidence.prompts import prefill_prompt

    return prefill_prompt(ex, LETTER, answer)


# ------------------------------------------------------------------------ the IG target
def test_level_target_is_the_last_token_after_the_shared_ones(tiny_backend) -> None:
    letter = level_target(tiny_backend, LETTER)
    assert letter.prefix_ids == () and len(letter.level_ids) == 5
    number = level_target(tiny_backend, NUMBER)
    assert number.prefix_ids == tuple(tiny_backend.encode([" "])[0])
    assert len(number.level_ids) == 10
    with pytest.raises(ValueError, match="score_text"):
        level_target(tiny_backend, get_format("score_text"))


@pytest.mark.parametrize("fmt", [LETTER, NUMBER], ids=lambda f: f.name)
def test_expected_confidence_equals_the_distribution_modes_cv(tiny_backend, fmt) -> None:
    target = level_target(tiny_backend, fmt)
    for ex, answer in ((MC, "C"), (OPEN, "42")):
        tp = token_prompt(tiny_backend, ex, fmt, answer, target)
        with torch.no_grad():
            cv = float(expected_confidence(tiny_backend.model, torch.tensor([tp.ids]), target)[0])
        (scores,) = level_distributions(tiny_backend, [ex], fmt, [(answer,)])
        assert cv == pytest.approx(expected_value(scores.p[0], fmt), abs=1e-5)


@pytest.fixture(scope="module")
def smooth_tiny_model(tiny_backend):
    """A random 2-layer Llama with the usual initialisation (std 0.02) on the same tokenizer.
    The shared tiny model's std 0.2 makes the IG path so steep that 64 steps leave a 94% gap
    (256 steps close it); a model at the usual scale is the fair test of completeness."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tiny_backend.tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        initializer_range=0.02,
        tie_word_embeddings=True,
    )
    torch.manual_seed(1234)
    return LlamaForCausalLM(config).eval()


def test_ig_completeness_within_one_percent_at_64_steps(tiny_backend, smooth_tiny_model) -> None:
    target = level_target(tiny_backend, LETTER)
    tp = token_prompt(tiny_backend, MC, LETTER, "B", target)
    labels = token_segments(tp.offsets, segment_spans(tp.text, MC, LETTER, "B"))
    attr = integrated_gradients(
        smooth_tiny_model, tp.ids, labels, target, tiny_backend.pad_id, n_steps=64
    )
    diff = attr.output - attr.baseline_output
    assert abs(diff) > 1e-4  # a real difference to attribute
    assert abs(attr.per_token.sum() - diff) <= 0.01 * abs(diff)
    assert attr.relative_gap <= 0.01
    assert attr.delta == pytest.approx(attr.per_token.sum() - diff, abs=1e-6)
    # Template tokens equal their baseline: exactly no attribution; content tokens have some.
    sums = segment_sums(attr.per_token, labels)
    assert sums[OTHER] == 0.0
    assert all(sums[s] != 0.0 for s in ("question", "options", "instruction", "answer"))


# ------------------------------------------------------------------------------ masking
def test_masking_changes_nothing_when_the_answer_is_already_blank(tiny_backend) -> None:
    (blank,) = mask_shift(tiny_backend, [MC], LETTER, [BLANK])
    assert blank[0] == blank[1]
    (real,) = mask_shift(tiny_backend, [MC], LETTER, ["B"])
    assert real[0] != real[1]


# ----------------------------------------------------------------------------- segments
@pytest.mark.parametrize(
    ("ex", "answer", "want"),
    [
        (
            MC,
            "B",
            {
                "question": "Question: Which planet is known as the red planet?",
                "options": "A. Venus\nB. Mars\nC. Jupiter\nD. Saturn",
                "answer": "B",
            },
        ),
        (OPEN, "42", {"question": "Question: What is 17 + 25?", "options": "", "answer": "42"}),
        (OPEN, BLANK, {"question": "Question: What is 17 + 25?", "options": "", "answer": ""}),
    ],
    ids=["mc", "open", "blank"],
)
def test_segments_on_the_real_tokenizer_with_chat_template(
    tiny_backend, ex: QAExample, answer: str, want: dict[str, str]
) -> None:
    target = level_target(tiny_backend, NUMBER)
    tp = token_prompt(tiny_backend, ex, NUMBER, answer, target)
    assert tp.text.startswith("<|im_start|>system\n")  # the chat template is applied
    labels = token_segments(tp.offsets, segment_spans(tp.text, ex, NUMBER, answer))
    tokenizer = tiny_backend.tokenizer
    text = {
        s: tokenizer.decode([t for t, lab in zip(tp.ids, labels, strict=True) if lab == s])
        for s in ("question", "options", "answer", "instruction", OTHER)
    }
    for segment, expected in want.items():
        assert text[segment].strip() == expected
    assert text["instruction"].startswith("Give ")
    assert text["instruction"].endswith("Confidence: <number>")
    # Contiguous segments in reading order; empty ones have no token.
    runs = [lab for i, lab in enumerate(labels) if i == 0 or labels[i - 1] != lab]
    expected_order = [
        s for s in ("question", "options", "instruction", "answer") if want.get(s, "x")
    ]
    assert [lab for lab in runs if lab != OTHER] == expected_order
    # The rest: template, "Answer:", the cue, and the level's shared " " (last token).
    assert "You are a helpful AI assistant" in text[OTHER]
    assert "".join(text[OTHER].split()).endswith("assistantAnswer:Confidence:")
    assert labels[-1] == OTHER and tp.ids[-1] == target.prefix_ids[-1]
