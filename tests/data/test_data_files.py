"""Local files: our schema in JSONL/JSON/CSV/TSV/Parquet, column maps, and bad rows reported
together with file, row and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from confalign.data import DataError, DataErrors, QAExample, load_benchmark, load_file
from confalign.data.example import MAX_REPORTED_ERRORS


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


MC = {"id": "q1", "question": "2+2?", "choices": ["3", "4"], "gold": 1, "subject": "math"}
OPEN = {"id": "q2", "question": "Capital of France?", "gold": "Paris", "aliases": ["Paris, FR"]}


def test_jsonl_mc_and_open(tmp_path: Path) -> None:
    result = load_file(write_jsonl(tmp_path / "d.jsonl", [MC, OPEN]))
    mc, op = result.examples
    assert mc == QAExample("q1", "2+2?", ("3", "4"), 1, subject="math")
    assert op.gold == "Paris" and op.aliases == ("Paris, FR",) and not op.is_multiple_choice
    assert result.source == str(tmp_path / "d.jsonl") and result.n_available == 2


@pytest.mark.parametrize("gold", [1, "B", "4", "1"])
def test_gold_as_index_letter_text_or_digits(tmp_path: Path, gold: object) -> None:
    row = {**MC, "choices": ["3", "4"], "gold": gold}
    if gold == "4":  # "4" is option text (index 1), not index 4
        row["choices"] = ["3", "4"]
    (ex,) = load_file(write_jsonl(tmp_path / "d.jsonl", [row])).examples
    assert ex.gold == 1


def test_digits_that_are_another_options_text_are_ambiguous(tmp_path: Path) -> None:
    row = {"question": "pick", "choices": ["1", "2", "0"], "gold": "1"}
    with pytest.raises(DataError, match="both an index and an option text; use a letter"):
        load_file(write_jsonl(tmp_path / "d.jsonl", [row]))


def test_missing_id_gets_stem_and_row(tmp_path: Path) -> None:
    rows = [{"question": "a?", "gold": "x"}, {"question": "b?", "gold": "y"}]
    ids = [e.id for e in load_file(write_jsonl(tmp_path / "quiz.jsonl", rows)).examples]
    assert ids == ["quiz-1", "quiz-2"]


def test_csv_with_option_columns_and_json_lists(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text(
        "id,question,A,B,C,gold,aliases,subject\n"
        "c1,Pick one,red,green,,B,,colours\n"
        'c2,Who?,,,,Ada Lovelace,"[""Lovelace"", ""Ada""]",people\n'
        "c3,Year?,,,,1815,1815 AD|AD 1815,\n",
        encoding="utf-8",
    )
    c1, c2, c3 = load_file(path).examples
    assert c1.choices == ("red", "green") and c1.gold == 1 and c1.subject == "colours"
    assert c2.choices == () and c2.aliases == ("Lovelace", "Ada")
    assert c3.aliases == ("1815 AD", "AD 1815") and c3.subject == ""


def test_tsv_and_json_list_choices(tmp_path: Path) -> None:
    path = tmp_path / "d.tsv"
    path.write_text('question\tchoices\tgold\nWhich?\t["x", "y", "z"]\t2\n', encoding="utf-8")
    (ex,) = load_file(path).examples
    assert ex.choices == ("x", "y", "z") and ex.gold == 2


def test_json_array_file(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text(json.dumps([MC, OPEN]), encoding="utf-8")
    assert [e.id for e in load_file(path).examples] == ["q1", "q2"]


def test_parquet(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "id": ["p1", "p2"],
            "question": ["1+1?", "Sky colour?"],
            "choices": [["1", "2"], []],
            "gold": ["B", "blue"],
            "aliases": [[], ["azure"]],
        }
    )
    pq.write_table(table, tmp_path / "d.parquet")
    p1, p2 = load_file(tmp_path / "d.parquet").examples
    assert p1.choices == ("1", "2") and p1.gold == 1
    assert p2.gold == "blue" and p2.aliases == ("azure",)


def test_column_map_renames_and_option_columns(tmp_path: Path) -> None:
    rows = [{"qid": 7, "q": "Best?", "opa": "x", "opb": "y", "label": 0, "topic": "t"}]
    mapping = {
        "id": "qid",
        "question": "q",
        "choices": ["opa", "opb"],
        "gold": "label",
        "subject": "topic",
    }
    (ex,) = load_benchmark(
        str(write_jsonl(tmp_path / "m.jsonl", rows)), column_map=mapping
    ).examples
    assert ex == QAExample("7", "Best?", ("x", "y"), 0, subject="t")


def test_column_map_errors_name_our_field_and_their_column(tmp_path: Path) -> None:
    rows = [{"q": "", "label": 0}]
    with pytest.raises(DataError, match=r"row 1: field \"question \(column 'q'\)\""):
        load_file(
            write_jsonl(tmp_path / "m.jsonl", rows), column_map={"question": "q", "gold": "label"}
        )
    with pytest.raises(ValueError, match="unknown field"):
        load_file(write_jsonl(tmp_path / "n.jsonl", rows), column_map={"questoin": "q"})


def test_one_bad_row_names_file_row_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(MC) + "\n" + '{"id": "q2", "question": "x", "gold": 7,\n')
    with pytest.raises(DataError) as info:
        load_file(path)
    err = info.value
    assert (err.source, err.row, err.field_name) == (str(path), 2, "json")
    assert "bad.jsonl, row 2: field 'json': invalid JSON" in str(err)


def test_all_bad_rows_are_collected_in_one_error(tmp_path: Path) -> None:
    rows = [
        MC,
        {**MC, "id": "b1", "gold": 5},
        OPEN,
        {"id": "b2", "gold": "x"},
        {**MC, "id": "q1"},
        {**MC, "id": "b3", "choices": ["only"]},
    ]
    with pytest.raises(DataErrors) as info:
        load_file(write_jsonl(tmp_path / "many.jsonl", rows))
    err = info.value
    assert err.total == 4 and [e.row for e in err.errors] == [2, 4, 5, 6]
    assert [e.field_name for e in err.errors] == ["gold", "question", "id", "choices"]
    message = str(err)
    assert message.startswith(f"{tmp_path / 'many.jsonl'}: 4 bad rows: row 2: field 'gold'")
    assert "duplicate id 'q1' (row 1)" in message and "\n" not in message


def test_bad_row_report_is_capped_but_counts_all(tmp_path: Path) -> None:
    rows = [{"id": f"x{i}", "question": "q", "choices": ["a", "b"], "gold": 9} for i in range(50)]
    with pytest.raises(DataErrors) as info:
        load_file(write_jsonl(tmp_path / "big.jsonl", rows))
    assert info.value.total == 50 and len(info.value.errors) == MAX_REPORTED_ERRORS
    assert f"50 bad rows (first {MAX_REPORTED_ERRORS} shown)" in str(info.value)


def test_blank_lines_keep_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "gaps.jsonl"
    path.write_text(json.dumps(MC) + "\n\n\n" + json.dumps({"question": "q"}) + "\n")
    with pytest.raises(DataError, match=r"row 4: field 'gold'"):
        load_file(path)


def test_split_column_filters(tmp_path: Path) -> None:
    rows = [{**OPEN, "id": f"s{i}", "split": "test" if i % 2 else "train"} for i in range(4)]
    path = write_jsonl(tmp_path / "s.jsonl", rows)
    assert [e.id for e in load_file(path, split="test").examples] == ["s1", "s3"]
    with pytest.raises(ValueError, match="no rows with split 'dev'"):
        load_file(path, split="dev")
    with pytest.raises(ValueError, match="has no 'split' column"):
        load_file(write_jsonl(tmp_path / "n.jsonl", [OPEN]), split="test")


def test_match_mode_column(tmp_path: Path) -> None:
    rows = [
        {"question": "6*7?", "gold": "42", "match": "numeric"},
        {"question": "?", "gold": "1", "match": "fuzzy"},
    ]
    with pytest.raises(DataError, match=r"row 2: field 'match'"):
        load_file(write_jsonl(tmp_path / "m.jsonl", rows))
    (ex,) = load_file(write_jsonl(tmp_path / "ok.jsonl", rows[:1])).examples
    assert ex.meta == {"match": "numeric"}


def test_missing_file_and_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such dataset file"):
        load_benchmark(str(tmp_path / "nope.jsonl"))
    odd = tmp_path / "d.xml"
    odd.write_text("<x/>")
    with pytest.raises(ValueError, match=r"unknown file type '\.xml'"):
        load_file(odd)


def test_parse_column_map_is_the_cli_form_of_column_map(tmp_path: Path) -> None:
    from confalign.data import parse_column_map

    mapping = parse_column_map("id=qid, question=q,choices=opa|opb,gold=label,subject=topic")
    assert mapping == {
        "id": "qid",
        "question": "q",
        "choices": ("opa", "opb"),
        "gold": "label",
        "subject": "topic",
    }
    rows = [{"qid": 7, "q": "Best?", "opa": "x", "opb": "y", "label": 0, "topic": "t"}]
    (ex,) = load_file(write_jsonl(tmp_path / "m.jsonl", rows), column_map=mapping).examples
    assert ex == QAExample("7", "Best?", ("x", "y"), 0, subject="t")
    with pytest.raises(ValueError, match="expected FIELD=COLUMN, got 'question'"):
        parse_column_map("question")
    with pytest.raises(ValueError, match="unknown field 'qestion'"):
        parse_column_map("qestion=q")
