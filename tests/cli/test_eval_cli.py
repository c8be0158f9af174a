"""``confalign eval``: bad input gives one line and exit 2 with nothing stored lost; SIGINT stops
after the batch in flight; SIGKILL then a restart gives an uninterrupted run's results.

Fast tests drive the real CLI with the pipeline's model and extractors replaced by the
protocol-level doubles of ``tests/evaluate/eval_doubles.py``; the slow ones run the real tiny
model and the real extractors in a subprocess.
"""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import sys
from pathlib import Path
from subprocess import PIPE

import pytest

from confalign import data
from confalign.runs import RunStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evaluate"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_helpers import assert_user_error, run_app
from eval_doubles import (
    cli_group,
    install_loader,
    patch_pipeline,
    stored_count,
    subprocess_env,
    wait_for_rows,
)

DOUBLES = Path(__file__).resolve().parents[1] / "evaluate" / "eval_doubles.py"


@pytest.fixture
def doubles(monkeypatch: pytest.MonkeyPatch) -> None:
    install_loader(monkeypatch, {"toy": 12})
    patch_pipeline(monkeypatch)


def invoke(*args: str) -> tuple[int, str, str]:
    return run_app(cli_group(), ["eval", *args, "--no-progress"])


def stored_rows(run: Path) -> list[dict]:
    with RunStore.open(run) as store:
        return [r.to_dict() for r in store.rows()]


def test_eval_prints_where_results_are(tmp_path: Path, doubles: None) -> None:
    code, out, _ = invoke("--datasets", "toy", "--limit", "6", "--output", str(tmp_path / "r"))
    assert code == 0 and out.strip() == f"results: {tmp_path / 'r'}"
    assert len(stored_rows(tmp_path / "r")) == 4 + 6


def test_unknown_method_is_a_one_line_error(tmp_path: Path) -> None:
    code, out, err = invoke("--datasets", "toy", "--methods", "choice,chioce", "-o", str(tmp_path))
    assert_user_error(code, out, err, "unknown method 'chioce'", "Did you mean 'choice'?", "Known:")
    code, out, err = invoke("--datasets", "toy", "--formats", "percent", "-o", str(tmp_path))
    assert_user_error(code, out, err, "unknown format 'percent'", "probability")
    code, out, err = invoke("--datasets", "toy", "--backend", "hg", "-o", str(tmp_path))
    assert_user_error(code, out, err, "unknown backend 'hg'", "Known: hf, llamacpp")
    assert list(tmp_path.iterdir()) == []  # nothing was created


def test_unwritable_output_is_a_one_line_error(tmp_path: Path, doubles: None) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, out, err = invoke("--datasets", "toy", "--output", str(blocker / "run"))
    assert_user_error(code, out, err, "cannot write to output directory")


def test_mismatched_config_on_resume_is_refused_and_nothing_is_lost(
    tmp_path: Path, doubles: None
) -> None:
    run = str(tmp_path / "run")
    assert invoke("--datasets", "toy", "--limit", "6", "--output", run)[0] == 0
    before = stored_rows(tmp_path / "run")
    manifest_before = (tmp_path / "run" / "manifest.json").read_text()
    code, out, err = invoke("--datasets", "toy", "--limit", "8", "--seed", "3", "--output", run)
    assert_user_error(
        code, out, err, "different configuration", "datasets[toy].limit: 6 → 8", "seed: 0 → 3"
    )
    assert stored_rows(tmp_path / "run") == before
    assert (tmp_path / "run" / "manifest.json").read_text() == manifest_before


def test_malformed_dataset_file_is_a_one_line_error(tmp_path: Path) -> None:
    if not hasattr(data, "load_benchmark"):
        pytest.skip("confalign.data.load_benchmark does not exist yet")
    good = {"id": "q1", "question": "2+2?", "choices": ["3", "4"], "gold": 1}
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(good) + "\n" + '{"id": "q2", "question": "x", "gold": 7,\n')
    run = tmp_path / "run"
    code, out, err = invoke("--datasets", str(path), "--methods", "choice", "--output", str(run))
    assert_user_error(code, out, err, "bad.jsonl")
    assert not run.exists()


# ---------------------------------------------------------------- subprocess: signals


