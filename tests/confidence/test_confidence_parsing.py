"""The parsers on tables of real-looking responses, failures included."""

from __future__ import annotations

import pytest

from confalign.confidence.parsing import parse_choice, parse_confidence, parse_open_answer

FAIL = None

# (format, response, expected value (None: failure), expected ambiguous flag)
CONFIDENCE_TABLE: list[tuple[str, str, float | None, bool]] = [
    # probability (DCA): "Probability: X%"
    ("probability", "Probability: 85%", 0.85, False),
    ("probability", "Answer: C\nProbability: 70%", 0.70, False),
    ("probability", "Answer: C\nProbability: 85 %", 0.85, False),
    ("probability", "The probability of 85 percent", 0.85, False),
    ("probability", "**Probability:** 90%", 0.90, False),
    ("probability", "Answer: B\n\n**Probability: 60%**", 0.60, False),
    ("probability", "Probability: 100%", 1.0, False),
    ("probability", "Probability: 0%", 0.0, False),
    ("probability", "Probability: 100", 1.0, False),
    ("probability", "Probability: 85", 0.85, False),
    ("probability", "Probability: 0", 0.0, False),
    ("probability", "Probability: 1", 0.01, True),
    ("probability", "Probability: 0.01", 0.01, True),
    ("probability", "Probability: 0.85", 0.85, True),
    ("probability", "Probability: 1.0", 1.0, True),
    ("probability", "Probability: 0.0", 0.0, False),
    ("probability", "Probability: 0.01%", 0.0001, False),
    ("probability", "Probability: 85.5", 0.855, False),
    ("probability", "Probability: 72.5%.", 0.725, False),
    ("probability", "Probability:\n85%", 0.85, False),
    ("probability", "probability: 40% (I am not sure)", 0.40, False),
    ("probability", "Probability that my answer is correct: 85%", 0.85, False),
    (
        "probability",
        "Answer: Paris\nProbability: 95%\nExplanation: Paris is the capital.",
        0.95,
        False,
    ),
    ("probability", "I am 85% sure the answer is C.", 0.85, False),
    ("probability", "There is a 30% chance that B is right.", 0.30, False),
    ("probability", "Answer: B. 25%", FAIL, False),
    ("probability", "B. 25% of the population", FAIL, False),
    ("probability", " 100%", FAIL, False),
    ("probability", "Probability: 85/100", 0.85, False),
    ("probability", "Probability: 150%", FAIL, False),
    ("probability", "Probability: 101", FAIL, False),
    ("probability", "Probability: -5%", FAIL, False),
    ("probability", "Probability: 80-90%", FAIL, False),
    ("probability", "Probability: 80 to 90%", FAIL, False),
    ("probability", "Probability: X%", FAIL, False),
    ("probability", "Probability: high", FAIL, False),
    ("probability", "Answer: C", FAIL, False),
    ("probability", "The answer is C because the mitochondria is the powerhouse.", FAIL, False),
    ("probability", "Probability: 95%\nProbability: 60%", FAIL, False),
    ("probability", "I'd say 60% or maybe 70%.", FAIL, False),
    ("probability", "Probability: 8/10", FAIL, False),
    ("probability", "", FAIL, False),
    # score_percent (ConfTuner style): "Confidence: X%"
    ("score_percent", "Confidence: 70%", 0.70, False),
    ("score_percent", "Answer: C\nConfidence: 70%", 0.70, False),
    ("score_percent", "My confidence level is 85%.", 0.85, False),
    ("score_percent", "Confidence level: high (80%)", 0.80, False),
    ("score_percent", "Confidence: 90 percent", 0.90, False),
    ("score_percent", "Confidence (0-100%): 40%", FAIL, False),
    ("score_percent", "Confidence: 200%", FAIL, False),
    ("score_percent", "Then give your confidence, from 0% to 100%, that it is right", FAIL, False),
    # score_float: "Confidence: 0.xx"
    ("score_float", "Confidence: 0.85", 0.85, False),
    ("score_float", "Answer: B\nConfidence: 0.9", 0.9, False),
    ("score_float", "Confidence: .75", 0.75, False),
    ("score_float", "Confidence: 1", 1.0, False),
    ("score_float", "Confidence: 0", 0.0, False),
    ("score_float", "Confidence: 1.00", 1.0, False),
    ("score_float", "**Confidence**: 0.60", 0.60, False),
    ("score_float", "Confidence: 85", 0.85, True),
    ("score_float", "Confidence: 85%", 0.85, False),
    ("score_float", "Confidence: 1.5", 0.015, True),
    ("score_float", "Confidence: 0.8-0.9", FAIL, False),
    ("score_float", "Confidence: 250", FAIL, False),
    ("score_float", "Confidence: very sure", FAIL, False),
    # score_number: N in 0..9 -> N/9
    ("score_number", "Confidence: 7", 7 / 9, False),
    ("score_number", "Answer: D\nConfidence: 9", 1.0, False),
    ("score_number", "Confidence: 0", 0.0, False),
    ("score_number", "Confidence: 8/9", 8 / 9, False),
    ("score_number", "Confidence: 6 out of 9", 6 / 9, False),
    ("score_number", "confidence: **5**", 5 / 9, False),
    ("score_number", "Confidence: 10", FAIL, False),
    ("score_number", "Confidence: 8/10", FAIL, False),
    ("score_number", "Confidence: 7.5", FAIL, False),
    ("score_number", "Confidence: 9.0", 1.0, False),
    ("score_number", "Confidence: 0.00000", 0.0, False),
    ("score_number", "Confidence: 80%", FAIL, False),
    ("score_number", "Confidence: seven", FAIL, False),
    # score_letter: A=0.9 .. E=0.1
    ("score_letter", "Confidence: B", 0.7, False),
    ("score_letter", "Answer: C\nConfidence: B", 0.7, False),
    ("score_letter", "Answer: A\nConfidence: E", 0.1, False),
    ("score_letter", "**B**", FAIL, False),
    ("score_letter", "Confidence: (A)", 0.9, False),
    ("score_letter", "Confidence: **D** - low", 0.3, False),
    ("score_letter", "A", FAIL, False),  # the answer letter, not a confidence
    ("score_letter", "Confidence: F", FAIL, False),
    ("score_letter", "Confidence: b", FAIL, False),
    ("score_letter", "Confidence: Very high", FAIL, False),
    ("score_letter", "Answer: C", FAIL, False),
    # score_text: very high 0.9 .. very low 0.1
    ("score_text", "Confidence: very high", 0.9, False),
    ("score_text", "Confidence: Very High", 0.9, False),
    ("score_text", "Answer: Paris\nConfidence: high", 0.7, False),
    ("score_text", "Confidence: medium.", 0.5, False),
    ("score_text", "Confidence: LOW", 0.3, False),
    ("score_text", "Confidence: very-low", 0.1, False),
    ("score_text", "I have high confidence in this answer.", 0.7, False),
    ("score_text", "very low", 0.1, False),
    ("score_text", "Confidence: moderate", FAIL, False),
    ("score_text", "Confidence: highly uncertain", FAIL, False),
    ("score_text", "Confidence: 80%", FAIL, False),
    ("score_text", "Confidence: high\nConfidence: low", FAIL, False),
]


