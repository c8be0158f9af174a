"""ADVICE's triplets and ConfTuner's labelled answers on hand-made examples."""

from __future__ import annotations

from pathlib import Path

import pytest

from confalign.data.example import QAExample
from confalign.train.advice_data import Triplet, build_triplets, shuffled_batches
from confalign.train.jsonl import RecordsFileError, read_records, write_records
from confalign.train.levels import OwnAnswer
from confalign.train.methods.conftuner import LabelledAnswer, label_answers

MC = QAExample(id="mc", question="Prime?", choices=("4", "6", "7", "9"), gold=2)
OPEN = QAExample(id="op", question="7 * 6?", gold="42")
OPEN2 = QAExample(id="op2", question="9 * 9?", gold="81")
EXAMPLES = [MC, OPEN, OPEN2]
FORMATS = ("score_letter", "score_number")
PROMPTS = {(ex.id, f): f"<{ex.id} {f}>" for ex in EXAMPLES for f in FORMATS}
OWN = [
    OwnAnswer("mc", "score_letter", "C", True),  # right
    OwnAnswer("mc", "score_number", "A", False),  # wrong
    OwnAnswer("op", "score_letter", "42", True),  # right
    OwnAnswer("op", "score_number", "I think 40", False),  # wrong
    OwnAnswer("op2", "score_letter", "", None),  # no answer
]


def test_greedy_keeps_right_answers_and_draws_plausible_wrong_ones() -> None:
    triplets, counts = build_triplets(EXAMPLES, OWN, PROMPTS, correct_from="greedy", seed=0)
    assert [(t.example_id, t.format, t.correct) for t in triplets] == [
        ("mc", "score_letter", "C"),
        ("op", "score_letter", "42"),
    ]
    mc, op = triplets
    assert mc.wrong in ("A", "B", "D") and mc.wrong_source == "option"
    assert op.wrong != "42" and float(op.wrong) > 0 and op.wrong_source == "distractor"
    assert mc.prompt == "<mc score_letter>" and mc.correct_source == "greedy"
    assert counts == {
        "kept": 2,
        "dropped_not_correct": 2,
        "dropped_no_answer": 1,
        "wrong_option": 1,
        "wrong_distractor": 1,
    }
    again, _ = build_triplets(EXAMPLES, OWN, PROMPTS, correct_from="greedy", seed=0)
    assert again == triplets  # seeded


def test_gold_takes_every_question_and_the_models_own_wrong_answer() -> None:
    triplets, counts = build_triplets(EXAMPLES, OWN, PROMPTS, correct_from="gold", seed=0)
    got = {(t.example_id, t.format): (t.correct, t.wrong, t.wrong_source) for t in triplets}
    assert got[("mc", "score_number")] == ("C", "A", "own")
    assert got[("op", "score_number")] == ("42", "I think 40", "own")
    assert got[("mc", "score_letter")][0] == "C" and got[("mc", "score_letter")][2] == "option"
    assert got[("op2", "score_letter")][0] == "81"  # no own answer: a distractor
    assert got[("op2", "score_letter")][2] == "distractor"
    assert counts["kept"] == 5 and counts["wrong_own"] == 2
    with pytest.raises(ValueError, match="correct_from"):
        build_triplets(EXAMPLES, OWN, PROMPTS, correct_from="best", seed=0)  # type: ignore[arg-type]


def test_batches_hold_one_format_each() -> None:
    triplets, _ = build_triplets(EXAMPLES, OWN, PROMPTS, correct_from="gold", seed=0)
    batches = shuffled_batches(triplets, 2, seed=1)
    assert sorted(len(b) for b in batches) == [1, 2, 2]  # 3 letter + 2 number triplets
    assert all(len({t.format for t in b}) == 1 for b in batches)
    assert sorted(t.example_id + t.format for b in batches for t in b) == sorted(
        t.example_id + t.format for t in triplets
    )


def test_labelled_answers_and_the_records_file(tmp_path: Path) -> None:
    labelled, counts = label_answers(OWN, PROMPTS)
    assert [(a.example_id, a.answer, a.correct) for a in labelled] == [
        ("mc", "C", True),
        ("mc", "A", False),
        ("op", "42", True),
        ("op", "I think 40", False),
    ]
    assert counts == {"kept": 4, "right": 2, "wrong": 2, "dropped_no_answer": 1}
    path = tmp_path / "data.jsonl"
    write_records(labelled, path)
    assert read_records(path, LabelledAnswer) == labelled
    path.write_text(path.read_text().replace('"correct": true', '"right": true', 1))
    with pytest.raises(RecordsFileError, match=r"data.jsonl: row 1: missing field 'correct'"):
        read_records(path, LabelledAnswer)
    path.write_text("{not json\n")
    with pytest.raises(RecordsFileError, match="row 1: not JSON"):
        read_records(path, Triplet)
