"""The contains grader against hand-labelled verdicts: what a reader says of each answer.

Each case is (id, answer, gold and aliases, the reader's verdict, the rule expected to decide).
Known limits of a rule-based grader are listed apart as strict xfails: if one starts passing,
the docstring of ``confalign.data.grading`` must change with it.
"""

from __future__ import annotations

import pytest

from confalign.data import Grade, QAExample, grade
from confalign.data.answer_tokens import fold, tokenize

R, W = True, False
CASES: list[tuple[str, str, tuple[str, ...], bool, str]] = [
    # bare answers and sentences
    ("bare", "Paris", ("Paris",), R, "contains"),
    ("bare-lower", "paris", ("Paris",), R, "contains"),
    ("bare-full-stop", "Paris.", ("Paris",), R, "contains"),
    ("sentence-subject", "Paris is the capital of France.", ("Paris",), R, "contains"),
    ("sentence-object", "The capital of Thailand is Bangkok.", ("Bangkok",), R, "contains"),
    ("sentence-moscow", "Moscow is the capital of Russia.", ("Moscow",), R, "contains"),
    ("sentence-i-think", "I think it is the city of Paris.", ("Paris",), R, "contains"),
    ("answer-colon", "Answer: Canberra", ("Canberra",), R, "contains"),
    ("city-country", "Paris, France", ("Paris",), R, "contains"),
    ("bold-markdown", "**Ottawa**", ("Ottawa",), R, "contains"),
    ("quoted", '"Nairobi"', ("Nairobi",), R, "contains"),
    ("multiline", "Lima\nIt is in Peru.", ("Lima",), R, "contains"),
    ("wrong-bare", "Lyon", ("Paris",), W, "contains"),
    ("wrong-sentence", "The capital of Australia is Sydney.", ("Canberra",), W, "contains"),
    ("refusal", "I don't know.", ("Paris",), W, "contains"),
    # accents and other letters
    ("accent-missing", "Brasilia", ("Brasília",), R, "contains"),
    ("accent-added", "Bogotá", ("Bogota",), R, "contains"),
    ("comma-below-s", "Bucuresti", ("București",), R, "contains"),
    ("cedilla-s", "Bucureşti", ("București",), R, "contains"),
    ("o-slash", "Tromso", ("Tromsø",), R, "contains"),
    ("l-stroke", "Lodz", ("Łódź",), R, "contains"),
    ("eszett", "Strasse", ("Straße",), R, "contains"),
    ("ae-ligature", "Aesir", ("Æsir",), R, "contains"),
    ("d-stroke", "Dakovo", ("Đakovo",), R, "contains"),
    ("accent-in-sentence", "The capital of Iceland is Reykjavik.", ("Reykjavík",), R, "contains"),
    ("accent-wrong-city", "Bogota", ("Brasília",), W, "contains"),
    # negation in the same clause
    ("neg-comma", "Lagos, not Abuja", ("Abuja",), W, "contains"),
    ("neg-is-not", "It is not Paris", ("Paris",), W, "contains"),
    ("neg-contraction", "It isn't Paris.", ("Paris",), W, "contains"),
    ("neg-curly-apostrophe", "It isn’t Paris.", ("Paris",), W, "contains"),
    ("neg-never", "Paris was never the capital.", ("Paris",), W, "contains"),
    ("neg-neither-nor", "Neither Paris nor Lyon.", ("Paris",), W, "contains"),
    ("neg-other-clause", "Paris, not Lyon", ("Paris",), R, "contains"),
    ("neg-corrected", "It is not Lyon, it is Paris.", ("Paris",), R, "contains"),
    ("neg-but", "Not Lyon but Paris", ("Paris",), R, "contains"),
    ("hedge-not-sure", "I'm not sure, but I think it is Paris.", ("Paris",), R, "contains"),
    ("hedge-not-certain", "I am not certain it is Paris.", ("Paris",), R, "contains"),
    (
        "hedge-not-only",
        "Paris is not only the capital but the largest city.",
        ("Paris",),
        R,
        "contains",
    ),
    ("hedge-probably", "Probably Paris.", ("Paris",), R, "contains"),
    # alternatives and lists
    ("alt-or", "Paris or Lyon", ("Paris",), W, "contains"),
    ("alt-either", "It is either Paris or Lyon.", ("Paris",), W, "contains"),
    ("alt-or-first", "Lyon or Paris", ("Paris",), W, "contains"),
    ("alt-slash", "Paris/Lyon", ("Paris",), W, "contains"),
    ("alt-could-be", "It could be Paris, or maybe Lyon.", ("Paris",), W, "contains"),
    ("alt-other-sentence", "Paris. Oregon is a state.", ("Paris",), R, "contains"),
    ("list-and", "Paris and Lyon", ("Paris",), W, "contains"),
    ("list-ampersand", "Lyon & Paris", ("Paris",), W, "contains"),
    ("and-next-clause", "Paris, and it is a lovely city.", ("Paris",), R, "contains"),
    ("and-inside-gold", "Trinidad and Tobago", ("Trinidad and Tobago",), R, "contains"),
    ("part-of-and-gold", "Tobago", ("Trinidad and Tobago",), W, "contains"),
    # partial names and aliases
    ("partial-surname", "Washington", ("George Washington",), W, "contains"),
    ("partial-surname-alias", "Washington", ("George Washington", "Washington"), R, "contains"),
    ("full-name-sentence", "It was George Washington.", ("George Washington",), R, "contains"),
    ("partial-first-name", "George", ("George Washington",), W, "contains"),
    ("alias-match", "Peking", ("Beijing", "Peking"), R, "contains"),
    ("leading-article-gold", "Beatles", ("The Beatles",), R, "contains"),
    ("leading-article-answer", "The Beatles", ("Beatles",), R, "contains"),
    ("article-inside-gold", "Vitamin C", ("Vitamin A",), W, "contains"),
    ("band-the-the", "The", ("The The",), W, "contains"),
    ("hyphen-vs-space", "Guinea Bissau", ("Guinea-Bissau",), R, "contains"),
    ("abbreviation-dots", "It is Washington, D.C.", ("Washington, D.C.",), R, "contains"),
    ("abbreviation-no-comma", "Washington D.C.", ("Washington, D.C.",), R, "contains"),
    ("apostrophe-name", "Sinead O'Connor", ("Sinéad OConnor",), R, "contains"),
    # whole words
    ("cat-in-concatenate", "concatenate", ("cat",), W, "contains"),
    ("paris-in-parisian", "Parisian cafes", ("Paris",), W, "contains"),
    ("rome-in-romeo", "Romeo", ("Rome",), W, "contains"),
    ("oman-in-romania", "Romania", ("Oman",), W, "contains"),
    ("cat-word", "A cat.", ("cat",), R, "contains"),
    # numbers
    ("number-bare", "1234", ("1234",), R, "numeric"),
    ("number-commas", "1,234", ("1234",), R, "numeric"),
    ("number-gold-commas", "1234", ("1,234",), R, "numeric"),
    ("number-sign", "-5", ("5",), W, "numeric"),
    ("number-sign-gold", "5", ("-5",), W, "numeric"),
    ("number-sentence", "There are 7 continents.", ("7",), R, "numeric"),
    ("number-decimal", "0.5", ("1/2",), R, "numeric"),
    ("number-sum-result", "5 + 7 = 12", ("12",), R, "numeric"),
    ("number-sum-operand", "12 + 5 = 17", ("12",), W, "numeric"),
    ("number-negated", "Not 5, it is 6.", ("5",), W, "numeric"),
    ("number-alternative", "5 or 6", ("5",), W, "numeric"),
    ("number-word-alias", "seven", ("7", "seven"), R, "contains"),
    ("number-wrong", "8", ("7", "seven"), W, "contains"),
    ("number-in-text-gold", "World War 2", ("World War 2",), R, "contains"),
    ("number-in-text-gold-commas", "about 1,000 km", ("1000 km",), R, "contains"),
]
KNOWN_LIMITS: list[tuple[str, str, tuple[str, ...], bool]] = [
    ("other-entity-named-answer", "Sydney is the capital; Canberra is its largest city.",
     ("Canberra",), W),
    ("abbreviation-without-dots", "Washington, D.C.", ("Washington DC",), R),
    ("gold-inside-longer-name", "New York", ("York",), W),
    ("comma-list", "Lyon, Paris, Nice", ("Paris",), W),
    ("appositive-or-alias", "Beijing, or Peking", ("Beijing", "Peking"), R),
]  # fmt: skip


