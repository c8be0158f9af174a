"""Answer matching: SQuAD/TriviaQA normalisation, aliases, the exact and contains graders,
option letters, numbers (CalibratedMath's tricky outputs). The hand-labelled verdicts of the
contains grader are in ``test_data_grading.py``."""

from __future__ import annotations

from fractions import Fraction

import pytest

from confalign.data import QAExample, extract_number, is_correct, normalize_answer, parse_number
from confalign.data.grading import contains_match
from confalign.data.matching import exact_match, option_letter
from confalign.data.numeric import numeric_match


@pytest.mark.parametrize(
    ("raw", "norm"),
    [
        ("The Beatles", "beatles"),
        ("  A   cat, an apple!  ", "cat apple"),
        ("Theatre", "theatre"),  # 'the' only as a whole word
        ("U.S.A.", "usa"),
        ("don’t stop", "dont stop"),  # Unicode apostrophe is punctuation too
        ("«Les Misérables»", "les misérables"),
        ("rock_and_roll", "rockandroll"),
        ("1,234", "1234"),
        ("Anne  of\tGreen\nGables", "anne of green gables"),
    ],
)
def test_normalize_answer(raw: str, norm: str) -> None:
    assert normalize_answer(raw) == norm


def open_q(gold: str, *aliases: str, match: str = "text", question: str = "?") -> QAExample:
    meta = {} if match == "text" else {"match": match}
    return QAExample("q", question, gold=gold, aliases=aliases, meta=meta)


def test_aliases_and_normalised_exact_match() -> None:
    ex = open_q("Sunset Boulevard", "Sunset Blvd")
    assert is_correct("sunset blvd", ex) and is_correct("The Sunset Boulevard.", ex)
    assert not is_correct("Sunset", ex) and not is_correct("", ex) and not is_correct("  ", ex)


def test_answer_that_normalises_to_nothing() -> None:
    ex = open_q("The The")  # a band: normalisation would leave nothing
    assert is_correct("the the", ex) and not is_correct("the", ex) and not is_correct("", ex)
    assert not exact_match("", ["a"])


def test_contains_is_the_default_and_exact_is_strict() -> None:
    ex = open_q("Paris")
    assert not is_correct("Paris, France", ex, grader="exact")
    assert is_correct("Paris, France", ex)
    assert is_correct("I think it is the city of Paris.", ex, grader="contains")
    assert not contains_match("Parisian cafes", ["Paris"])  # whole words only
    assert not contains_match("concatenate", ["cat"])


def test_multiple_choice_compares_letters() -> None:
    ex = QAExample("m", "?", ("x", "y", "z"), 1)
    for good in ("B", " B ", "(B)", "B.", "B)", "[B]", "**B**"):
        assert is_correct(good, ex), good
    for bad in ("A", "b", "y", "B is right", "D", ""):
        assert not is_correct(bad, ex), bad
    assert option_letter("D", 3) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1,234", Fraction(1234)),
        ("1234.", Fraction(1234)),
        ("-5", Fraction(-5)),
        ("\u22125", Fraction(-5)),  # Unicode minus sign
        ("+7", Fraction(7)),
        ("3/4", Fraction(3, 4)),
        ("0.75", Fraction(3, 4)),
        (".5", Fraction(1, 2)),
        ("12,345,678", Fraction(12345678)),
        ("20%", Fraction(20)),
    ],
)
def test_parse_number(text: str, value: Fraction) -> None:
    token = parse_number(text)
    assert token is not None and token.value == value


@pytest.mark.parametrize("text", ["twelve", "12 apples", "1/0", "", "3/4/5", "1,23,4"])
def test_parse_number_rejects(text: str) -> None:
    assert parse_number(text) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("The answer is 12", 12),
        ("12, and I am 90% sure", 12),  # first number: the answer comes first
        ("5 + 7 = 12", 12),  # after the last '=': a restated equation
        ("x = -3", -3),
        ("It is 1,234.", 1234),
        ("1,23", 1),  # commas only in groups of three
        ("5-3", 5),
        ("answer: \u221242", -42),
        ("5960 / 149 \u2248 2.99", Fraction(299, 100)),  # ≈, ≡, ≃ are relations like =
        ("63837 / 21279 \u2261 0.0", 0),
    ],
)
def test_extract_number(text: str, value: int | Fraction) -> None:
    token = extract_number(text)
    assert token is not None and token.value == value


def test_extract_number_none() -> None:
    assert extract_number("no idea") is None


def test_numeric_mode_on_tricky_outputs() -> None:
    ex = open_q("1234", "1,234", match="numeric")
    for good in ("1,234", "1234.", "1234", "The answer is 1234", "1234.0", "1 + 1233 = 1234"):
        assert is_correct(good, ex), good
    for bad in ("123", "12,34", "1235", "about one thousand", ""):
        assert not is_correct(bad, ex), bad
    assert is_correct("-5", open_q("-5", match="numeric"))
    assert is_correct("\u22125", open_q("-5", match="numeric"))
    assert not is_correct("5", open_q("-5", match="numeric"))
    assert is_correct("3/4", open_q("0.75", match="numeric"))  # exact rationals
    assert is_correct("0.75", open_q("3/4", match="numeric"))


def test_a_fraction_copied_from_the_question_is_not_an_answer() -> None:
    """Outputs of the default model on CalibratedMath: restating "a / b" is not answering."""
    ex = open_q("608", match="numeric", question="What is 608 / 1?")
    assert not is_correct("608 / 1", ex) and not is_correct("608/1 is not a valid answer.", ex)
    assert is_correct("608", ex) and is_correct("608 / 1 = 608", ex)
    assert not is_correct("247 / 247", open_q("1", match="numeric", question="247 / 247 = ?"))
    floor = open_q("11589", match="numeric", question="What is 11589 // 1?")
    assert not is_correct("11589 / 1 is not a valid answer.", floor)
    commas = open_q("86299", match="numeric", question="What is 86,299 / 1?")
    assert not is_correct("86299/1", commas) and is_correct("86,299 / 1 = 86,299.", commas)
    assert is_correct("3/4", open_q("0.75", match="numeric", question="What is 75% of 1?"))
    assert not numeric_match("608 / 1", "608", question="What is 608 / 1?")
    assert numeric_match("608 / 1", "608")  # without the question: value only
    reduced = open_q("3/5", match="fraction", question="What is 3/5 in reduced form?")
    assert is_correct("3/5", reduced)  # the reference itself is the copied fraction


def test_fraction_mode_wants_the_reduced_form() -> None:
    ex = open_q("3/4", match="fraction")
    assert is_correct("3/4", ex) and is_correct("The reduced form is 3 / 4", ex)
    assert not is_correct("6/8", ex)  # right value, not reduced
    assert not is_correct("0.75", ex)  # not a fraction
    assert not is_correct("4/3", ex)
    assert numeric_match("-1/2", "-1/2", reduced_fraction=True)


def test_numeric_mode_needs_a_numeric_reference() -> None:
    with pytest.raises(ValueError, match="no answer is a number"):
        is_correct("3", open_q("three", match="numeric"))


def test_text_mode_compares_numbers_as_numbers() -> None:
    ex = open_q("-5")
    assert not is_correct("5", ex) and is_correct("\u22125", ex)
    assert is_correct("1234", open_q("1,234"))
