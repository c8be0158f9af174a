"""``confalign regrade`` and the grading options of ``confalign eval``: a stored run regraded
with its report rewritten, and bad input as one line on stderr with exit code 2."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import typer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evaluate"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cli_helpers import assert_user_error, group, run_app
from eval_doubles import FakeBackend
from grading_doubles import WrittenAnswers, install_capitals

import confalign.evaluate.pipeline as pipeline
from confalign.cli.eval import eval_command
from confalign.cli.regrade import regrade_command
from confalign.runs import RunStore


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    install_capitals(monkeypatch)
    monkeypatch.setattr(pipeline, "build_extractors_for", lambda c, x: [WrittenAnswers()])
    monkeypatch.setattr(pipeline, "load_backend", lambda name, config: FakeBackend(config))
    return group({"eval": eval_command, "regrade": regrade_command})


def test_regrade_changes_verdicts_and_rewrites_the_report(app: typer.Typer, tmp_path: Path) -> None:
    run = tmp_path / "run"
    code, _, err = run_app(app, ["eval", "-d", "caps", "-o", str(run), "--no-progress"])
    assert code == 0, err
    code, out, err = run_app(app, ["regrade", str(run), "--grader", "exact"])
    assert code == 0, err
    assert out.splitlines()[0] == (
        "regraded 7 rows with exact (no answer -> no answer: 1, right -> right: 2, "
        "right -> wrong: 2, wrong -> wrong: 2)"
    )
    with RunStore.open(run) as store:
        assert {r.rule for r in store.rows()} == {"exact", "letter", ""}
    markdown = (run / "report" / "report.md").read_text()
    assert "| grading | exact; regraded " in markdown
    assert "| caps | exact | wrong | 4 |" in markdown


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["eval", "-d", "caps", "--grader", "fuzzy"], ["unknown grader 'fuzzy'", "contains"]),
        (["eval", "-d", "caps", "--grader", "judge"], ["needs a judge model (--judge-model)"]),
        (["eval", "-d", "caps", "--judge-model", "m"], ["judge_model is for grader 'judge'"]),
        (["regrade", "RUN", "--grader", "judge"], ["needs a judge model (--judge-model)"]),
        (["regrade", "RUN", "--grader", "nope"], ["unknown grader 'nope'"]),
        (["regrade", "MISSING"], ["is not a confalign run directory"]),
    ],
)
def test_bad_grading_input_is_a_one_line_error(
    app: typer.Typer, tmp_path: Path, args: list[str], fragments: list[str]
) -> None:
    run = tmp_path / "run"
    run_app(app, ["eval", "-d", "caps", "-o", str(run), "--no-progress"])
    args = [
        str(run) if a == "RUN" else str(tmp_path / "missing") if a == "MISSING" else a for a in args
    ]
    code, out, err = run_app(app, args)
    assert_user_error(code, out, err, *fragments)


def test_resuming_under_another_grader_is_a_one_line_error(
    app: typer.Typer, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    run_app(app, ["eval", "-d", "caps", "-o", str(run), "--no-progress"])
    code, out, err = run_app(app, ["eval", "-d", "caps", "-o", str(run), "--grader", "exact"])
    assert_user_error(code, out, err, "graded with grader 'contains'", "confalign regrade")
