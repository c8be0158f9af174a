"""Format level sets equal docs/design.md's table; prompt templates are named data."""

from __future__ import annotations

import pytest

from confalign.confidence.formats import FORMAT_NAMES, FORMATS, get_format
from confalign.confidence.prompts import (
    PROMPT_TEMPLATES,
    answer_prompt,
    prefill_prompt,
    prompt_manifest,
    question_block,
    verbalized_prompt,
)
from confalign.data.example import QAExample

# docs/design.md "Confidence extraction": format -> (cue, {level: value}), written out by hand.
PERCENT = {f"{x}%": x / 100 for x in range(101)}
DESIGN_TABLE = {
    "probability": ("Probability:", PERCENT),
    "score_percent": ("Confidence:", PERCENT),
    "score_float": ("Confidence:", {f"{x / 100:.2f}": x / 100 for x in range(101)}),
    "score_number": ("Confidence:", {str(n): n / 9 for n in range(10)}),
    "score_letter": ("Confidence:", {"A": 0.9, "B": 0.7, "C": 0.5, "D": 0.3, "E": 0.1}),
    "score_text": (
        "Confidence:",
        {"very high": 0.9, "high": 0.7, "medium": 0.5, "low": 0.3, "very low": 0.1},
    ),
}


def test_format_names_match_design() -> None:
    assert set(FORMAT_NAMES) == set(DESIGN_TABLE)


@pytest.mark.parametrize("name", list(DESIGN_TABLE))
def test_levels_match_design(name: str) -> None:
    cue, levels = DESIGN_TABLE[name]
    fmt = FORMATS[name]
    assert fmt.cue == cue
    assert dict(fmt.levels) == pytest.approx(levels, abs=1e-12)
    assert len(fmt.levels) == len(levels)
    assert len(set(fmt.level_strings)) == len(fmt.levels)
    assert all(0.0 <= v <= 1.0 for v in fmt.values)
    assert cue in fmt.instruction


def test_specific_values() -> None:
    assert get_format("probability").value_of("85%") == pytest.approx(0.85)
    assert get_format("score_float").level_strings[:3] == ("0.00", "0.01", "0.02")
    assert get_format("score_float").level_strings[-1] == "1.00"
    assert len(get_format("score_float").levels) == 101
    assert get_format("score_number").value_of("8") == pytest.approx(8 / 9)
    assert get_format("score_letter").value_of("B") == 0.7
    assert get_format("score_text").value_of("very low") == 0.1


def test_continuations_carry_the_space() -> None:
    assert get_format("probability").continuation("85%") == " 85%"
    assert get_format("score_float").continuation("0.85") == " 0.85"
    assert get_format("score_text").continuation("very high") == " very high"


@pytest.mark.parametrize("name", ["probability", "score_percent", "score_float"])
def test_terminated_levels_are_not_prefixes(name: str) -> None:
    levels = FORMATS[name].level_strings
    assert not any(a != b and b.startswith(a) for a in levels for b in levels)


def test_unknown_format_lists_known() -> None:
    with pytest.raises(ValueError, match="Did you mean 'score_float'"):
        get_format("score_flaot")


MC = QAExample("q1", "What is 2+2?", ("3", "4", "5"), 1)
OPEN = QAExample("q2", "Capital of France?", gold="Paris")


def test_mc_prompt_layout() -> None:
    assert question_block(MC) == "Question: What is 2+2?\nA. 3\nB. 4\nC. 5"
    p = answer_prompt(MC)
    assert p.assistant_prefix == "Answer:"
    assert p.user.startswith(question_block(MC))
    assert "(A, B or C)" in p.user


def test_verbalized_prompts() -> None:
    fmt = get_format("probability")
    free = verbalized_prompt(MC, fmt)
    assert free.assistant_prefix == ""
    assert "Probability: <number>%" in free.user
    pre = prefill_prompt(OPEN, fmt, " Paris ")
    assert pre.assistant_prefix == "Answer: Paris\nProbability:"
    assert pre.user == verbalized_prompt(OPEN, fmt).user
    assert "Answer: <answer>" in pre.user


def test_prompt_manifest_records_templates_and_formats() -> None:
    manifest = prompt_manifest(["score_letter"])
    for t in PROMPT_TEMPLATES.values():
        assert manifest[f"{t.name}@{t.version}"] == t.text
    assert manifest["format:score_letter"]["cue"] == "Confidence:"
    assert manifest["answer_prefix"] == "Answer:"


# lm-eval 0.4 ``mmlu_high_school_biology`` and ``mmlu_continuation_high_school_biology``
# prompts for this question, written out by hand from its task templates.
MMLU = QAExample(
    "m1",
    " Which organelle makes ATP? ",
    ("Ribosome", "Mitochondrion", "Nucleus", "Vacuole"),
    1,
    subject="high_school_biology",
    source="mmlu_offline",
)
LM_EVAL_MMLU = (
    "The following are multiple choice questions (with answers) about high school biology.\n\n"
    "Which organelle makes ATP?\nA. Ribosome\nB. Mitochondrion\nC. Nucleus\nD. Vacuole\nAnswer:"
)
LM_EVAL_MMLU_CONTINUATION = (
    "The following are questions (with answers) about high school biology.\n\n"
    "Question: Which organelle makes ATP?\nAnswer:"
)


def test_base_model_prompts_are_lm_evals_mmlu_templates() -> None:
    from confalign.backends.base import plain_text
    from confalign.confidence.prompts import continuation_prompt

    assert plain_text(answer_prompt(MMLU)) == LM_EVAL_MMLU
    assert plain_text(continuation_prompt(MMLU)) == LM_EVAL_MMLU_CONTINUATION
    # no description line outside MMLU; the same layout otherwise
    other = QAExample("x", "2+2?", ("3", "4"), 1, subject="arith", source="calibrated_math")
    assert plain_text(answer_prompt(other)) == "2+2?\nA. 3\nB. 4\nAnswer:"
    assert plain_text(continuation_prompt(other)) == "Question: 2+2?\nAnswer:"
    assert plain_text(answer_prompt(OPEN)) == "Question: Capital of France?\nAnswer:"


def test_base_model_prefill_puts_the_answer_on_its_own_line() -> None:
    from confalign.backends.base import plain_text

    fmt = get_format("probability")
    text = plain_text(prefill_prompt(MC, fmt, "B"))
    user = verbalized_prompt(MC, fmt).user
    assert text == f"{user}\nAnswer: B\nProbability:"
    assert plain_text(verbalized_prompt(MC, fmt, "Answer:")) == f"{user}\nAnswer:"
