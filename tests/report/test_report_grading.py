"""The report's grading section: counts per rule and verdict, seeded examples of each, the
grader named (a judge with its model), and the section in the Markdown."""

from __future__ import annotations

from confalign.report import compute_report
from confalign.report.grading import grading_section
from confalign.report.render import render_markdown, run_page
from confalign.runs import ResultRow


def row(i: int, answer: str, correct: bool | None, rule: str, **extra: object) -> ResultRow:
    return ResultRow.of(
        dataset="caps",
        example_order=i,
        example_id=f"q{i}",
        subject="",
        config_key="k",
        method_key="answer_prob",
        method="answer_prob",
        kind="internal",
        prediction=answer,
        correct=correct,
        confidence=0.5,
        gold=f"gold{i}",
        rule=rule,
        extra=extra,
    )


ROWS = [
    row(0, "Paris is the capital.", True, "contains"),
    row(1, "Brasilia", True, "contains"),
    row(2, "Lagos, not Abuja", False, "contains"),
    row(3, "12", True, "numeric"),
    row(4, "", None, ""),
    row(5, "Sydney or Canberra", False, "judge", judge={"grade": "NOT_ATTEMPTED"}),
    row(6, "Lyon", True, ""),  # a run stored before rules were recorded
    *[row(10 + i, f"right answer {i}", True, "exact") for i in range(5)],
]


def test_counts_per_rule_and_verdict() -> None:
    section = grading_section({"caps": ROWS}, {"grading": {"grader": "contains"}})
    assert section["grader"] == {"grader": "contains"}
    counts = {(c["rule"], c["verdict"]): c["n"] for c in section["datasets"]["caps"]["counts"]}
    assert counts == {
        ("contains", "right"): 2,
        ("contains", "wrong"): 1,
        ("exact", "right"): 5,
        ("judge", "wrong (not attempted)"): 1,
        ("none", "no answer"): 1,
        ("numeric", "right"): 1,
        ("unrecorded", "right"): 1,
    }


def test_examples_are_a_seeded_sample_of_each_cell() -> None:
    first = grading_section({"caps": ROWS}, {}, seed=3)["datasets"]["caps"]["examples"]
    again = grading_section({"caps": ROWS}, {}, seed=3)["datasets"]["caps"]["examples"]
    assert first == again
    exact = [e for e in first if e["rule"] == "exact"]
    assert len(exact) == 3 and len({e["answer"] for e in exact}) == 3
    assert {e["answer"] for e in exact} <= {f"right answer {i}" for i in range(5)}
    wrong = [e for e in first if e["verdict"] == "wrong"]
    assert wrong == [
        {
            "rule": "contains",
            "verdict": "wrong",
            "example_id": "q2",
            "method_key": "answer_prob",
            "answer": "Lagos, not Abuja",
            "gold": "gold2",
        }
    ]
    others = [
        grading_section({"caps": ROWS}, {}, seed=s)["datasets"]["caps"]["examples"]
        for s in range(8)
    ]
    assert len({tuple(e["answer"] for e in x if e["rule"] == "exact") for x in others}) > 1


def test_the_report_names_the_grader_and_the_judge_model() -> None:
    manifest = {"grading": {"grader": "judge", "judge_model": "M", "judge_backend": "openai"}}
    report = compute_report({"caps": ROWS}, manifest)
    assert report.data["run"]["grading"] == "judge (judge model M on openai)"
    markdown = render_markdown(run_page(report, {}))
    assert "## Grading" in markdown
    assert "| caps | contains | wrong | 1 |" in markdown
    assert "| contains | wrong | Lagos, not Abuja | gold2 |" in markdown
    assert "_Grader: judge (judge model M on openai)._" in markdown
    assert "| grading | judge (judge model M on openai) |" in markdown


def test_a_run_from_before_graders_says_so() -> None:
    report = compute_report({"caps": ROWS}, {})
    assert report.data["run"]["grading"].startswith("exact (stored before graders were named")
