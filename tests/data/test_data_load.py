"""``load_benchmark`` dispatch, the record's validation path and the listing helpers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from confalign.data import (
    BENCHMARKS,
    DataError,
    QAExample,
    benchmark_infos,
    describe_load,
    format_table,
    load_benchmark,
)

REQUIRED = {
    "mmlu",
    "mmlu_offline",
    "trivia_qa",
    "arc_easy",
    "arc_challenge",
    "hellaswag",
    "piqa",
    "medmcqa",
    "logiqa",
    "simpleqa",
    "truthfulqa",
    "commonsense_qa",
    "calibrated_math",
}


def test_registry_covers_the_required_benchmarks() -> None:
    assert set(BENCHMARKS.names()) >= REQUIRED


def test_unknown_name_suggests_and_lists() -> None:
    with pytest.raises(KeyError) as info:
        load_benchmark("mmluu")
    message = str(info.value.args[0])
    assert "Did you mean 'mmlu'" in message and "calibrated_math" in message and ".jsonl" in message


def test_file_path_and_options(tmp_path: Path) -> None:
    rows = [
        {"id": f"r{i}", "question": "q?", "gold": "a", "subject": "s1" if i < 6 else "s2"}
        for i in range(10)
    ]
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = load_benchmark(str(path), limit=5, stratify=True, seed=1)
    assert [e.subject for e in result.examples].count("s1") == 3 and result.n_available == 10
    assert {e.subject for e in load_benchmark(str(path), subjects="s2").examples} == {"s2"}
    with pytest.raises(
        ValueError, match=r"no examples with subject\(s\) \['s3'\]; its subjects: s1, s2"
    ):
        load_benchmark(str(path), subjects=["s3"])


def test_column_map_is_for_files_only() -> None:
    with pytest.raises(ValueError, match="column_map applies to local files"):
        load_benchmark("calibrated_math", column_map={"question": "q"})


def test_validate_names_source_row_and_field() -> None:
    bad = QAExample("x", "q?", ("a", "b"), 2)
    with pytest.raises(DataError) as info:
        bad.validate("file.jsonl", 7)
    assert str(info.value) == "file.jsonl, row 7: field 'gold': index 2 out of range 0..1"
    assert (info.value.source, info.value.row, info.value.field_name) == ("file.jsonl", 7, "gold")
    with pytest.raises(DataError, match="field 'meta'"):
        QAExample("x", "q?", gold="a", meta={"match": "fuzzy"}).validate("s")
    with pytest.raises(DataError, match="field 'question'"):
        QAExample("x", " ", gold="a").validate("s")


def test_listing_and_description() -> None:
    infos = {i.name: i for i in benchmark_infos()}
    assert (
        infos["calibrated_math"].offline == "built in"
        and not infos["calibrated_math"].needs_network
    )
    assert infos["mmlu"].hub == "cais/mmlu (all)" and infos["mmlu"].offline == "no: needs network"
    assert infos["trivia_qa"].size == "17,944 (validation)"
    lines = format_table(list(infos.values()))
    assert lines[0].split() == ["name", "hub", "id", "(config)", "offline", "size", "splits"]
    assert len(lines) == len(infos) + 1
    text = "\n".join(describe_load(load_benchmark("calibrated_math_mc", limit=1)))
    assert "calibrated_math_mc: 1 of 7,100 examples" in text and "  * " in text


def test_numeric_match_needs_a_numeric_gold() -> None:
    with pytest.raises(DataError, match="field 'gold': a numeric match needs a number"):
        QAExample("x", "q?", gold="twelve", meta={"match": "numeric"}).validate("s", 1)
    assert QAExample("x", "q?", gold="1,200", meta={"match": "numeric"}).validate("s")


def test_a_split_in_the_name_and_unions_of_benchmarks() -> None:
    from confalign.data.load import parse_spec

    assert parse_spec("mmlu_offline") is None and parse_spec("data/x.jsonl") is None
    assert parse_spec("world_facts_mc:elements_test") == [("world_facts_mc", "elements_test")]
    assert parse_spec("world_facts:elements_all+calibrated_math") == [
        ("world_facts", "elements_all"),
        ("calibrated_math", None),
    ]
    one = load_benchmark("world_facts:elements_test")
    assert len(one.examples) == 98 and one.split == "elements_test"  # SIZES of world_facts
    both = load_benchmark("world_facts:elements_test+world_facts:elements_validation")
    assert len(both.examples) == 98 + 99
    assert [ex.id for ex in both.examples[:98]] == [ex.id for ex in one.examples]
    math = load_benchmark(
        "world_facts:elements_test+calibrated_math:train", subjects=("element_number", "addition/1")
    )
    subjects = {ex.subject.split("/")[0] for ex in math.examples}
    assert subjects == {"element_number", "addition"}
    assert sum(ex.subject == "addition/1" for ex in math.examples) == 100


def test_a_union_refuses_unknown_parts_clashing_splits_and_shared_ids() -> None:
    with pytest.raises(KeyError, match="nope"):
        load_benchmark("world_facts+nope")
    with pytest.raises(ValueError, match="names split 'test' but split 'train'"):
        load_benchmark("world_facts:test", split="train")
    with pytest.raises(ValueError, match="occurs in two parts"):
        load_benchmark("world_facts:elements_test+world_facts:test")
