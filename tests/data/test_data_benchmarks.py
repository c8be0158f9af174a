"""Every Hub benchmark's mapping, on rows written in its real Hub schema, and the loader's call
to ``datasets.load_dataset`` (replaced by a fake: the Hub is not reachable in tests)."""

from __future__ import annotations

from typing import Any

import pytest

from confalign.data import (
    BENCHMARKS,
    DataError,
    DatasetUnavailableError,
    is_correct,
    load_benchmark,
)


def rows_of(name: str, rows: list[dict[str, Any]], split: str | None = None):
    return BENCHMARKS.get(name).from_rows(rows, split=split).examples


def test_mmlu_hub_schema() -> None:
    row = {
        "question": "What is 2+2? ",
        "subject": "elementary_mathematics",
        "choices": ["3", "4", "5", "6"],
        "answer": 1,
    }
    ex, dup = rows_of("mmlu", [row, row])
    assert ex.question == "What is 2+2?" and ex.choices == ("3", "4", "5", "6") and ex.gold == 1
    assert ex.subject == "elementary_mathematics" and ex.split == "test"
    assert ex.id.startswith("mmlu/elementary_mathematics/") and dup.id == ex.id + "-2"
    with pytest.raises(DataError, match="row 1: field 'subject'"):
        rows_of("mmlu", [{**row, "subject": "alchemy"}])


def test_mmlu_and_mmlu_offline_share_ids() -> None:
    hub = {"question": "Q?", "subject": "virology", "choices": ["a", "b", "c", "d"], "answer": 2}
    off = {
        "question": "Q?",
        "answer_a": "a",
        "answer_b": "b",
        "answer_c": "c",
        "answer_d": "d",
        "correct_answer": "C",
        "topic": "virology",
    }
    (h,) = rows_of("mmlu", [hub])
    (o,) = rows_of("mmlu_offline", [off])
    assert h.id == o.id and h.gold == o.gold == 2 and h.choices == o.choices


def test_trivia_qa_aliases() -> None:
    row = {
        "question": "Which Lloyd Webber musical premiered in the US on 10th December 1993?",
        "question_id": "tc_33",
        "question_source": "http://www.triviacountry.com/",
        "entity_pages": {"doc_source": [], "filename": [], "title": [], "wiki_context": []},
        "search_results": {
            "description": [],
            "filename": [],
            "rank": [],
            "title": [],
            "url": [],
            "search_context": [],
        },
        "answer": {
            "aliases": ["Sunset Blvd", "Sunset Boulevard", "Sunset Bulevard"],
            "normalized_aliases": ["sunset boulevard", "sunset blvd"],
            "matched_wiki_entity_name": "",
            "normalized_matched_wiki_entity_name": "",
            "normalized_value": "sunset boulevard",
            "type": "WikipediaEntity",
            "value": "Sunset Boulevard",
        },
    }
    (ex,) = rows_of("trivia_qa", [row])
    assert ex.id == "triviaqa/tc_33" and ex.gold == "Sunset Boulevard" and ex.split == "validation"
    assert ex.aliases == ("Sunset Blvd", "Sunset Bulevard")
    assert ex.meta == {"answer_type": "WikipediaEntity"}
    assert is_correct("sunset blvd.", ex) and not is_correct("Cats", ex)


def test_arc_letter_and_digit_keys() -> None:
    rows = [
        {
            "id": "Mercury_7175875",
            "question": "An astronomer observes ...?",
            "choices": {
                "text": [
                    "Planetary density",
                    "Planetary gravity",
                    "Planetary rotation",
                    "Planetary orbit",
                ],
                "label": ["A", "B", "C", "D"],
            },
            "answerKey": "C",
        },
        {
            "id": "NYSEDREGENTS_2015_4_29",
            "question": "Which is a mammal?",
            "choices": {"text": ["frog", "cat", "snake"], "label": ["1", "2", "3"]},
            "answerKey": "2",
        },
    ]
    a, b = rows_of("arc_easy", rows)
    assert a.id == "arc_easy/Mercury_7175875" and a.gold == 2 and len(a.choices) == 4
    assert b.gold == 1 and b.choices == ("frog", "cat", "snake")
    (c,) = rows_of("arc_challenge", rows[:1])
    assert c.id == "arc_challenge/Mercury_7175875"
    with pytest.raises(DataError, match="field 'answerKey'"):
        rows_of("arc_easy", [{**rows[0], "answerKey": "E"}])


