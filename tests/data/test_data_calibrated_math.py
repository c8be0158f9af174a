"""CalibratedMath: the task list, determinism, hand-checked questions for every operation
(a scripted random source), and an independent check of every generated answer."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from fractions import Fraction
from itertools import pairwise
from typing import Any

import pytest

from confalign.data import generate_calibrated_math, is_correct, load_benchmark
from confalign.data.calibrated_math import OPERATIONS, Task, _question, tasks


class Scripted:
    """A random source that returns the given values in order (checking each is allowed)."""

    def __init__(self, values: Sequence[Any]) -> None:
        self.values = list(values)

    def randrange(self, start: int, stop: int | None = None) -> int:
        lo, hi = (0, start) if stop is None else (start, stop)
        v = self.values.pop(0)
        assert lo <= v < hi, (v, lo, hi)
        return v

    def choice(self, seq: Sequence[Any]) -> Any:
        v = self.values.pop(0)
        assert v in seq, (v, seq)
        return v


OPS = {op.name: op for op in OPERATIONS}


def ask(name: str, n1: int, n2: int, values: Sequence[Any], comma: bool = False) -> tuple[str, str]:
    rng = Scripted(values)
    show = (lambda x: f"{x:,}") if comma else str
    out = _question(rng, Task(OPS[name], n1, n2, comma), show)  # type: ignore[arg-type]
    assert not rng.values, "unused scripted values"
    return out


# (operation, n1, n2, scripted draws, comma) -> (question, answer), all worked out by hand.
# Two-operand draws: x1, x2, then the swap bit (1 = swap).
HAND_CHECKED = [
    (("addition", 1, 2, [7, 35, 0]), ("What is 7 + 35?", "42")),
    (("addition", 4, 4, [1234, 5678, 1], True), ("What is 5,678 + 1,234?", "6912")),
    (("subtraction", 1, 2, [7, 35, 0]), ("What is 7 - 35?", "-28")),
    (("addition_alt", 2, 2, [12, 30, 0]), ("What is 30 more than 12?", "42")),
    (("subtraction_alt", 2, 2, [12, 30, 0]), ("What is 30 less than 12?", "-18")),
    (("multiplication", 2, 3, [12, 345, 1]), ("What is 345 * 12?", "4140")),
    # division: dividend = x1 * x2, divisor x2 (after the swap)
    (("division", 1, 2, [6, 15, 1]), ("What is 90 / 6?", "15")),
    # floor division, modulo, remainder: dividend = x1 * x2 + r, r drawn below the divisor
    (("floor_division", 1, 1, [7, 4, 0, 3]), ("What is 31 // 4?", "7")),
    (("modulo", 1, 1, [7, 4, 0, 3]), ("What is 31 mod 4?", "3")),
    (("remainder", 1, 1, [4, 5, 0, 3]), ("What is the remainder when 23 is divided by 5?", "3")),
    (("remainder", 1, 3, [7, 125, 1, 0]), ("What is the remainder when 875 is divided by 7?", "0")),
    (("modulo", 2, 2, [99, 12, 0, 11], True), ("What is 1,199 mod 12?", "11")),
    # percentages: pct, then the multiple index (x = 10 * k for 10..90%, 4 * k for 25/75%)
    (("percentage", 2, 2, [30, 4]), ("What is 30% of 40?", "12")),
    (("percentage", 3, 3, [75, 26]), ("What is 75% of 104?", "78")),
    (("percentage", 4, 4, [25, 250], True), ("What is 25% of 1,000?", "250")),
    # rounding: x, then the unit; halves round up
    (("rounding", 2, 2, [25, 10]), ("What is 25 rounded to the nearest 10?", "30")),
    (("rounding", 2, 2, [47, 5]), ("What is 47 rounded to the nearest 5?", "45")),
    (("rounding", 3, 3, [250, 100]), ("What is 250 rounded to the nearest 100?", "300")),
    (("rounding", 2, 2, [49, 100]), ("What is 49 rounded to the nearest 100?", "0")),
    (("rounding", 4, 4, [1234, 100], True), ("What is 1,234 rounded to the nearest 100?", "1200")),
    # sequences: a, then the step d; the answer is a + 4d
    (("arithmetic_sequence", 1, 2, [3, 12]), ("What comes next: 3, 15, 27, 39...?", "51")),
    (("arithmetic_sequence", 2, 2, [10, 10]), ("What comes next: 10, 20, 30, 40...?", "50")),
    # fractions: p, q (p < q after ordering), then k; the answer is p/q reduced
    (("fraction_reduction", 1, 2, [3, 12, 2]), ("What is 6/24 in reduced form?", "1/4")),
    (("fraction_reduction", 1, 1, [8, 6, 5]), ("What is 30/40 in reduced form?", "3/4")),
    (("fraction_reduction", 1, 1, [4, 4, 3, 9, 1]), ("What is 3/9 in reduced form?", "1/3")),
    (("addition_3step", 1, 1, [2, 3, 4]), ("What is 2 + 3 + 4?", "9")),
    (("multiplication_3step", 1, 1, [2, 3, 4]), ("What is 2 * 3 * 4?", "24")),
]


@pytest.mark.parametrize(("args", "expected"), HAND_CHECKED)
def test_hand_checked_questions(args: tuple[Any, ...], expected: tuple[str, str]) -> None:
    assert ask(*args) == expected


def test_every_operation_is_hand_checked() -> None:
    assert {a[0] for a, _ in HAND_CHECKED} == set(OPS)


def test_task_list_matches_the_original() -> None:
    all_tasks = tasks()
    assert len(all_tasks) == 180
    assert len(tasks(("add_subtract",))) == 109 and len(tasks(("multiply_divide",))) == 71
    per_op = Counter(t.op.name for t in all_tasks)
    assert per_op == {
        "addition": 24,
        "subtraction": 24,
        "addition_alt": 24,
        "subtraction_alt": 24,
        "multiplication": 9,
        "percentage": 6,
        "division": 12,
        "floor_division": 12,
        "modulo": 12,
        "remainder": 12,
        "rounding": 6,
        "arithmetic_sequence": 6,
        "fraction_reduction": 7,
        "addition_3step": 1,
        "multiplication_3step": 1,
    }
    comma = {(t.op.name, t.n1, t.n2) for t in all_tasks if t.comma}
    assert ("multiplication", 1, 5) in comma and ("multiplication", 2, 3) not in comma
    assert ("division", 1, 3) in comma and ("division", 1, 2) not in comma
    assert ("percentage", 4, 4) in comma and ("fraction_reduction", 1, 5) not in comma
    assert len(comma) == 9 * 4 + 2 + 2 + 5 * 4 + 2


def test_deterministic_per_seed_and_independent_tasks() -> None:
    a = generate_calibrated_math(split="test", n_per_task=5, seed=1)
    assert a == generate_calibrated_math(split="test", n_per_task=5, seed=1)
    assert a != generate_calibrated_math(split="test", n_per_task=5, seed=2)
    only = generate_calibrated_math(split="test", n_per_task=5, seed=1, operations=["modulo"])
    assert only == [e for e in a if e.meta["operation"] == "modulo"]


def test_split_groups_subjects_and_meta() -> None:
    train = generate_calibrated_math(split="train", n_per_task=2)
    test = generate_calibrated_math(split="test", n_per_task=2)
    assert {e.meta["group"] for e in train} == {"add_subtract"} and {e.split for e in train} == {
        "train"
    }
    assert {e.meta["group"] for e in test} == {"multiply_divide"} and {e.split for e in test} == {
        "test"
    }
    assert not {e.id for e in train} & {e.id for e in test}
    subjects = {e.subject for e in test}
    assert {"multiplication/2", "multiplication/1-5/comma", "fraction_reduction/1-3"} <= subjects
    frac = next(e for e in test if e.meta["operation"] == "fraction_reduction")
    assert frac.meta["match"] == "fraction" and re.fullmatch(r"\d+/\d+", frac.gold)
    assert all(e.meta["match"] == "numeric" for e in train)
    with pytest.raises(ValueError, match="unknown operation"):
        generate_calibrated_math(operations=["exponent"])


_TWO = re.compile(r"What is ([\d,]+) (\+|-|\*|/|//|mod) ([\d,]+)\?")


def oracle(question: str) -> str:
    """The answer, computed from the question text alone."""

    def num(s: str) -> int:
        return int(s.replace(",", ""))

    if m := _TWO.fullmatch(question):
        a, op, b = num(m[1]), m[2], num(m[3])
        if op == "/":
            assert a % b == 0, question
        return str(
            {"+": a + b, "-": a - b, "*": a * b, "/": a // b, "//": a // b, "mod": a % b}[op]
        )
    if m := re.fullmatch(r"What is ([\d,]+) (more|less) than ([\d,]+)\?", question):
        return str(num(m[3]) + num(m[1]) if m[2] == "more" else num(m[3]) - num(m[1]))
    if m := re.fullmatch(r"What is the remainder when ([\d,]+) is divided by ([\d,]+)\?", question):
        return str(num(m[1]) % num(m[2]))
    if m := re.fullmatch(r"What is (\d+)% of ([\d,]+)\?", question):
        value = Fraction(int(m[1]) * num(m[2]), 100)
        assert value.denominator == 1, question
        return str(value.numerator)
    if m := re.fullmatch(r"What is ([\d,]+) rounded to the nearest (\d+)\?", question):
        x, unit = num(m[1]), int(m[2])
        return str(int(Fraction(x, unit) + Fraction(1, 2)) * unit)
    if m := re.fullmatch(r"What comes next: ([\d, ]+)\.\.\.\?", question):
        terms = [num(t) for t in m[1].split(", ")]
        steps = {b - a for a, b in pairwise(terms)}
        assert len(terms) == 4 and len(steps) == 1, question
        return str(terms[-1] + steps.pop())
    if m := re.fullmatch(r"What is (\d+)/(\d+) in reduced form\?", question):
        f = Fraction(int(m[1]), int(m[2]))
        assert f < 1, question
        return f"{f.numerator}/{f.denominator}"
    if m := re.fullmatch(r"What is (\d) ([+*]) (\d) \2 (\d)\?", question):
        a, b, c = int(m[1]), int(m[3]), int(m[4])
        return str(a + b + c if m[2] == "+" else a * b * c)
    raise AssertionError(f"unexpected question {question!r}")


def test_every_generated_answer_is_right() -> None:
    examples = load_benchmark("calibrated_math", split="all").examples
    assert len(examples) == 18000
    for ex in examples:
        assert ex.gold == oracle(ex.question), ex
        assert is_correct(ex.gold, ex) and all(is_correct(a, ex) for a in ex.aliases)


def test_operand_digits_match_the_subject() -> None:
    for ex in generate_calibrated_math(split="all", n_per_task=20, seed=5):
        if ex.meta["operation"] in ("addition", "subtraction", "multiplication"):
            m = _TWO.fullmatch(ex.question)
            assert m is not None
            digits = sorted(len(x.replace(",", "")) for x in (m[1], m[3]))
            assert digits == sorted((int(ex.meta["n1"]), int(ex.meta["n2"]))), ex.question
            assert ("," in ex.question) == (ex.meta["comma"] == "yes") or max(digits) < 4


def test_registered_and_offline() -> None:
    result = load_benchmark("calibrated_math", limit=50, seed=3, stratify=True)
    assert len(result.examples) == 50 and result.n_available == 7100
    mc = load_benchmark("calibrated_math_mc", subjects=["fraction_reduction"], limit=5)
    assert all(len(e.choices) == 4 and e.meta["open_gold"] == e.gold_text for e in mc.examples)
    assert len(load_benchmark("calibrated_math", subjects="multiplication").examples) == 900