@pytest.mark.parametrize(("fmt", "text", "value", "ambiguous"), CONFIDENCE_TABLE)
def test_parse_confidence_table(fmt: str, text: str, value: float | None, ambiguous: bool) -> None:
    got = parse_confidence(text, fmt)
    if value is None:
        assert got.failed, got
        assert got.value is None
        assert got.error
    else:
        assert not got.failed, got
        assert got.value == pytest.approx(value, abs=1e-12)
        assert got.error == ""
    assert got.ambiguous is ambiguous


def test_confidence_table_is_large_and_has_failures() -> None:
    assert len(CONFIDENCE_TABLE) >= 40
    assert sum(v is None for _, _, v, _ in CONFIDENCE_TABLE) >= 20
    assert {f for f, *_ in CONFIDENCE_TABLE} == {
        "probability",
        "score_percent",
        "score_float",
        "score_number",
        "score_letter",
        "score_text",
    }


def test_parse_confidence_reports_cue_and_level() -> None:
    got = parse_confidence("Answer: C\nProbability: 85 %", "probability")
    assert got.cue_found and got.level == "85 %"
    assert parse_confidence("85%", "probability").failed  # no cue: could be an answer
    bare = parse_confidence("Very high.", "score_text")
    assert not bare.cue_found and bare.value == pytest.approx(0.9)
    assert "out of range" in parse_confidence("Probability: 150%", "probability").error
    assert "conflicting" in parse_confidence("Confidence: 7\nConfidence: 3", "score_number").error


def test_parse_confidence_unknown_format() -> None:
    with pytest.raises(ValueError, match="Known:"):
        parse_confidence("Probability: 85%", "probabilty")