def start_cli(run: Path, n: int, delay: float, *args: str) -> subprocess.Popen[str]:
    env = subprocess_env()
    cmd = [sys.executable, str(DOUBLES), "cli", str(n), str(delay), "--", "eval"]
    cmd += ["--datasets", "toy", "--output", str(run), "--batch-size", "2", "--no-progress", *args]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigint_stops_after_the_current_batch_and_says_how_to_resume(tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = start_cli(run, 30, 0.2)
    wait_for_rows(proc, run, 2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "stopping after the current batch" in err
    assert "run the same command again (same --output) to resume" in err
    assert "Traceback" not in err
    stopped_at = stored_count(run)
    assert 2 <= stopped_at < 20 + 30 and stopped_at % 2 == 0  # whole batches only
    assert RunStore.open(run).manifest["status"] == "interrupted"
    done = start_cli(run, 30, 0.0)
    assert done.wait(timeout=60) == 0, done.communicate()
    assert stored_count(run) == 20 + 30


def test_sigkill_then_restart_through_the_cli(tmp_path: Path) -> None:
    reference, run = tmp_path / "ref", tmp_path / "run"
    assert start_cli(reference, 30, 0.0).wait(timeout=60) == 0
    proc = start_cli(run, 30, 0.05)
    wait_for_rows(proc, run, 6)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert stored_count(run) < 20 + 30
    done = start_cli(run, 30, 0.0)
    assert done.wait(timeout=60) == 0, done.communicate()
    assert stored_rows(run) == stored_rows(reference)


# ------------------------------------------------- slow: the real tiny model, real extractors

REAL_ARGS = (
    *("--methods", "choice,answer_prob,verbalized,agreement", "--formats", "score_letter"),
    *("--modes", "prefill,distribution", "--samples", "2", "--threads", "1"),
    *("--batch-size", "2", "--no-progress"),
)
N_REAL = 12  # 8 multiple choice, 4 open


def start_real(model: Path, run: Path, n: int) -> subprocess.Popen[str]:
    """``confalign eval`` on the tiny model with the real extractors; only the data is the toy
    loader's (the real loader is exercised by the malformed-file test)."""
    cmd = [
        sys.executable,
        str(DOUBLES),
        "realcli",
        str(n),
        "--",
        "eval",
        "--model",
        str(model),
        "--datasets",
        "toy",
        "--output",
        str(run),
        *REAL_ARGS,
    ]
    return subprocess.Popen(cmd, env=subprocess_env(), stdout=PIPE, stderr=PIPE, text=True)


@pytest.mark.slow
def test_real_model_sigkill_then_restart_equals_uninterrupted_run(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    reference, run = tmp_path / "ref", tmp_path / "run"
    ref = start_real(tiny_model_dir, reference, N_REAL)
    out, err = ref.communicate(timeout=300)
    assert ref.returncode == 0, err
    assert out.strip() == f"results: {reference}"
    expected = stored_rows(reference)
    # choice on 8 multiple choice, answer_prob on 4 open, 2 verbalized modes and agreement on 12
    assert len(expected) == 8 + 4 + 2 * 12 + 12

    proc = start_real(tiny_model_dir, run, N_REAL)
    wait_for_rows(proc, run, 10)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 10 <= stored_count(run) < len(expected)
    again = start_real(tiny_model_dir, run, N_REAL)
    assert again.wait(timeout=300) == 0, again.communicate()
    got = stored_rows(run)
    keys = [(r["dataset"], r["example_id"], r["method_key"]) for r in got]
    assert len(keys) == len(set(keys)) == len(expected)  # no duplicate, none missing
    assert got == expected  # greedy decoding, per-example seeds, same batches: identical
    manifest = RunStore.open(run).manifest
    assert manifest["status"] == "complete" and len(manifest["resumed"]) == 1


def write_dataset(path: Path, n: int) -> Path:
    rows = []
    for i in range(n):
        q = f"What is {i} plus {i % 5}?"
        choices = [str(i + i % 5 + d) for d in (-1, 0, 1, 2)]
        rows.append({"id": f"q{i}", "question": q, "choices": choices, "gold": 1})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.slow
def test_real_malformed_rows_after_a_run_lose_nothing(tiny_model_dir: Path, tmp_path: Path) -> None:
    if not hasattr(data, "load_benchmark"):
        pytest.skip("confalign.data.load_benchmark does not exist yet")
    if importlib.util.find_spec("confalign.cli.datasets") is None:
        pytest.skip("confalign.cli.datasets does not exist yet (the full CLI cannot start)")
    dataset, run = write_dataset(tmp_path / "arith.jsonl", 4), tmp_path / "run"
    cmd = [
        sys.executable,
        "-c",
        "from confalign.cli import main; main()",
        "eval",
        "--model",
        str(tiny_model_dir),
        "--datasets",
        str(dataset),
        "--output",
        str(run),
        *REAL_ARGS,
    ]
    first = subprocess.run(cmd, env=subprocess_env(), capture_output=True, text=True, check=False)
    assert first.returncode == 0, first.stderr
    before = stored_rows(run)
    assert len(before) == 4 * (1 + 2 + 1)
    with dataset.open("a", encoding="utf-8") as fh:
        fh.write('{"id": "q9", "question": "broken", "choices": ["a"], "gold": 3}\n')
    second = subprocess.run(cmd, env=subprocess_env(), capture_output=True, text=True, check=False)
    assert_user_error(second.returncode, second.stdout, second.stderr, "arith.jsonl")
    assert stored_rows(run) == before
