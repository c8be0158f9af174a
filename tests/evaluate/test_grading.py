"""Grading in the eval pipeline and in ``regrade_run``: the grader chosen, the rule stored per
record, resuming under one grader only, the judge's verdict cache, regrading a stored run."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from eval_doubles import FakeBackend
from grading_doubles import CONTAINS, EXACT, ScriptedJudge, WrittenAnswers, install_capitals

import confalign.evaluate.pipeline as pipeline
from confalign.backends import BackendConfig
from confalign.evaluate import ConfigError, EvalConfig, run_eval
from confalign.evaluate.config import GradingConfig
from confalign.evaluate.judge import JUDGE_RUBRIC, parse_verdict
from confalign.evaluate.regrade import regrade_run
from confalign.report import build_report
from confalign.runs import RunStore

JUDGE_REPLIES = {
    "Paris is the capital of France.": "A",
    "Brasilia": "A",
    "Lagos, not Abuja": "B",
    "Bangkok": "A",
    "Sydney or Canberra": "C",
}


@pytest.fixture(autouse=True)
def data(monkeypatch: pytest.MonkeyPatch) -> None:
    install_capitals(monkeypatch)


def evaluate(tmp_path: Path, **kw: object) -> Path:
    config = EvalConfig(datasets=("capitals",), output=tmp_path / "run", **kw)  # type: ignore[arg-type]
    return run_eval(config, progress=False, backend=FakeBackend(), extractors=[WrittenAnswers()])


def verdicts(run: Path) -> dict[str, tuple[bool | None, str]]:
    with RunStore.open(run) as store:
        return {r.example_id: (r.correct, r.rule) for r in store.rows()}


def with_rule(expected: dict[str, bool | None], rule: str) -> dict[str, tuple[bool | None, str]]:
    out = {i: (v, "" if v is None else rule) for i, v in expected.items()}
    return {**out, "mc": (True, "letter")}


def test_contains_is_the_default_and_each_record_stores_its_rule(tmp_path: Path) -> None:
    run = evaluate(tmp_path)
    assert verdicts(run) == with_rule(CONTAINS, "contains")
    with RunStore.open(run) as store:
        assert store.manifest["grading"] == {"grader": "contains"}


def test_exact_grader_keeps_the_normalised_exact_match(tmp_path: Path) -> None:
    assert verdicts(evaluate(tmp_path, grader="exact")) == with_rule(EXACT, "exact")


def test_resuming_with_another_grader_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    run = evaluate(tmp_path)
    before = (run / "manifest.json").read_text()
    with pytest.raises(ConfigError, match="graded with grader 'contains', not grader 'exact'"):
        evaluate(tmp_path, grader="exact")
    assert (run / "manifest.json").read_text() == before


def test_a_run_from_before_graders_counts_as_exact(tmp_path: Path) -> None:
    run = evaluate(tmp_path, grader="exact")
    manifest = json.loads((run / "manifest.json").read_text())
    del manifest["grading"]
    (run / "manifest.json").write_text(json.dumps(manifest))
    evaluate(tmp_path, grader="exact")  # resumes
    with pytest.raises(ConfigError, match="grader 'exact'"):
        evaluate(tmp_path)


def test_regrade_changes_the_right_verdicts_and_the_metrics_follow(tmp_path: Path) -> None:
    run = evaluate(tmp_path)
    accuracy = build_report(run).data["datasets"]["capitals"]["methods"]["written"]["metrics"]
    assert accuracy["accuracy"]["value"] == pytest.approx(4 / 6)  # fr br th mc of 6 answered
    result = regrade_run(run, GradingConfig(grader="exact"))
    assert verdicts(run) == with_rule(EXACT, "exact")
    assert result.changes == {
        "right -> wrong": 2,
        "right -> right": 2,
        "wrong -> wrong": 2,
        "no answer -> no answer": 1,
    }
    assert result.rules == {"exact": 5, "letter": 1, "none": 1}
    metrics = build_report(run).data["datasets"]["capitals"]["methods"]["written"]["metrics"]
    assert metrics["accuracy"]["value"] == pytest.approx(2 / 6)
    with RunStore.open(run) as store:
        grading = store.manifest["grading"]
    assert grading["grader"] == "exact" and grading["previous"] == {"grader": "contains"}
    evaluate(tmp_path, grader="exact")  # the run now resumes under its new grader


def test_regrade_refuses_other_examples_and_keeps_the_old_verdicts(tmp_path: Path) -> None:
    from grading_doubles import capitals

    run = evaluate(tmp_path)
    other = [x for x in capitals() if x.id != "fr"]
    with pytest.raises(ConfigError, match="not the ones the run was made on"):
        regrade_run(run, GradingConfig(grader="exact"), examples={"capitals": other})
    assert verdicts(run) == with_rule(CONTAINS, "contains")


def test_a_failing_judge_leaves_the_old_verdicts(tmp_path: Path) -> None:
    run = evaluate(tmp_path)

    class Broken(ScriptedJudge):
        def generate(self, requests):  # type: ignore[no-untyped-def]
            raise RuntimeError("the judge's server went away")

    with pytest.raises(RuntimeError, match="went away"):
        regrade_run(run, GradingConfig("judge", "m"), judge_backend=Broken(JUDGE_REPLIES))
    assert verdicts(run) == with_rule(CONTAINS, "contains")
    with RunStore.open(run) as store:
        assert store.manifest["grading"] == {"grader": "contains"}


def test_judge_verdicts_are_stored_and_reused_on_resume_and_regrade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    judge = ScriptedJudge(JUDGE_REPLIES)
    loads: list[str] = []

    def load(config: GradingConfig, **settings: object) -> ScriptedJudge:
        loads.append(str(config.judge_model))
        return judge

    monkeypatch.setattr(pipeline, "load_judge_backend", load)
    run = evaluate(tmp_path, grader="judge", judge_model="judge-m")
    assert sorted(judge.asked) == sorted(JUDGE_REPLIES) and loads == ["judge-m"]
    assert judge.closed  # the eval loaded it, the eval closes it
    expected = {"fr": True, "br": True, "ng": False, "th": True, "au": False, "cn": None}
    assert verdicts(run) == with_rule(expected, "judge")
    with RunStore.open(run) as store:
        rows = {r.example_id: r for r in store.rows()}
        assert store.manifest["grading"] == {
            "grader": "judge",
            "judge_model": "judge-m",
            "judge_backend": "hf",
        }
    assert rows["au"].extra["judge"] == {"grade": "NOT_ATTEMPTED", "parsed": True}
    # An interrupted run: the rows of two examples were never written. The resumed run
    # extracts them again; their verdicts come from the run's cache.
    with sqlite3.connect(run / "results.sqlite") as conn:
        conn.execute("DELETE FROM results WHERE example_id IN ('fr', 'ng')")
    conn.close()
    judge.asked.clear()
    evaluate(tmp_path, grader="judge", judge_model="judge-m")
    assert judge.asked == [] and verdicts(run) == with_rule(expected, "judge")
    # Regrading away and back asks the judge nothing either.
    regrade_run(run, GradingConfig(grader="exact"))
    regrade_run(run, GradingConfig("judge", "judge-m"), judge_backend=judge)
    assert judge.asked == [] and verdicts(run) == with_rule(expected, "judge")


def test_a_judge_that_is_the_evaluated_model_uses_the_loaded_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "load_judge_backend", lambda *a, **k: pytest.fail("loaded"))
    judge = ScriptedJudge(JUDGE_REPLIES, BackendConfig(model="default"))
    config = EvalConfig(
        datasets=("capitals",),
        output=tmp_path / "run",
        grader="judge",
        judge_model="default",
    )
    run_eval(config, progress=False, backend=judge, extractors=[WrittenAnswers()])
    assert sorted(judge.asked) == sorted(JUDGE_REPLIES) and not judge.closed


@pytest.mark.parametrize(
    ("reply", "grade", "parsed"),
    [
        ("A", "CORRECT", True),
        ("B", "INCORRECT", True),
        (" C\n", "NOT_ATTEMPTED", True),
        ("The answer is B.", "INCORRECT", True),
        ("a grade: CORRECT", "CORRECT", True),  # the article "a" is not the letter A
        ("incorrect", "INCORRECT", True),
        ("NOT ATTEMPTED", "NOT_ATTEMPTED", True),
        ("I cannot grade this.", "NOT_ATTEMPTED", False),
        ("", "NOT_ATTEMPTED", False),
    ],
)
def test_parse_verdict(reply: str, grade: str, parsed: bool) -> None:
    verdict = parse_verdict(reply)
    assert (verdict.grade, verdict.parsed, verdict.correct) == (grade, parsed, grade == "CORRECT")


def test_the_rubric_is_simpleqa_s_three_grades() -> None:
    assert "A: CORRECT\nB: INCORRECT\nC: NOT_ATTEMPTED" in JUDGE_RUBRIC
    filled = JUDGE_RUBRIC.format(question="Q?", target="T", answer="P")
    assert "Question: Q?\nGold target: T\nPredicted answer: P\n" in filled


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"grader": "judges"}, "unknown grader 'judges'"),
        ({"grader": "judge"}, "grader 'judge' needs a judge model (--judge-model)"),
        ({"judge_model": "m"}, "judge_model is for grader 'judge', not 'contains'"),
        ({"grader": "judge", "judge_model": "m", "judge_backend": "x"}, "unknown backend 'x'"),
    ],
)
def test_bad_grading_settings_fail_before_anything_loads(settings: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        EvalConfig(datasets=("capitals",), **settings)
