"""The shared training core on a tiny model: only LoRA learns, and a killed run resumes to
the same adapter as an uninterrupted one."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from train_helpers import PAIRS, render
from transformers import TrainerCallback

from confalign.train import core
from confalign.train.core import LoraSettings, TrainSettings, fit, load_policy, save_adapter
from confalign.train.dca_data import tokenize_pair
from confalign.train.packing import PackedScorer
from confalign.train.preference import preference_loss, preference_records, reference_logps

SETTINGS = TrainSettings(
    learning_rate=1e-3,
    batch_size=2,
    max_steps=4,
    save_steps=2,
    logging_steps=1,
    warmup_ratio=0.0,
    seed=7,
    lora=LoraSettings(r=4, alpha=8),
)


def _setup(model_dir: Path) -> tuple[Any, list[dict[str, Any]], Any]:
    torch.manual_seed(3)
    policy, tokenizer = load_policy(str(model_dir), SETTINGS.lora, device=torch.device("cpu"))
    items = [tokenize_pair(tokenizer, render(tokenizer, u), c, r) for u, c, r in PAIRS]
    scorer = PackedScorer(policy, tokenizer.pad_token_id)
    records = preference_records(items, reference_logps(policy, scorer, items))
    return policy, records, preference_loss(scorer, loss_type="ipo", beta=0.1)


def test_release_memory_false_leaves_the_allocator_alone(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    monkeypatch.setattr(core, "release_freed_memory", lambda: calls.append(1))
    cpu = torch.device("cpu")
    load_policy(str(tiny_model_dir), SETTINGS.lora, device=cpu, release_memory=False)
    assert calls == []
    load_policy(str(tiny_model_dir), SETTINGS.lora, device=cpu)
    assert calls == [1]


def test_gradients_reach_only_lora_parameters(tiny_model_dir: Path) -> None:
    policy, records, loss_fn = _setup(tiny_model_dir)
    policy.train()
    batch = {"item": [r["item"] for r in records], "ref": torch.stack([r["ref"] for r in records])}
    loss, _ = loss_fn(policy, batch)
    loss.backward()
    with_grad = {n for n, p in policy.named_parameters() if p.grad is not None}
    trainable = {n for n, p in policy.named_parameters() if p.requires_grad}
    assert with_grad == trainable
    assert with_grad and all("lora_" in n for n in with_grad)
    # the B matrices start at 0, so only they get a gradient at step 0 (A's is B^T times ...)
    assert any(policy.get_parameter(n).grad.abs().sum() > 0 for n in with_grad if "lora_B" in n)


def test_method_metrics_are_logged_as_means_since_the_last_log(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    policy, records, loss_fn = _setup(tiny_model_dir)
    seen: list[dict[str, float]] = []

    def recording(model: Any, batch: dict[str, Any]) -> Any:
        loss, metrics = loss_fn(model, batch)
        seen.append(metrics)
        return loss, metrics

    settings = replace(SETTINGS, logging_steps=2, save_steps=100)
    history = fit(policy, records, recording, settings, tmp_path, device=torch.device("cpu"))
    logged = [h for h in history if "loss" in h]
    assert len(seen) == 4 and len(logged) == 2  # 4 steps of one micro-batch, a log every 2
    for k, entry in enumerate(logged):
        window = seen[2 * k : 2 * k + 2]
        for key in ("margin", "accuracy"):
            assert entry[key] == pytest.approx(sum(m[key] for m in window) / 2, abs=1e-9)


class _Kill(TrainerCallback):
    """Raise at the end of step ``at``, as a SIGKILL after the checkpoint would."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step == self.at:
            raise KeyboardInterrupt


def _adapter(policy: Any, folder: Path) -> dict[str, torch.Tensor]:
    save_adapter(policy, folder, config={}, card="test")
    return load_file(folder / "adapter_model.safetensors")


@pytest.mark.slow
def test_kill_and_resume_gives_the_same_adapter(tiny_model_dir: Path, tmp_path: Path) -> None:
    policy, records, loss_fn = _setup(tiny_model_dir)
    history = fit(policy, records, loss_fn, SETTINGS, tmp_path / "a", device=torch.device("cpu"))
    reference = _adapter(policy, tmp_path / "a" / "adapter")
    losses = [h["loss"] for h in history if "loss" in h]
    assert len(losses) == 4

    policy, records, loss_fn = _setup(tiny_model_dir)
    with pytest.raises(KeyboardInterrupt):
        fit(
            policy,
            records,
            loss_fn,
            SETTINGS,
            tmp_path / "b",
            device=torch.device("cpu"),
            callbacks=[_Kill(3)],
        )
    assert (tmp_path / "b" / "checkpoints" / "checkpoint-2").is_dir()
    policy, records, loss_fn = _setup(tiny_model_dir)  # a new process: same command
    resumed = fit(policy, records, loss_fn, SETTINGS, tmp_path / "b", device=torch.device("cpu"))
    assert [h["loss"] for h in resumed if "loss" in h][-2:] == pytest.approx(losses[-2:], abs=1e-6)
    got = _adapter(policy, tmp_path / "b" / "adapter")
    assert got.keys() == reference.keys()
    for name, value in reference.items():
        assert torch.allclose(got[name], value, atol=1e-6), name
    assert any(v.abs().max() > 0 for k, v in reference.items() if "lora_B" in k)  # it trained


def test_checkpoints_are_sealed_whole_and_rotated_only_after_sealing(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """Pins what the seal relies on in transformers: ``_save_checkpoint`` writes every part of
    checkpoint-N (the adapter, optimizer, scheduler, RNG state, trainer_state.json) before it
    returns, and with ``save_total_limit=None`` it removes nothing itself: its own rotation
    (mtime order over every checkpoint-* folder) would take a set-aside folder for a checkpoint.
    """
    from confalign.runs import seal_problem

    policy, records, loss_fn = _setup(tiny_model_dir)
    aside = tmp_path / "checkpoints" / "checkpoint-7.incomplete-1"
    aside.mkdir(parents=True)
    settings = replace(SETTINGS, max_steps=3, save_steps=1, save_total_limit=2)
    fit(policy, records, loss_fn, settings, tmp_path, device=torch.device("cpu"))
    folder = tmp_path / "checkpoints"
    assert sorted(p.name for p in folder.iterdir()) == [
        "checkpoint-2",
        "checkpoint-3",
        "checkpoint-7.incomplete-1",
    ]
    for name in ("checkpoint-2", "checkpoint-3"):
        assert seal_problem(folder / name) is None
        listed = json.loads((folder / name / "complete.json").read_text())["files"]
        parts = ("adapter_model.safetensors", "optimizer.pt", "scheduler.pt", "rng_state.pth")
        assert set(listed) >= {*parts, "trainer_state.json"}, sorted(listed)