# (response, number of options, expected letter or None)
CHOICE_TABLE: list[tuple[str, int, str | None]] = [
    ("Answer: C", 4, "C"),
    ("Answer: C\nProbability: 70%", 4, "C"),
    (" C", 4, "C"),
    ("C", 4, "C"),
    ("C.", 4, "C"),
    (" C. Paris", 4, "C"),
    ("C) Paris", 4, "C"),
    ("(B)", 4, "B"),
    ("[D]", 4, "D"),
    ("**B**", 4, "B"),
    ("**Answer:** B", 4, "B"),
    ("Answer: **B**", 4, "B"),
    ("The answer is C.", 4, "C"),
    ("The answer is: A", 4, "A"),
    ("A. range\n\nThe answer is D. median", 4, "D"),
    ("The correct answer is (A).", 4, "A"),
    ("answer: d", 4, None),
    ("The answer is option B", 4, "B"),
    ("I think the right choice is option D, because of the law.", 4, "D"),
    ("Answer - A", 4, "A"),
    ("Answer= B", 4, "B"),
    ("B\nConfidence: A", 4, "B"),
    ("Answer: C\nConfidence: B", 4, "C"),
    ("  A: The mitochondria", 4, "A"),
    ("\n\nB", 4, "B"),
    ("E", 5, "E"),
    ("E", 4, None),
    ("Answer: E", 4, None),
    ("Answer: J", 10, "J"),
    ("a", 4, None),
    ("a dog is an animal", 4, None),
    ("", 4, None),
    ("   ", 4, None),
    ("I don't know.", 4, None),
    ("Paris", 4, None),
    ("The mitochondria is the powerhouse of the cell.", 4, None),
    ("Probability: 85%", 4, None),
    ("Answer:", 4, None),
    ("1", 4, None),
    ("Answer: 2", 4, None),
    ("Option C is correct.", 4, "C"),
    ("`C`", 4, "C"),
    ("A B C D", 4, "A"),
]


@pytest.mark.parametrize(("text", "k", "letter"), CHOICE_TABLE)
def test_parse_choice_table(text: str, k: int, letter: str | None) -> None:
    assert parse_choice(text, k) == letter


def test_choice_table_is_large() -> None:
    assert len(CHOICE_TABLE) >= 40
    assert sum(x is None for *_, x in CHOICE_TABLE) >= 10


OPEN_TABLE: list[tuple[str, str]] = [
    ("Paris", "Paris"),
    (" Paris", "Paris"),
    ("Paris.", "Paris."),
    ("Answer: Paris", "Paris"),
    ("Answer: Paris\nProbability: 90%", "Paris"),
    ("Answer: Paris\nConfidence: high", "Paris"),
    ("Paris\nProbability: 90%", "Paris"),
    ("Paris. Probability: 90%", "Paris."),
    ("Paris, Confidence: 0.9", "Paris"),
    ("**Answer:** George Washington", "George Washington"),
    ("Answer: **George Washington**", "George Washington"),
    ("answer: 42", "42"),
    ("The answer: 1969", "1969"),
    ("\n\nMount Everest\n", "Mount Everest"),
    ("Mount Everest\nIt is the highest mountain.", "Mount Everest"),
    ("Probability: 90%\nAnswer: Paris", "Paris"),
    ("Probability: 90%", ""),
    ("Confidence: 0.5", ""),
    ("", ""),
    ("   \n  ", ""),
    ("Answer:", ""),
    ("Answer:\nParis", ""),
    ("# Paris", "Paris"),
    ("`H2O`", "H2O"),
    ("Answer: H2O;", "H2O"),
    ("Answer: 3.14", "3.14"),
    ("Answer: 7 (seven)", "7 (seven)"),
    ("Answer: Leonardo da Vinci\n\nProbability: 80%", "Leonardo da Vinci"),
    ("Answer: Jupiter Probability: 75%", "Jupiter"),
    ("Answer: Jupiter probability: 75%", "Jupiter"),
    ("ANSWER: Jupiter", "Jupiter"),
    ("Answer : Jupiter", "Jupiter"),
    ("Answer:\tJupiter", "Jupiter"),
    ("It is Jupiter.", "It is Jupiter."),
    ("Jupiter, Saturn", "Jupiter, Saturn"),
    ("1,000", "1,000"),
    ("Answer: -5", "-5"),
    ("Answer: New York City\r\nProbability: 50%", "New York City"),
    ("**Shakespeare**", "Shakespeare"),
    ("Answer: The Beatles", "The Beatles"),
]


@pytest.mark.parametrize(("text", "answer"), OPEN_TABLE)
def test_parse_open_answer_table(text: str, answer: str) -> None:
    assert parse_open_answer(text) == answer


def test_open_table_is_large() -> None:
    assert len(OPEN_TABLE) >= 40
