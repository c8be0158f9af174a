"""Kill a training at any moment, run the same command again, get the same adapter.

One uninterrupted run of each method on a tiny random model (three steps, a checkpoint every
step, two kept) records every state a kill can leave its folder in (``kill_points``: before,
during and after each checkpoint file, seal, rotation, cache and adapter write; about 95 a
method). For ``KILLS`` of them (all with ``CONFALIGN_KILL_POINTS=all``), restored in place, the
same command must finish with the uninterrupted run's adapter (1e-6), say in one line each
checkpoint it sets aside and each cache it recomputes, and never stop with an error. One more
test kills a real child process with SIGKILL in the middle of a checkpoint's optimizer file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from cli_helpers import run_app
from kill_points import KillPoint, record, restore
from train_helpers import PAIRS, render

from confalign.cli import _register, app

COMMON = [
    "--no-evaluate", "--ood-dataset", "none", "--train-limit", "4", "--eval-limit", "3",
    "--max-steps", "3", "--save-steps", "1", "--batch-size", "2", "--lr", "1e-2",
    "--threads", "1", "--no-progress",
]  # fmt: skip
METHOD_ARGS = {
    "dca": ["--lora-r", "4"],  # + --pairs-file: a random model writes no parsable confidence
    "advice": ["--correct-from", "gold"],
    "conftuner": ["--format", "score_number"],
}
CACHES = {
    "dca": ("data.jsonl", "data_stats.json", "prepared.pt"),
    "advice": ("data.jsonl", "data_stats.json"),
    "conftuner": ("data.jsonl", "data_stats.json"),
}
# The kill points tested by default: the folder's claim mid-way (its probe, its settings file);
# every write of the middle checkpoint (one complete one before it) mid-way, before it starts,
# before and at its seal; a checkpoint with none complete before it; the rotation; each cache
# cut mid-write and left without its checksum; the log; the adapter folder mid-write and
# before its rename.
KILLS = [
    r"during write \.(write-test|(dca|advice|conftuner)\.json\.tmp)$",
    r"during write checkpoints/checkpoint-2/",
    r"before write checkpoints/checkpoint-2/(README\.md|\.complete\.json\.tmp)$",
    r"before rename checkpoints/checkpoint-2/\.complete\.json\.tmp$",
    r"during write checkpoints/checkpoint-1/optimizer\.pt$",
    r"before rename checkpoints/checkpoint-1$",
    r"during write \.(data|prepared)[^/.]*\.(jsonl|json|pt)\.tmp$",
    r"before write \.(data|prepared)[^/]*\.sha256\.tmp$",
    r"during write \.train_log\.json\.tmp$",
    r"during write \.adapter\.tmp/adapter_model\.safetensors$",
    r"before rename \.adapter\.tmp$",
]


def command(method: str, model: Path, out: Path, inputs: Path) -> list[str]:
    """The command line; ``inputs``: the folder ``write_inputs`` filled."""
    extra = ["--pairs-file", str(inputs / "pairs.jsonl")] if method == "dca" else []
    return ["train", method, "--model", str(model), "--dataset", str(inputs / "qa.jsonl"),
            "--output", str(out), *COMMON, *extra, *METHOD_ARGS[method]]  # fmt: skip


def invoke(args: list[str]) -> tuple[int, str, str]:
    _register()
    return run_app(app, args)


def adapter(out: Path) -> dict[str, torch.Tensor]:
    return load_file(out / "adapter" / "adapter_model.safetensors")


def assert_same(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor], at: str) -> None:
    assert got.keys() == want.keys(), at
    for name, value in want.items():
        assert torch.allclose(got[name], value, atol=1e-6, rtol=0), (at, name)


def write_inputs(model: Path, folder: Path) -> Path:
    """Ten small multiple-choice questions (a benchmark file loads in milliseconds) and the
    hand-made DCA pairs, in ``folder``."""
    from transformers import AutoTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    questions = [
        {"id": f"q{i}", "question": f"{i} + {i}?", "choices": [str(2 * i), str(2 * i + 1)],
         "gold": i % 2}
        for i in range(10)
    ]  # fmt: skip
    (folder / "qa.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
    tokenizer = AutoTokenizer.from_pretrained(model)
    rows = [{"prompt": render(tokenizer, u), "chosen": c, "rejected": r} for u, c, r in PAIRS]
    (folder / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def chosen(points: list[KillPoint]) -> list[KillPoint]:
    if os.environ.get("CONFALIGN_KILL_POINTS") == "all":
        return points
    return [p for p in points if any(re.match(k, p.label) for k in KILLS)]


def unsealed(state: Path) -> list[str]:
    """The checkpoints of ``state`` that a rerun must set aside."""
    folder = state / "checkpoints"
    names = [p.name for p in folder.iterdir()] if folder.is_dir() else []
    return [
        n for n in names if re.fullmatch(r"checkpoint-\d+", n) and "complete.json" not in
        {q.name for q in (folder / n).iterdir()}
    ]  # fmt: skip


def damaged(state: Path, names: tuple[str, ...]) -> list[str]:
    """The caches of ``state`` a rerun reads whose checksum is missing or does not match
    (``prepared.pt`` is read only while the adapter is not saved)."""
    if (state / "adapter" / "adapter_model.safetensors").exists():
        names = tuple(n for n in names if n != "prepared.pt")
    out = []
    for name in names:
        path, sidecar = state / name, state / f"{name}.sha256"
        if not path.exists():
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if not sidecar.exists() or sidecar.read_text().split()[0] != digest:
            out.append(name)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("method", ["dca", "advice", "conftuner"])
def test_a_kill_anywhere_then_the_same_command_gives_the_same_adapter(
    method: str, tiny_model_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    args = command(method, tiny_model_dir, out, write_inputs(tiny_model_dir, tmp_path / "in"))
    with record(out, tmp_path / "states") as points:
        code, _, err = invoke(args)
    assert code == 0, err
    reference = adapter(out)
    assert any(v.abs().max() > 0 for k, v in reference.items() if "lora_B" in k)  # it trained
    kills = chosen(points)
    labels = [p.label for p in kills]
    assert len(labels) >= 20 and len(set(labels)) == len(labels), labels
    for point in kills:
        aside, cut = unsealed(point.state), damaged(point.state, CACHES[method])
        restore(point, out)
        code, _, err = invoke(args)
        assert code == 0, (point.label, err)
        assert_same(adapter(out), reference, point.label)
        said = [line for line in err.splitlines() if "set aside" in line or "recomputing" in line]
        expected = [f"{n} is incomplete" for n in aside] + [f"{out / n}: " for n in cut]
        assert len(said) == len(expected), (point.label, said, expected)
        for fragment in expected:
            assert any(fragment in line for line in said), (point.label, fragment, said)
        for name in aside:  # set aside under a new name, never deleted
            assert (out / "checkpoints" / f"{name}.incomplete-1").is_dir(), point.label


@pytest.mark.slow
def test_sigkill_mid_checkpoint_then_the_same_command(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The issue's case: a real SIGKILL while checkpoint-2 is written, then the same command."""
    inputs = write_inputs(tiny_model_dir, tmp_path / "in")
    reference_out, out = tmp_path / "reference", tmp_path / "run"
    code, _, err = invoke(command("dca", tiny_model_dir, reference_out, inputs))
    assert code == 0, err
    args = command("dca", tiny_model_dir, out, inputs)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = Path(__file__).with_name("kill_child.py")
    label = "during write checkpoints/checkpoint-2/optimizer.pt"
    killed = subprocess.run(
        [sys.executable, str(child), str(out), label, *args], env=env, capture_output=True
    )
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    half = out / "checkpoints" / "checkpoint-2" / "optimizer.pt"
    assert half.is_file() and not (half.parent / "complete.json").exists()
    rerun = subprocess.run(
        [sys.executable, "-m", "confalign.cli", *args], env=env, capture_output=True, text=True
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"{half.parent} is incomplete" in rerun.stderr
    assert "set aside as checkpoint-2.incomplete-1; resuming from checkpoint-1" in rerun.stderr
    assert_same(adapter(out), adapter(reference_out), label)
