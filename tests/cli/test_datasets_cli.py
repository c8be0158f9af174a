"""``confalign datasets list`` and ``show``: the library's text on stdout; a user's mistake is
one line on stderr and exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from confalign.cli.datasets import datasets_app
from confalign.data import BENCHMARKS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_helpers import assert_user_error, group, run_app


def invoke(*args: str) -> tuple[int, str, str]:
    return run_app(group(groups={"datasets": datasets_app}), ["datasets", *args])


def test_list_shows_every_benchmark() -> None:
    code, out, _ = invoke("list")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].split()[:2] == ["name", "hub"]
    names = [ln.split()[0] for ln in lines[1:]]
    assert names == BENCHMARKS.names()
    row = {ln.split()[0]: ln for ln in lines[1:]}
    assert "built in" in row["calibrated_math"] and "7,100 (test)" in row["calibrated_math"]
    assert "cais/mmlu (all)" in row["mmlu"] and "no: needs network" in row["mmlu"]


def test_show_a_generated_benchmark() -> None:
    code, out, _ = invoke("show", "calibrated_math", "--limit", "3", "--subject", "remainder")
    assert code == 0
    assert out.startswith("calibrated_math: 3 of 1,200 examples (split test;")
    assert out.count("What is the remainder when") == 3 and out.count("  answer: ") == 3


def test_show_a_file_marks_the_gold_option(tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    path.write_text(json.dumps({"id": "a", "question": "2+2?", "choices": ["3", "4"], "gold": 1}))
    code, out, _ = invoke("show", str(path))
    assert code == 0
    assert "[a]" in out and "    A. 3" in out and "  * B. 4" in out


def test_show_a_file_through_a_column_map(tmp_path: Path) -> None:
    path = tmp_path / "theirs.jsonl"
    path.write_text(json.dumps({"k": "z", "q": "2+2?", "o1": "3", "o2": "4", "ans": "B"}))
    code, out, _ = invoke("show", str(path), "--columns", "id=k,question=q,choices=o1|o2,gold=ans")
    assert code == 0
    assert "[z]" in out and "    A. 3" in out and "  * B. 4" in out
    assert_user_error(*invoke("show", str(path), "--columns", "q"), "expected FIELD=COLUMN")


def test_errors_are_one_line_exit_2(tmp_path: Path) -> None:
    assert_user_error(*invoke("show", "mmluu"), "unknown benchmark 'mmluu'", "Did you mean 'mmlu'")
    assert_user_error(*invoke("show", "calibrated_math", "--limit", "0"), "limit must be")
    assert_user_error(*invoke("show", "commonsense_qa", "--split", "test"), "not public")
    assert_user_error(*invoke("show", str(tmp_path / "missing.csv")), "no such dataset file")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "choices": ["a", "b"], "gold": 5}\n{"question": 1,\n')
    assert_user_error(*invoke("show", str(bad)), "bad.jsonl: 2 bad rows", "row 1", "row 2")


def test_real_command_line(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}  # fail fast instead of retrying the network
    cmd = [sys.executable, "-c", "from confalign.cli import main; main()", "datasets"]
    ok = subprocess.run([*cmd, "list"], capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0 and "mmlu_offline" in ok.stdout
    offline = subprocess.run(
        [*cmd, "show", "piqa"], capture_output=True, text=True, env=env, timeout=120
    )
    assert offline.returncode == 2 and "Traceback" not in offline.stderr
    (line,) = [ln for ln in offline.stderr.splitlines() if ln.startswith("error: ")]
    assert "could not load baber/piqa" in line and "needs the network" in line
