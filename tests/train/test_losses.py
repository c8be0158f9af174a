"""DCA's losses: hand-computed values, equality with TRL's DPOTrainer on the same batch, and
the direction one optimiser step moves the log-ratio."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from confalign.train.dca_data import tokenize_pair
from confalign.train.losses import chosen_nll, dpo_sigmoid, ipo
from confalign.train.packing import PackedScorer
from confalign.train.preference import preference_loss, reference_logps


def test_dpo_sigmoid_hand_computed() -> None:
    # delta = (-1 - -2) - (-3 - -2.5) = 1.5; loss = -log sigmoid(0.1 * 1.5) = log(1 + e^-0.15)
    t = torch.tensor
    got = dpo_sigmoid(t([-1.0]), t([-3.0]), t([-2.0]), t([-2.5]), beta=0.1)
    assert got.item() == pytest.approx(math.log1p(math.exp(-0.15)), abs=1e-7)


def test_ipo_hand_computed_normalises_by_length() -> None:
    # r_c / n_c = 1 / 4 = 0.25, r_r / n_r = -0.5 / 2 = -0.25, delta = 0.5; 1/(2 beta) = 5
    t = torch.tensor
    got = ipo(
        t([-1.0]),
        t([-3.0]),
        t([-2.0]),
        t([-2.5]),
        beta=0.1,
        chosen_len=t([4.0]),
        rejected_len=t([2.0]),
    )
    assert got.item() == pytest.approx((0.5 - 5.0) ** 2, abs=1e-6)
    with pytest.raises(ValueError, match="lengths"):
        ipo(t([0.0]), t([0.0]), t([0.0]), t([0.0]), beta=0.1)


def test_chosen_nll_is_per_token_over_the_batch() -> None:
    # (2 + 4) nats over (2 + 3) tokens, not the mean of the per-pair means (1 and 4/3)
    got = chosen_nll(torch.tensor([-2.0, -4.0]), torch.tensor([2.0, 3.0]))
    assert got.item() == pytest.approx(1.2, abs=1e-7)


def _trl_trainer(
    model_dir: Any, rows: list[dict[str, str]], loss_type: list[str], weights: list[float] | None
) -> Any:
    """TRL's DPOTrainer creating its own LoRA adapter on the tiny model (so its reference is
    the model with the adapter disabled, as ours), with the adapter's B made non-zero."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    base = AutoModelForCausalLM.from_pretrained(model_dir, attn_implementation="sdpa")
    args = DPOConfig(
        output_dir="/tmp/trl-unused",
        per_device_train_batch_size=len(rows),
        loss_type=loss_type,
        loss_weights=weights,
        beta=0.1,
        bf16=False,
        use_cpu=True,
        report_to=[],
        max_length=None,
    )
    lora = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"])
    trainer = DPOTrainer(
        model=base,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=lora,
    )
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in trainer.model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    trainer.model.eval()
    return trainer, tokenizer


@pytest.mark.parametrize(
    ("loss_type", "sft_weight"), [("sigmoid", 0.0), ("ipo", 0.0), ("ipo", 0.5), ("sigmoid", 2.0)]
)
def test_loss_equals_trl_dpo_trainer(
    tiny_model_dir: Any, pair_rows: list, loss_type: str, sft_weight: float
) -> None:
    # sft_weight > 0: TRL's loss_type=[loss, "sft"] with loss_weights=[1, sft_weight] (RPO).
    types, weights = ([loss_type, "sft"], [1.0, sft_weight]) if sft_weight else ([loss_type], None)
    trainer, tokenizer = _trl_trainer(tiny_model_dir, pair_rows, types, weights)
    tokenized = trainer.train_dataset
    batch = trainer.data_collator([tokenized[i] for i in range(len(pair_rows))])
    with torch.no_grad():
        trl_loss = float(trainer.compute_loss(trainer.model, batch))
    rows = pair_rows
    items = [tokenize_pair(tokenizer, r["prompt"], r["chosen"], r["rejected"]) for r in rows]
    # Same tokens as TRL: prompt ids and completion ids (EOS appended) per pair.
    for item, row in zip(items, tokenized, strict=True):
        assert list(item.prompt) == row["prompt_ids"]
        assert [list(c) for c in item.completions] == [row["chosen_ids"], row["rejected_ids"]]
    model = trainer.model
    scorer = PackedScorer(model, tokenizer.pad_token_id)
    ref = reference_logps(model, scorer, items)
    with torch.no_grad():
        loss_fn = preference_loss(scorer, loss_type=loss_type, beta=0.1, sft_weight=sft_weight)
        ours, _ = loss_fn(model, {"item": items, "ref": ref})
        if sft_weight:  # the NLL term is really there (tiny random model: several nats per token)
            plain, _ = preference_loss(scorer, loss_type=loss_type, beta=0.1)(
                model, {"item": items, "ref": ref}
            )
            assert float(ours) - float(plain) > sft_weight
    assert abs(trl_loss - {"sigmoid": math.log(2), "ipo": 25.0}[loss_type]) > 1e-3  # not trivial
    assert float(ours) == pytest.approx(trl_loss, abs=1e-5)


def test_one_step_moves_the_log_ratio_towards_chosen(policy: tuple, pair_rows: list) -> None:
    model, tokenizer = policy
    items = [tokenize_pair(tokenizer, r["prompt"], r["chosen"], r["rejected"]) for r in pair_rows]
    scorer = PackedScorer(model, tokenizer.pad_token_id)
    ref = reference_logps(model, scorer, items)
    loss_fn = preference_loss(scorer, loss_type="ipo", beta=0.1)
    batch = {"item": items, "ref": ref}

    def margin() -> float:
        with torch.no_grad():
            s = torch.stack(scorer(model, items))
        return float(((s[:, 0, 0] - ref[:, 0]) - (s[:, 1, 0] - ref[:, 1])).mean())

    before = margin()
    model.train()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    loss, _ = loss_fn(model, batch)
    loss.backward()
    optimizer.step()
    assert margin() > before + 1e-4
