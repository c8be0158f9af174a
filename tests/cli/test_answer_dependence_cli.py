"""``confalign analyze answer-dependence`` on the tiny random model: a resumable run whose
summary the report and the comparison show; bad input is one line and exit 2."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_helpers import assert_user_error, group, run_app


def invoke(*args: str) -> tuple[int, str, str]:
    from confalign.cli.analyze import analyze_app
    from confalign.cli.report import compare_command, report_command

    commands = {"report": report_command, "compare": compare_command}
    return run_app(group(commands, {"analyze": analyze_app}), args)


def analyze(model: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    return invoke(
        "analyze", "answer-dependence", "-d", "calibrated_math,mmlu_offline", "-m", str(model),
        "-o", str(out), "--limit", "2", "--formats", "score_letter", "--ig-steps", "4",
        "--threads", "1", *extra,
    )  # fmt: skip


@pytest.fixture(scope="module")
def run(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ad") / "run"
    code, _, stderr = analyze(tiny_model_dir, out, "--ig-limit", "1")
    assert code == 0, stderr
    return out


def test_the_run_stores_every_step_and_a_summary(run: Path) -> None:
    lines = (run / "answer_dependence" / "records.jsonl").read_text().splitlines()
    steps = [(r["dataset"], r["analysis"]) for r in map(json.loads, lines)]
    for dataset in ("calibrated_math", "mmlu_offline"):
        assert steps.count((dataset, "distribution")) == 2
        assert steps.count((dataset, "rollout")) == 2
        assert steps.count((dataset, "ig")) == 1
    summary = json.loads((run / "answer_dependence" / "summary.json").read_text())
    entry = summary["datasets"]["mmlu_offline"]["score_letter"]
    dist = entry["distribution"]
    assert dist["n"] == 2 and 0.0 <= dist["jsd_mean"] <= math.log(2)
    assert sum(entry["rollout"]["content_share"].values()) == pytest.approx(1.0)
    assert entry["ig"]["n"] == 1 and entry["ig"]["steps"] == 4


def test_a_rerun_with_a_larger_ig_limit_adds_only_ig(run: Path, tiny_model_dir: Path) -> None:
    path = run / "answer_dependence" / "records.jsonl"
    before = path.read_text().splitlines()
    code, _, stderr = analyze(tiny_model_dir, run, "--ig-limit", "2")
    assert code == 0, stderr
    after = path.read_text().splitlines()
    assert after[: len(before)] == before
    added = [json.loads(line)["analysis"] for line in after[len(before) :]]
    assert added == ["ig", "ig"]


def test_report_and_compare_show_the_analysis(run: Path, tmp_path: Path) -> None:
    code, _, stderr = invoke("report", str(run))
    assert code == 0, stderr
    metrics = json.loads((run / "report" / "metrics.json").read_text())
    assert metrics["answer_dependence"]["datasets"]["calibrated_math"]["score_letter"]
    html = (run / "report" / "report.html").read_text()
    assert "Answer dependence (ADVICE)" in html and "data:image/png;base64" in html
    code, _, stderr = invoke("compare", str(run), str(run), "-o", str(tmp_path / "cmp"))
    assert code == 0, stderr
    comparison = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    rows = comparison["metrics"]["answer dependence: mean JSD"]["rows"]
    assert {r["dataset"] for r in rows} == {"calibrated_math", "mmlu_offline"}


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--formats", "score_nope"), "score_nope"),
        (("--ig-steps", "0"), "ig_steps"),
        (("--formats", "score_text", "--rollout-limit", "1"), "score_text"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tiny_model_dir: Path, tmp_path: Path, args: tuple[str, ...], fragment: str
) -> None:
    # score_text fails only once the model has loaded: its loading bar comes first
    assert_user_error(*analyze(tiny_model_dir, tmp_path / "bad", *args), fragment, last_line=True)