def test_hellaswag_preprocessing() -> None:
    row = {
        "ind": 24,
        "activity_label": "Roof shingle removal",
        "ctx_a": "A man is sitting on a roof.",
        "ctx_b": "he",
        "ctx": "A man is sitting on a roof. he",
        "endings": [
            "is using wrap to wrap a pair of skis.",
            "is ripping level tiles off.",
            "is holding a rubik's cube.",
            "starts pulling up roofing on a roof.",
        ],
        "source_id": "activitynet~v_-JhWjGDPHMY",
        "split": "val",
        "split_type": "indomain",
        "label": "3",
    }
    wikihow = {
        **row,
        "ind": 7,
        "activity_label": "Home and Garden",
        "ctx_a": "[header] How to dye a shirt [title] Choose a shirt.",
        "ctx_b": "",
        "endings": ["[step] Wash it.", "b", "c", "d"],
        "label": "0",
    }
    ex, wh = rows_of("hellaswag", [row, wikihow])
    assert ex.question == "Roof shingle removal: A man is sitting on a roof. He"
    assert ex.gold == 3 and ex.subject == "Roof shingle removal" and ex.id == "hellaswag/24"
    assert wh.question == "Home and Garden: How to dye a shirt. Choose a shirt."
    assert wh.choices[0] == "Wash it."
    with pytest.raises(DataError, match="field 'label'"):
        rows_of("hellaswag", [{**row, "label": ""}])


def test_piqa() -> None:
    row = {
        "goal": "How do I ready a guinea pig cage for it's new occupants?",
        "sol1": "Provide the guinea pig with a cage full of a few inches of bedding.",
        "sol2": "Provide the guinea pig with a cage full of a few inches of jeans.",
        "label": 0,
    }
    (ex,) = rows_of("piqa", [row])
    assert ex.id == "piqa/validation/1" and ex.gold == 0 and len(ex.choices) == 2
    with pytest.raises(DataError, match="field 'label'"):
        rows_of("piqa", [{**row, "label": -1}])


def test_medmcqa() -> None:
    row = {
        "id": "e9ad821a-c438-4965-9f77-760819dfa155",
        "question": "Chronic urethral obstruction due to benign prismatic hyperplasia can "
        "lead to the following change in kidney parenchyma",
        "opa": "Hyperplasia",
        "opb": "Hyperophy",
        "opc": "Atrophy",
        "opd": "Dyplasia",
        "cop": 2,
        "choice_type": "single",
        "exp": "...",
        "subject_name": "Anatomy",
        "topic_name": "Urinary tract",
    }
    (ex,) = rows_of("medmcqa", [row])
    assert ex.gold == 2 and ex.subject == "Anatomy" and ex.choices[2] == "Atrophy"
    assert ex.meta == {"choice_type": "single", "topic_name": "Urinary tract"}
    with pytest.raises(DataError, match="field 'cop'"):
        rows_of("medmcqa", [{**row, "cop": -1}])


def test_logiqa() -> None:
    row = {
        "label": "c",
        "context": "Some statements.",
        "question": "Which follows?",
        "options": ["w", "x", "y", "z"],
    }
    (ex,) = rows_of("logiqa", [row])
    assert ex.question == "Some statements.\n\nWhich follows?" and ex.gold == 2
    assert ex.id == "logiqa/test/1"


def test_simpleqa_metadata_string() -> None:
    row = {
        "metadata": "{'topic': 'Science and technology', 'answer_type': 'Person', "
        "'urls': ['https://en.wikipedia.org/wiki/IEEE_Frank_Rosenblatt_Award']}",
        "problem": "Who received the IEEE Frank Rosenblatt Award in 2010?",
        "answer": "Michio Sugeno",
    }
    (ex,) = rows_of("simpleqa", [row])
    assert ex.subject == "Science and technology" and ex.meta == {"answer_type": "Person"}
    assert ex.gold == "Michio Sugeno" and not ex.is_multiple_choice and ex.split == "test"


