"""Consistency: agreement and entropy on hand-made answer lists, and the extractor."""

from __future__ import annotations

import math

import pytest
from conf_doubles import ScriptedBackend, mc_example, open_example

from confalign.confidence.consistency import (
    ConsistencyConfig,
    ConsistencyExtractor,
    agreement,
    entropy_confidence,
    example_seed,
    majority_answer,
)
from confalign.data.example import QAExample


@pytest.mark.parametrize(
    ("answers", "majority", "agree", "entropy"),
    [
        (["a"] * 10, "a", 1.0, 1.0),
        (
            ["a"] * 7 + ["b"] * 3,
            "a",
            0.7,
            1 - (-(0.7 * math.log(0.7) + 0.3 * math.log(0.3))) / math.log(10),
        ),
        (["a", "b", "c", "d"], "a", 0.25, 0.0),
        (["b", "a", "a", "b"], "b", 0.5, 1 - math.log(2) / math.log(4)),
        (
            ["", "a", "", ""],
            "a",
            0.25,
            1 - (-(0.75 * math.log(0.75) + 0.25 * math.log(0.25))) / math.log(4),
        ),
        (["x"], "x", 1.0, 1.0),
        (["a", "b"], "a", 0.5, 0.0),
    ],
)
def test_hand_made_lists(answers: list[str], majority: str, agree: float, entropy: float) -> None:
    assert majority_answer(answers) == majority
    assert agreement(answers) == pytest.approx(agree)
    assert entropy_confidence(answers) == pytest.approx(entropy)


def test_all_empty_is_a_failure() -> None:
    assert majority_answer(["", ""]) == ""
    assert agreement(["", ""]) is None
    assert entropy_confidence(["", ""]) is None
    with pytest.raises(ValueError):
        agreement([])


def test_ties_broken_by_first_seen() -> None:
    assert majority_answer(["c", "b", "b", "c", "a"]) == "c"
    assert majority_answer(["", "b", "c"]) == "b"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n": 0},
        {"temperature": 0.0},
        {"top_p": 0.0},
        {"top_p": 1.5},
        {"methods": ()},
        {"methods": ("agreement", "x")},
    ],
)
def test_config_validation(kwargs: dict) -> None:
    with pytest.raises(ValueError, match="ConsistencyConfig"):
        ConsistencyConfig(**kwargs)


def test_extractor_on_scripted_samples() -> None:
    replies = {
        "mc0": [" C", " C. Jupiter", " B", "I think C", " C", " (A)", " ???"],
        "open0": [" Paris", " paris.", " The Paris", " Lyon", " London", "", " Lyon"],
    }
    backend = ScriptedBackend(reply=lambda r: replies[_id_of(r.prompt.user)])
    examples = [mc_example(0), open_example(0)]
    records = ConsistencyExtractor(ConsistencyConfig(n=7, seed=3)).extract(backend, examples)
    assert backend.calls == [("generate", 2)]
    assert [r.key for r in records] == ["agreement", "entropy", "agreement", "entropy"]
    mc_agree, mc_ent, open_agree, open_ent = records
    # MC answers: C, C, B, "" ("I think C" is no answer), C, A, "" -> majority C (3 of 7)
    assert mc_agree.extra["answers"] == ["C", "C", "B", "", "C", "A", ""]
    assert mc_agree.prediction == "C" and mc_agree.correct is True
    assert mc_agree.confidence == pytest.approx(3 / 7)
    assert mc_ent.confidence == pytest.approx(entropy_confidence(["C", "C", "B", "", "C", "A", ""]))
    # open answers normalise to paris x3, lyon x2, london, "" -> prediction: first raw "Paris"
    assert open_agree.prediction == "Paris" and open_agree.correct is True
    assert open_agree.confidence == pytest.approx(3 / 7)
    assert open_ent.extra["samples"][1] == " paris."
    assert mc_agree.generated_tokens == sum(len(t) for t in replies["mc0"])
    # per-sample flags and costs, so an analysis can score the first k samples
    assert mc_agree.extra["sample_correct"] == [True, True, False, None, True, False, None]
    assert mc_agree.extra["sample_tokens"] == [len(t) for t in replies["mc0"]]
    assert open_agree.extra["sample_correct"] == [True, True, True, False, False, None, False]
    seeds = {r.seed for r in backend.generate_requests}
    assert seeds == {example_seed(3, "mc0"), example_seed(3, "open0")}
    assert all(
        r.n == 7 and r.temperature == 1.0 and r.stop == ("\n",) for r in backend.generate_requests
    )


def test_extractor_all_unreadable_is_a_failure() -> None:
    backend = ScriptedBackend(reply=lambda r: ["???"] * r.n)
    records = ConsistencyExtractor(ConsistencyConfig(n=3)).extract(backend, [mc_example(0)])
    assert all(r.confidence is None and r.correct is None and r.parse_failed for r in records)


def _id_of(user: str) -> str:
    return "mc0" if "planet" in user else "open0"


def test_open_answers_group_numbers_and_normalised_text() -> None:
    from confalign.confidence._common import answer_group_key

    assert answer_group_key("-5") != answer_group_key("5")
    assert answer_group_key("1,234") == answer_group_key("1234.")
    assert answer_group_key("The Eiffel Tower!") == answer_group_key("eiffel tower")
    example = QAExample("n1", "What is 2 - 7?", gold="-5", meta={"match": "numeric"})
    backend = ScriptedBackend(reply=lambda r: [" 5", " -5", " -5.", " five"])
    agree, _ = ConsistencyExtractor(ConsistencyConfig(n=4)).extract(backend, [example])
    assert agree.prediction == "-5" and agree.correct is True
    assert agree.confidence == pytest.approx(0.5)
