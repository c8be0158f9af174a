"""The documented multi-GPU / multi-node command is the tested one: ``accelerate launch``
with two CPU processes (DDP over gloo) follows the same loss trajectory as one process with
the same global batch. Plain SGD, so a wrong gradient scale (a sum instead of a mean over
processes or accumulation steps) shows in the trajectory; Adam would normalise it away."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from train_helpers import PAIRS, render

pytestmark = pytest.mark.slow


def _pairs_file(model_dir: Path, path: Path) -> Path:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    # One global batch of 4 pairs: every step sees the same set whichever process holds which.
    rows = [{"prompt": render(tokenizer, u), "chosen": c, "rejected": r} for u, c, r in PAIRS]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _train(cmd: list[str], model_dir: Path, pairs: Path, out: Path, batch: int) -> list[float]:
    args = [
        "-m", "confalign.cli", "train", "dca", "--model", str(model_dir), "--pairs-file",
        str(pairs), "--no-evaluate", "--ood-dataset", "none", "--batch-size", str(batch),
        "--max-steps", "3", "--logging-steps", "1", "--lr", "0.05", "--optim", "sgd",
        "--max-grad-norm", "0", "--lora-r", "4", "--threads", "1", "--no-progress",
        "--output", str(out),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    log = json.loads((out / "train_log.json").read_text())
    return [h["loss"] for h in log if "loss" in h]


def test_two_processes_equal_one_with_the_same_global_batch(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    assert accelerate, "accelerate's launcher is installed with transformers' training extra"
    pairs = _pairs_file(tiny_model_dir, tmp_path / "pairs.jsonl")
    one = _train([sys.executable], tiny_model_dir, pairs, tmp_path / "one", batch=4)
    # --multi_gpu starts torchrun; without GPUs the processes use the CPU and gloo.
    launch = [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines",
              "1", "--mixed_precision", "no", "--dynamo_backend", "no"]  # fmt: skip
    two = _train(launch, tiny_model_dir, pairs, tmp_path / "two", batch=2)
    assert len(one) == len(two) == 3
    assert two == pytest.approx(one, abs=1e-4)
    assert one[2] < one[0] - 1e-3  # it learns (step 1 is warm-up at lr 0): not a flat line
