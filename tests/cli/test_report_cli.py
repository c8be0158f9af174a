"""``confalign report``, ``compare`` and ``demo``: paths and a short table on success, one line
and exit 2 on a user's mistake."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "report"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_helpers import assert_user_error, group, run_app
from report_helpers import make_run


def invoke(*args: str) -> tuple[int, str, str]:
    from confalign.cli.demo import demo_command
    from confalign.cli.report import compare_command, report_command

    commands = {"report": report_command, "compare": compare_command, "demo": demo_command}
    return run_app(group(commands), args)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("runs")
    return make_run(root / "before", 0), make_run(root / "after", 1, shift=0.2)


def test_report_writes_and_prints(runs: tuple[Path, Path], tmp_path: Path) -> None:
    code, out, err = invoke(
        "report", str(runs[0]), "-o", str(tmp_path / "rep"), "--bootstrap", "10"
    )
    assert code == 0, err
    assert f"report: {tmp_path / 'rep' / 'report.html'}" in out
    assert "metrics.json" in out and "report.md" in out
    assert "verbalized/probability/prefill" in out and "ECE" in out
    assert (tmp_path / "rep" / "report.html").exists()


def test_compare_writes_and_prints(runs: tuple[Path, Path], tmp_path: Path) -> None:
    args = ["compare", *map(str, runs), "-o", str(tmp_path / "cmp"), "--bootstrap", "0"]
    code, out, err = invoke(*args, "--labels", "base,tuned")
    assert code == 0, err
    assert "comparison.html" in out
    assert "Δ tuned − base" in (tmp_path / "cmp" / "comparison.md").read_text()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["report", "{missing}"], "not a confalign run directory"),
        (["report", "{run}", "--bins", "0"], "n_bins"),
        (["report", "{run}", "--ci-level", "2"], "ci_level"),
        (["compare", "{run}"], "at least two"),
        (["compare", "{run}", "{missing}", "-o", "{tmp}"], "not a confalign run directory"),
        (["compare", "{run}", "{run}", "-o", "{tmp}", "--labels", "a"], "one distinct label"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(
    runs: tuple[Path, Path], tmp_path: Path, args: list[str], fragment: str
) -> None:
    values = {"run": str(runs[0]), "missing": str(tmp_path / "nope"), "tmp": str(tmp_path / "o")}
    assert_user_error(*invoke(*[a.format(**values) for a in args]), fragment)


def test_demo_runs_the_library_demo_and_prints_the_table(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The command only builds the config and calls ``run_demo`` (stubbed: no model here)."""
    import confalign.cli.demo as cli_demo
    from confalign.pipelines.demo import DemoResult
    from confalign.report import ReportOptions, write_report

    seen: dict[str, Any] = {}

    def fake_run_demo(config: Any, *, progress: bool = True) -> DemoResult:
        seen["config"] = config
        run = make_run(config.output)
        report, files = write_report(run, None, ReportOptions(n_bootstrap=0))
        return DemoResult(run, report, files)

    monkeypatch.setattr(cli_demo, "run_demo", fake_run_demo)
    code, out, err = invoke(
        "demo", "-o", str(tmp_path / "demo"), "--limit", "60", "--no-repair", "--no-progress"
    )
    assert code == 0, err
    config = seen["config"]
    assert (
        config.limit == 60
        and config.stratify
        and config.datasets == ("mmlu_offline", "calibrated_math", "world_facts")
    )
    assert config.modes == ("prefill", "distribution")
    assert f"report: {tmp_path / 'demo' / 'report' / 'report.html'}" in out
    assert "choice" in out and "AUROC" in out


def test_demo_refuses_a_bad_limit(tmp_path: Path) -> None:
    assert_user_error(*invoke("demo", "-o", str(tmp_path / "d"), "--limit", "0"), "limit")