def test_truthfulqa_mc1_is_shuffled_stably() -> None:
    rows = [
        {
            "question": f"Question {i}?",
            "mc1_targets": {
                "choices": ["true one", "false a", "false b", "false c"],
                "labels": [1, 0, 0, 0],
            },
            "mc2_targets": {"choices": ["true one", "false a"], "labels": [1, 0]},
        }
        for i in range(200)
    ]
    examples = rows_of("truthfulqa", rows)
    assert all(ex.gold_text == "true one" for ex in examples)
    assert examples == rows_of("truthfulqa", rows)
    positions = [ex.gold for ex in examples]
    assert all(25 <= positions.count(k) <= 75 for k in range(4)), positions
    with pytest.raises(DataError, match="field 'mc1_targets'"):
        rows_of(
            "truthfulqa", [{**rows[0], "mc1_targets": {"choices": ["a", "b"], "labels": [0, 0]}}]
        )


def test_commonsense_qa() -> None:
    row = {
        "id": "075e483d21c29a511267ef62bedc0461",
        "question": "The sanctions against the school were a punishing blow, and they "
        "seemed to what the efforts the school had made to change?",
        "question_concept": "punishing",
        "choices": {
            "label": ["A", "B", "C", "D", "E"],
            "text": ["ignore", "enforce", "authoritarian", "yell at", "avoid"],
        },
        "answerKey": "A",
    }
    (ex,) = rows_of("commonsense_qa", [row])
    assert ex.gold == 0 and len(ex.choices) == 5 and ex.meta == {"question_concept": "punishing"}
    with pytest.raises(DataError, match="field 'answerKey'"):
        rows_of("commonsense_qa", [{**row, "answerKey": ""}])


HUB_CALLS = {
    "mmlu": ("cais/mmlu", "all", "test"),
    "trivia_qa": ("mandarjoshi/trivia_qa", "rc.nocontext", "validation"),
    "arc_easy": ("allenai/ai2_arc", "ARC-Easy", "test"),
    "arc_challenge": ("allenai/ai2_arc", "ARC-Challenge", "test"),
    "hellaswag": ("Rowan/hellaswag", None, "validation"),
    "piqa": ("baber/piqa", None, "validation"),
    "medmcqa": ("openlifescienceai/medmcqa", None, "validation"),
    "logiqa": ("lighteval/logiqa_harness", "logiqa", "test"),
    "simpleqa": ("basicv8vc/SimpleQA", None, "test"),
    "truthfulqa": ("truthfulqa/truthful_qa", "multiple_choice", "validation"),
    "commonsense_qa": ("tau/commonsense_qa", None, "validation"),
}


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    datasets = pytest.importorskip("datasets")
    calls: list[tuple[Any, ...]] = []

    def load_dataset(path: str, name: str | None = None, *, split: str) -> list[Any]:
        calls.append((path, name, split))
        raise ConnectionError("no network in tests")

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


@pytest.mark.parametrize("name", sorted(HUB_CALLS))
def test_hub_benchmarks_call_load_dataset(name: str, fake_hub: list[tuple[Any, ...]]) -> None:
    with pytest.raises(DatasetUnavailableError, match="needs the network") as info:
        load_benchmark(name)
    assert fake_hub == [HUB_CALLS[name]]
    assert isinstance(info.value, OSError)
    assert BENCHMARKS.get(name).needs_network


def test_mmlu_offline_hint_and_subject_configs(fake_hub: list[tuple[Any, ...]]) -> None:
    with pytest.raises(DatasetUnavailableError, match="use 'mmlu_offline'"):
        load_benchmark("mmlu", subjects=["virology", "anatomy"])
    assert fake_hub == [("cais/mmlu", "virology", "test")]


def test_mmlu_hub_rows_flow_through_load(monkeypatch: pytest.MonkeyPatch) -> None:
    datasets = pytest.importorskip("datasets")
    row = {"question": "Q?", "subject": "anatomy", "choices": ["a", "b", "c", "d"], "answer": 3}
    monkeypatch.setattr(datasets, "load_dataset", lambda path, name=None, *, split: [row])
    result = load_benchmark("mmlu", split="validation")
    assert result.source == "cais/mmlu (all, validation)" and result.examples[0].gold == 3


def test_unlabeled_and_unknown_splits_are_refused() -> None:
    with pytest.raises(ValueError, match="'test' exists but its answers are not public"):
        load_benchmark("commonsense_qa", split="test")
    with pytest.raises(ValueError, match="splits with answers: test, validation, dev"):
        load_benchmark("mmlu", split="train")
