"""SIGKILL an eval mid-run, restart it, and get exactly an uninterrupted run's results.

This test drives the pipeline in a subprocess with the protocol-level doubles (a slow batch
makes the kill land mid-run reliably); ``tests/cli/test_eval_cli.py`` does the same through
``confalign eval`` on the real tiny model.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from subprocess import PIPE

from eval_doubles import stored_count, subprocess_env, wait_for_rows

from confalign.runs import RunStore

DOUBLES = Path(__file__).with_name("eval_doubles.py")
N, BATCH = 30, 2  # 20 multiple-choice + 30 verbalized records, in 10 + 15 batches


def start(run: Path, delay: float) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, str(DOUBLES), str(run), str(N), str(BATCH), str(delay)]
    return subprocess.Popen(cmd, env=subprocess_env(), stdout=PIPE, stderr=PIPE)


def all_rows(run: Path) -> list[dict]:
    with RunStore.open(run) as store:
        return [r.to_dict() for r in store.rows()]


def test_sigkill_then_restart_equals_uninterrupted_run(tmp_path: Path) -> None:
    reference, run = tmp_path / "reference", tmp_path / "run"
    assert start(reference, 0.0).wait(timeout=120) == 0
    expected = all_rows(reference)
    assert len(expected) == 20 + 30

    proc = start(run, 0.05)
    wait_for_rows(proc, run, 6)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 6 <= stored_count(run) < len(expected)
    assert RunStore.open(run).manifest["status"] == "running"  # it never got to say otherwise

    done = start(run, 0.0)
    assert done.wait(timeout=120) == 0, done.communicate()
    got = all_rows(run)
    keys = [(r["dataset"], r["example_id"], r["method_key"]) for r in got]
    assert len(keys) == len(set(keys)) == len(expected)  # no duplicate, none missing
    assert got == expected
    with RunStore.open(run) as store:
        assert store.manifest["status"] == "complete"
        assert len(store.manifest["resumed"]) == 1
