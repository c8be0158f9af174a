"""DCA pair construction on hand-made responses, and the pairs file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from confalign.train.dca_data import (
    DCAPair,
    PairsFileError,
    PairSource,
    build_pairs,
    chosen_response,
    percent,
    read_pairs,
    write_pairs,
)


def _src(
    eid: str,
    *,
    mode: str = "prefill",
    pred: str = "B",
    cv: float | None = 0.9,
    raw: str | None = " 90%",
    ci: float | None = 0.4,
    failed: bool = False,
) -> PairSource:
    extra = {} if ci is None else {"answer_ci": ci}
    return PairSource(eid, mode, pred, True, cv, raw, failed, extra)


def test_percent_rounds_half_up() -> None:
    assert [percent(x) for x in (0.0, 0.004, 0.005, 0.125, 0.994, 1.0)] == [0, 0, 1, 13, 99, 100]


def test_chosen_response_replaces_the_last_cue_value() -> None:
    assert chosen_response("Answer: B\nProbability: 90%", 0.424) == "Answer: B\nProbability: 42%"
    # the rest of the confidence line goes, later lines stay
    text = "Answer: B\nProbability: 0.01 (I think)\nThanks"
    assert chosen_response(text, 0.5) == "Answer: B\nProbability: 50%\nThanks"
    assert chosen_response("Answer: B, I am 90% sure", 0.5) is None  # no cue to replace


def test_build_pairs_multiple_choice_prefill_and_drops() -> None:
    prompts = {k: f"<prompt {k}>" for k in "abcdefg"}
    sources = [
        _src("a"),  # kept: 90% -> 40%
        _src("b", cv=None, raw=" maybe", failed=True),  # parse failure
        _src("c", ci=None),  # no internal confidence
        _src("d", cv=0.404, raw=" 40.4%", ci=0.4001),  # identical after rounding (40 = 40)
        _src("e", pred=""),  # no answer
        _src("f", cv=0.0001, raw=" 0.01111", ci=0.6349),  # kept: fraction -> 63%
        _src("g", cv=0.40, raw=" 40%", ci=0.395),  # 0.395 -> 40 (half up): identical
    ]
    pairs, counts = build_pairs(sources, prompts)
    assert counts == {"kept": 2, "parse_failed": 1, "no_ci": 1, "identical": 2, "no_answer": 1}
    a, f = pairs
    assert (a.prompt, a.chosen, a.rejected) == (
        "<prompt a>",
        "Answer: B\nProbability: 40%",
        "Answer: B\nProbability: 90%",
    )
    assert (f.chosen, f.rejected) == (
        "Answer: B\nProbability: 63%",
        "Answer: B\nProbability: 0.01111",
    )
    assert (f.cv, f.ci) == (0.0001, 0.6349)


def test_build_pairs_open_qa_free_mode() -> None:
    # free mode: the whole generation is the response; open QA: the answer is text
    raw = "Answer: 42\nProbability: 95%\n"
    src = PairSource("q", "free", "42", False, 0.95, raw, False, {"answer_ci": 0.071})
    (pair,), counts = build_pairs([src], {"q": "P"})
    assert counts == {"kept": 1}
    assert pair.chosen == "Answer: 42\nProbability: 7%"
    assert pair.rejected == "Answer: 42\nProbability: 95%"
    assert pair.correct is False


def test_pairs_file_round_trip_and_trl_rows(tmp_path: Path) -> None:
    pair = DCAPair(
        "x", "P", "Answer: A\nProbability: 40%", "Answer: A\nProbability: 90%", 0.9, 0.4, "A", True
    )
    path = write_pairs([pair], tmp_path / "pairs.jsonl")
    assert read_pairs(path) == [pair]
    # a plain TRL file (prompt/chosen/rejected only) reads too
    (tmp_path / "trl.jsonl").write_text(
        json.dumps({"prompt": "P", "chosen": "c", "rejected": "r"}) + "\n"
    )
    (only,) = read_pairs(tmp_path / "trl.jsonl")
    assert (only.prompt, only.chosen, only.rejected, only.example_id) == ("P", "c", "r", "row1")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"prompt": "P", "chosen": "c"}', "row 2: field 'rejected' missing"),
        (
            '{"prompt": "P", "chosen": 3, "rejected": "r"}',
            "row 2: field 'chosen' missing or not text",
        ),
        ("not json", "row 2: not JSON"),
        (
            '{"prompt": "P", "chosen": "c", "rejected": "c"}',
            "row 2: chosen and rejected are the same",
        ),
    ],
)
def test_bad_pairs_file_names_row_and_field(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "P", "chosen": "c", "rejected": "r"}\n' + line + "\n")
    with pytest.raises(PairsFileError, match=message) as info:
        read_pairs(path)
    assert str(path) in str(info.value)
