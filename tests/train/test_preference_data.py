"""Factuality preference pairs: which wrong answer is rejected (the model's own when it was
graded wrong, else a plausible one of the same type), the completions' text, and counts."""

from __future__ import annotations

from confalign.data.example import QAExample
from confalign.data.matching import same_answer
from confalign.data.numeric import parse_number
from confalign.train.preference_data import (
    OwnAnswer,
    build_factual_pairs,
    completion,
)


def _capital(i: int, country: str, city: str) -> QAExample:
    meta = {"answer_type": "capital city"}
    return QAExample(
        id=f"c{i}", question=f"What is the capital of {country}?", gold=city, source="wf",
        meta=meta,
    )  # fmt: skip


CAPITALS = [
    _capital(0, "France", "Paris"),
    _capital(1, "Japan", "Tokyo"),
    _capital(2, "Peru", "Lima"),
    _capital(3, "Kenya", "Nairobi"),
    _capital(4, "Chile", "Santiago"),
]
SUMS = [
    QAExample(id=f"m{i}", question=f"What is {i} + 2?", gold=str(i + 2), source="math",
              meta={"match": "numeric"})
    for i in range(3)
]  # fmt: skip
MC = QAExample(id="mc", question="2+2?", choices=("3", "4"), gold=1)


def test_completion_is_the_first_line_after_one_space() -> None:
    assert completion("Paris") == " Paris"
    assert completion("  Lima\nQuestion: next") == " Lima"
    assert completion("   ") == ""


def test_the_models_own_wrong_answer_is_rejected_else_a_plausible_one() -> None:
    examples = [*CAPITALS, *SUMS, MC]
    own = {
        "c0": OwnAnswer("Lyon\nQuestion: ...", False),  # wrong: rejected as said
        "c1": OwnAnswer("Tokyo is the capital of Japan.", True),  # right: a distractor
        "c2": OwnAnswer("", None),  # no answer: a distractor
        "c3": OwnAnswer("nairobi", False),  # graded wrong but the same answer: a distractor
        "m0": OwnAnswer("0 + 2 = 3 + 1", False),  # the number the grader reads: 3
        "m1": OwnAnswer("3", True),
    }  # c4, m2: never answered
    prompts = {ex.id: f"Question: {ex.question}\nAnswer:" for ex in examples}
    pairs, counts = build_factual_pairs(examples, own, prompts, seed=0)
    by_id = {p.example_id: p for p in pairs}
    assert set(by_id) == {ex.id for ex in examples} - {"mc"}
    assert dict(counts) == {"dropped_mc": 1, "own_wrong": 2, "distractor": 6, "kept": 8}
    assert (by_id["c0"].rejected, by_id["c0"].source) == (" Lyon", "own_wrong")
    assert (by_id["m0"].rejected, by_id["m0"].source) == (" 3", "own_wrong")
    assert by_id["c0"].chosen == " Paris" and by_id["m2"].chosen == " 4"
    assert by_id["c0"].prompt == "Question: What is the capital of France?\nAnswer:"
    cities = {" " + ex.gold_text for ex in CAPITALS}
    for ex in CAPITALS[1:]:
        p = by_id[ex.id]
        assert p.source == "distractor" and p.rejected in cities  # another capital
        assert not same_answer(p.rejected, ex.gold_text)
    for ex in SUMS[1:]:  # arithmetic gets a close wrong number, not a city
        wrong = parse_number(by_id[ex.id].rejected)
        assert wrong is not None and wrong.value != int(ex.gold_text)


def test_pairs_do_not_depend_on_the_order_of_the_questions() -> None:
    own: dict[str, OwnAnswer] = {}
    prompts = {ex.id: ex.question for ex in CAPITALS}
    forward, _ = build_factual_pairs(CAPITALS, own, prompts, seed=3)
    backward, _ = build_factual_pairs(CAPITALS[::-1], own, prompts, seed=3)
    assert sorted(forward, key=lambda p: p.example_id) == sorted(
        backward, key=lambda p: p.example_id
    )
