"""The survey tables on a hand-written run: consistency@k from stored samples, the N/D split,
per-subject cells and the token cost, checked against values computed by hand."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from confalign.analysis.inference_methods import MethodRow, survey_tables, to_markdown
from confalign.cli import _register, app
from confalign.confidence.base import ConfidenceRecord
from confalign.evaluate.rows import row_from_record
from confalign.runs import ResultRow, RunStore

IDENTITY = {"model": {"model": "test"}, "datasets": ["calibrated_math"], "seed": 0}


def _consistency(
    answers: list[str], correct: list[bool | None], tokens: list[int]
) -> dict[str, object]:
    return {
        "answers": answers,
        "sample_correct": correct,
        "sample_tokens": tokens,
        "n": len(answers),
        "samples": answers,
    }


def _rows() -> list[ResultRow]:
    rows = []
    # q1: greedy right (0.9); samples "#4","#4","#5","#4": agreement@2 = 1.0 right,
    #     agreement@4 = 0.75 right.
    # q2: greedy wrong (0.6); samples "#7","#8","#8","#8": @2 tie -> first ("#7", wrong) 0.5,
    #     @4 = 0.75 majority "#8" (right).
    # q3: greedy right (0.3); samples all "" -> failure at every k.
    spec = [
        ("q1", "addition/1", 0.9, True, ["#4", "#4", "#5", "#4"], [True, True, False, True]),
        ("q2", "addition/2", 0.6, False, ["#7", "#8", "#8", "#8"], [False, True, True, True]),
        ("q3", "addition/2", 0.3, True, ["", "", "", ""], [None, None, None, None]),
    ]
    for order, (qid, subject, conf, ok, answers, sample_ok) in enumerate(spec):
        records = [
            ConfidenceRecord(qid, "answer_prob", "internal", "x", ok, conf, generated_tokens=3),
            ConfidenceRecord(
                qid,
                "agreement",
                "consistency",
                "x",
                None,
                None,
                generated_tokens=8,
                extra=_consistency(answers, sample_ok, [1, 2, 3, 2]),
            ),
        ]
        for r in records:
            rows.append(
                row_from_record(
                    r,
                    dataset="calibrated_math",
                    example_order=order,
                    subject=subject,
                    config_key="k",
                )
            )
    mc = [("q1", 0.8, True), ("q2", 0.7, False), ("q3", 0.2, False)]
    for order, (qid, conf, ok) in enumerate(mc):
        r = ConfidenceRecord(qid, "choice", "internal", "A", ok, conf)
        rows.append(
            row_from_record(
                r,
                dataset="calibrated_math_mc",
                example_order=order,
                subject="s",
                config_key="k",
            )
        )
    return rows


@pytest.fixture()
def run_dir(tmp_path: Path) -> Path:
    with RunStore.create(tmp_path / "run", IDENTITY) as store:
        store.write(_rows())
    return tmp_path / "run"


def _by_method(rows: Sequence[MethodRow], setting: str | None = None) -> dict[str, MethodRow]:
    return {r.method: r for r in rows if setting is None or r.setting == setting}


def test_consistency_at_k_uses_the_first_k_samples(run_dir: Path) -> None:
    tables = survey_tables(run_dir, ks=(2,), n_bootstrap=0)
    ranking = _by_method(tables.ranking)
    assert set(ranking) == {"answer_prob", "agreement@2", "agreement@4"}
    at2, at4 = ranking["agreement@2"], ranking["agreement@4"]
    # q3 has no answer in any sample: left out, counted.
    assert (at2.n, at2.failed, at4.n, at4.failed) == (2, 1, 2, 1)
    assert at2.accuracy == pytest.approx(0.5) and at4.accuracy == pytest.approx(1.0)
    assert at2.mean_confidence == pytest.approx((1.0 + 0.5) / 2)
    assert at4.mean_confidence == pytest.approx(0.75)
    # cost: the first k samples' tokens (1+2 and 1+2+3+2 for both examples).
    assert at2.tokens == pytest.approx(3.0) and at4.tokens == pytest.approx(8.0)
    # agreement@2: right one at 1.0, wrong one at 0.5 -> AUROC 1.
    assert at2.auroc == pytest.approx(1.0)
    assert at4.auroc != at4.auroc  # one class only: NaN


def test_normal_vs_distractor_settings(run_dir: Path) -> None:
    tables = survey_tables(run_dir, ks=(2,), n_bootstrap=0, n_bins=10)
    n = _by_method(tables.settings, "N")["answer_prob"]
    d = _by_method(tables.settings, "D")["choice"]
    assert n.accuracy == pytest.approx(2 / 3)
    # Brier by hand: ((0.9-1)^2 + 0.6^2 + (0.3-1)^2) / 3
    assert n.brier == pytest.approx((0.01 + 0.36 + 0.49) / 3)
    # 10 bins, one example per bin: ECE = mean |c - y|.
    assert d.ece == pytest.approx((0.2 + 0.7 + 0.2) / 3)
    # AUROC of (0.9 right, 0.6 wrong, 0.3 right): pairs (0.9>0.6) yes, (0.3>0.6) no -> 1/2.
    assert n.auroc == pytest.approx(0.5)
    assert "agreement@2" not in _by_method(tables.settings)


def test_difficulty_cells_and_markdown(run_dir: Path) -> None:
    tables = survey_tables(run_dir, ks=(2,), n_bootstrap=50)
    assert tables.difficulty_methods == ("answer_prob", "agreement@4")
    assert tables.difficulty["addition/2"]["answer_prob"] == (2, 0.5, pytest.approx(0.45))
    assert tables.difficulty["addition/2"]["agreement@4"] == (1, 1.0, 0.75)
    # Pooled over digits: (0.9 right) + (0.6 wrong, 0.3 right).
    assert tables.by_operation["addition"]["answer_prob"] == (3, 2 / 3, pytest.approx(0.6))
    assert tables.by_operation["addition"]["agreement@4"] == (2, 1.0, 0.75)
    text = to_markdown(tables)
    assert "| addition | 3 | 0.67 / 0.60 | 1.00 / 0.75 |" in text
    assert "| N | answer_prob | 3 | 0 |" in text and "| D | choice | 3 | 0 |" in text
    assert "| addition/1 | 1 | 1.00 / 0.90 | 1.00 / 0.75 |" in text


def test_cli_writes_the_tables(run_dir: Path, tmp_path: Path) -> None:
    _register()
    out = tmp_path / "survey.md"
    result = CliRunner().invoke(
        app, ["analyze", "survey", str(run_dir), "--ks", "2", "--bootstrap", "0", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.read_text() in result.output
    missing = CliRunner().invoke(app, ["analyze", "survey", str(run_dir), "--open-dataset", "nope"])
    assert missing.exit_code == 2 and "no dataset 'nope'" in missing.output


def test_distractor_setting_from_a_separate_run(run_dir: Path, tmp_path: Path) -> None:
    mc_rows = [r for r in _rows() if r.dataset == "calibrated_math_mc"]
    with RunStore.create(tmp_path / "mc", IDENTITY) as store:
        store.write(mc_rows)
    tables = survey_tables(run_dir, mc_run_dir=tmp_path / "mc", ks=(2,), n_bootstrap=0)
    assert _by_method(tables.settings, "D")["choice"].n == 3
    with pytest.raises(ValueError, match="no dataset 'nope'"):
        survey_tables(run_dir, mc_run_dir=tmp_path / "mc", mc_dataset="nope", ks=(2,))