def _open(answers: tuple[str, ...]) -> QAExample:
    return QAExample("q", "?", gold=answers[0], aliases=answers[1:])


@pytest.mark.parametrize(
    ("answer", "answers", "expected", "rule"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_contains_verdicts(
    answer: str, answers: tuple[str, ...], expected: bool, rule: str
) -> None:
    got = grade(answer, _open(answers))
    assert (got.correct, got.rule) == (expected, rule)


@pytest.mark.parametrize(
    ("answer", "answers", "expected"),
    [
        pytest.param(*case[1:], id=case[0], marks=pytest.mark.xfail(strict=True))
        for case in KNOWN_LIMITS
    ],
)
def test_known_limits_of_a_rule(answer: str, answers: tuple[str, ...], expected: bool) -> None:
    assert grade(answer, _open(answers)).correct is expected


def test_the_table_is_large_and_ids_are_unique() -> None:
    ids = [c[0] for c in CASES]
    assert len(ids) >= 60 and len(set(ids)) == len(ids)
    assert {c[3] for c in CASES} == {True, False}


@pytest.mark.parametrize(
    ("answer", "gold", "exact", "contains"),
    [
        ("Paris", "Paris", True, True),
        ("Paris is the capital of France.", "Paris", False, True),
        ("Brasilia", "Brasília", False, True),
        ("the Paris", "Paris", True, True),
        ("-5", "5", False, False),
        ("1,234", "1234", True, True),
    ],
)
def test_exact_and_contains_side_by_side(
    answer: str, gold: str, exact: bool, contains: bool
) -> None:
    ex = _open((gold,))
    assert grade(answer, ex, grader="exact") == Grade(exact, "exact")
    assert grade(answer, ex, grader="contains").correct is contains


def test_rules_of_multiple_choice_numeric_mode_and_blank() -> None:
    mc = QAExample("m", "?", ("x", "y"), 1)
    assert (grade("B", mc).correct, grade("B", mc).rule) == (True, "letter")
    assert (grade("A", mc, grader="exact").correct, grade("A", mc).rule) == (False, "letter")
    num = QAExample("n", "?", gold="12", meta={"match": "numeric"})
    assert (grade("5 + 7 = 12", num, grader="exact").correct, grade("x", num).rule) == (
        True,
        "numeric",
    )
    assert (grade("  ", _open(("Paris",))).correct, grade("", _open(("Paris",))).rule) == (None, "")
    with pytest.raises(ValueError, match="unknown grader 'judge'"):
        grade("Paris", _open(("Paris",)), grader="judge")  # type: ignore[arg-type]


def test_fold_and_tokens() -> None:
    assert fold("Brasília Ørsted ŁÓDŹ Straße Æsir ﬁne") == "brasilia orsted lodz strasse aesir fine"
    tokens = tokenize("It isn't 1,234; maybe -5/Lyon")
    assert [t.text for t in tokens] == ["it", "isnt", "#1234", "maybe", "#-5", "or", "lyon"]
    assert [t.negation for t in tokens] == [False, True, False, False, False, False, False]
    assert [(t.clause, t.sentence) for t in tokens][2:4] == [(0, 0), (1, 1)]
