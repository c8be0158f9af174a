"""``confalign analyze answer-dependence`` on the tiny random model: a resumable run whose
summary the report and the comparison show; bad input is one line and exit 2; Ctrl-C (SIGINT)
keeps what is stored, marks the run interrupted and exits 130."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
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


def test_a_record_cut_short_by_a_kill_is_dropped_said_and_recomputed(
    run: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    shutil.copytree(run, out)
    path = out / "answer_dependence" / "records.jsonl"
    kept, last = path.read_text().rstrip("\n").rsplit("\n", 1)
    path.write_text(f"{kept}\n{last[: len(last) // 2]}")  # a kill mid-way through the last one
    ig = [r for r in records(run) if r["analysis"] == "ig" and r["dataset"] == "mmlu_offline"]
    code, _, err = analyze(tiny_model_dir, out, "--ig-limit", str(len(ig)))
    assert code == 0, err
    assert f"{path}: dropped its last line, cut short by a kill" in err
    assert path.read_text().startswith(f"{kept}\n")  # the whole records, as they were

    def without_time(rows: list[dict]) -> list[dict]:
        return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]

    assert without_time(records(out)) == without_time(records(run))


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


def records(out: Path) -> list[dict]:
    path = out / "answer_dependence" / "records.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def assert_interrupted(out: Path) -> None:
    summary = json.loads((out / "answer_dependence" / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    assert json.loads((out / "manifest.json").read_text())["status"] == "interrupted"


def test_ctrl_c_keeps_what_is_stored_and_exits_130(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from confalign.analysis.answer_dependence import run as ad_run

    def ctrl_c(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    out = tmp_path / "run"
    monkeypatch.setattr(ad_run, "rollout_row", ctrl_c)  # Ctrl-C at the first rollout
    code, out_text, err = analyze(tiny_model_dir, out, "--ig-limit", "0")
    assert code == 130, (out_text, err)
    assert "interrupted" in err and "rerun to resume" in err
    assert "Traceback" not in err + out_text and "summary:" not in out_text
    stored = records(out)
    assert [r["analysis"] for r in stored] == ["distribution", "distribution"]
    assert_interrupted(out)
    monkeypatch.undo()
    code, _, err = analyze(tiny_model_dir, out, "--ig-limit", "0")  # the same command resumes
    assert code == 0, err
    assert records(out)[:2] == stored
    assert [r["analysis"] for r in records(out)[2:]].count("rollout") == 4


@pytest.mark.slow
def test_sigint_to_the_real_cli_exits_130(tiny_model_dir: Path, tmp_path: Path) -> None:
    """A real SIGINT to ``python -m confalign.cli`` while integrated gradients run."""
    out = tmp_path / "run"
    cmd = [
        sys.executable, "-m", "confalign.cli", "analyze", "answer-dependence",
        "-d", "calibrated_math", "-m", str(tiny_model_dir), "-o", str(out), "--limit", "1",
        "--formats", "score_letter", "--rollout-limit", "0", "--ig-steps", "2000",
        "--ig-batch", "1", "--threads", "1",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    # A shell's background job ignores SIGINT and a child inherits that: restore the default.
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 300
    while not records(out) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    time.sleep(1.0)  # inside the 2000-step IG (seconds on the tiny model)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "rerun to resume" in stderr and "Traceback" not in stderr
    assert [r["analysis"] for r in records(out)] == ["distribution"]
    assert_interrupted(out)
