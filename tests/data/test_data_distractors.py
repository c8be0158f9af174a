"""Distractor augmentation: pool and numeric distractors never equal an accepted answer, the
gold position is uniform, and the result is a valid multiple-choice example."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from confalign.data import (
    QAExample,
    add_distractors,
    generate_calibrated_math,
    is_correct,
    normalize_answer,
    numeric_distractors,
    parse_number,
)

CAPITALS = ["Paris", "Berlin", "Rome", "Madrid", "Lisbon", "Vienna", "Oslo", "Bern", "Prague"]


def open_questions(n: int) -> list[QAExample]:
    return [
        QAExample(
            f"q{i}",
            f"Capital {i}?",
            gold=CAPITALS[i % len(CAPITALS)],
            aliases=(f"the city of {CAPITALS[i % len(CAPITALS)]}",),
        )
        for i in range(n)
    ]


def test_pool_distractors_are_other_answers_never_an_alias() -> None:
    data = [*open_questions(30), QAExample("tricky", "Where?", gold="The Rome", aliases=("paris",))]
    mc = add_distractors(data, k=3, seed=0)
    for orig, ex in zip(data, mc, strict=True):
        assert ex.id == orig.id and ex.question == orig.question and len(ex.choices) == 4
        assert ex.gold_text == orig.gold and ex.meta["open_gold"] == orig.gold
        keys = [normalize_answer(c) for c in ex.choices]
        assert len(set(keys)) == 4
        for i, c in enumerate(ex.choices):
            if i != ex.gold:
                assert c in CAPITALS
                assert normalize_answer(c) not in {normalize_answer(a) for a in orig.answers}
        assert is_correct(ex.gold_letter, ex)
    tricky = mc[-1]
    assert not {"Rome", "Paris"} & {c for i, c in enumerate(tricky.choices) if i != tricky.gold}


def test_deterministic_and_independent_of_other_examples() -> None:
    data = open_questions(40)
    a = add_distractors(data, seed=1)
    assert a == add_distractors(data, seed=1) and a != add_distractors(data, seed=2)
    assert add_distractors(data[::-1], seed=1)[::-1] == a


def test_gold_position_is_uniform() -> None:
    data = open_questions(4000)
    counts = Counter(ex.gold for ex in add_distractors(data, seed=0))
    expected = len(data) / 4
    chi2 = sum((counts[k] - expected) ** 2 / expected for k in range(4))
    assert chi2 < 16.27, counts  # chi-square, 3 degrees of freedom, p = 0.001


def test_same_answer_type_first() -> None:
    data = [*open_questions(10), *(QAExample(f"n{i}", "How many?", gold=str(i)) for i in range(10))]
    for ex in add_distractors(data, seed=0):
        wrong = [c for i, c in enumerate(ex.choices) if i != ex.gold]
        numeric = parse_number(ex.gold_text) is not None
        assert all((parse_number(c) is not None) == numeric for c in wrong), ex


def test_too_few_answers_and_bad_inputs() -> None:
    with pytest.raises(ValueError, match="fewer than 3 other distinct answers"):
        add_distractors(open_questions(3))
    with pytest.raises(ValueError, match="already multiple choice"):
        add_distractors([QAExample("m", "?", ("a", "b"), 0)])
    with pytest.raises(ValueError, match="equals an accepted answer"):
        add_distractors(open_questions(1), source=lambda ex, rng, k: ["paris", "x", "y"])
    with pytest.raises(ValueError, match="given twice"):
        add_distractors(
            open_questions(1)[1:] or open_questions(2)[1:],
            source=lambda ex, rng, k: ["x", "X.", "y"],
        )


def test_custom_source() -> None:
    (ex,) = add_distractors(open_questions(1), k=2, source=lambda e, rng, k: ["Atlantis", "Oz"])
    assert (
        sorted(ex.choices) == ["Atlantis", "Oz", "Paris"] and ex.meta["distractors"] == "<lambda>"
    )


@pytest.mark.parametrize(
    "answer",
    ["0", "7", "12", "100", "-5", "1234", "99999", "3/4", "1/2", "9/24350", "2.5", "-0.25"],
)
def test_numeric_distractors_close_and_never_equal(answer: str) -> None:
    value = parse_number(answer)
    assert value is not None
    for seed in range(30):
        got = numeric_distractors(answer, 3, rng=random.Random(seed))
        values = [parse_number(d) for d in got]
        assert all(v is not None for v in values) and len(got) == 3
        assert len({v.value for v in values if v}) == 3
        assert all(v and v.value != value.value for v in values)
        if value.value >= 0:
            assert all(v and v.value >= 0 for v in values)
        if value.is_fraction:
            assert all(v and v.is_fraction and v.in_lowest_terms for v in values)
        else:
            assert all(
                v and abs(v.value - value.value) <= max(10, abs(value.value)) for v in values
            )


def test_calibrated_math_numeric_distractors_uniform_and_valid() -> None:
    data = generate_calibrated_math(split="all", n_per_task=25, seed=0)
    mc = add_distractors(data, k=3, seed=0, source="numeric")
    counts = Counter(ex.gold for ex in mc)
    expected = len(mc) / 4
    assert sum((counts[k] - expected) ** 2 / expected for k in range(4)) < 16.27, counts
    for orig, ex in zip(data, mc, strict=True):
        gold = parse_number(orig.gold)
        for i, c in enumerate(ex.choices):
            if i != ex.gold:
                token = parse_number(c)
                assert token is not None and gold is not None and token.value != gold.value
        assert is_correct(ex.gold_letter, ex) and "match" not in ex.meta
