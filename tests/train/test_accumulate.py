"""A loss over packed items backpropagated one forward pass at a time (``MethodTrainer``'s
``training_step`` with a ``train.packing.ItemLoss``) gives the gradient of one graph over the
whole micro-batch and one backward (the Trainer's own step, the method's loss written out over
the batch's scores, one forward pass): the LoRA gradients of one optimizer step of two
accumulated micro-batches, and the logged loss, agree to 1e-5 for every method's loss."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from train_helpers import PAIRS, render
from transformers import TrainerCallback

from confalign.train.core import LoraSettings, TrainSettings, fit
from confalign.train.dca_data import tokenize_pair
from confalign.train.levels import level_logprobs
from confalign.train.losses import (
    PREFERENCE_LOSSES,
    chosen_nll,
    expected_brier,
    expected_value,
    jsd_hinge,
    margin_hinge,
    sum_penalty,
)
from confalign.train.methods.advice import (
    AdviceWeights,
    Triplet,
    advice_item,
    advice_loss,
    advice_records,
)
from confalign.train.methods.base import simple_records
from confalign.train.methods.conftuner import (
    LabelledAnswer,
    conftuner_item,
    conftuner_loss,
    conftuner_records,
)
from confalign.train.methods.verbalized_sft import Target, sft_loss, value_item
from confalign.train.packing import ItemLoss, PackedScorer
from confalign.train.preference import preference_loss, preference_records, reference_logps

SETTINGS = TrainSettings(
    learning_rate=1e-3,
    batch_size=2,
    grad_accum=2,  # the step's gradient adds two micro-batches' shares
    max_steps=1,
    logging_steps=1,
    save_steps=100,
    warmup_ratio=0.0,
    max_grad_norm=0.0,  # the raw gradient is compared (clipping to 1 could hide a scale)
    optim="sgd",
    seed=5,
    lora=LoraSettings(r=4, alpha=8),
)
PASS = 48  # the pass-by-pass scorer's batch_tokens: a line a pass, several per micro-batch
LEVELS = ("50%", "7%", "100%", "33%")  # verbalized SFT's targets, one a question
WHOLE = 100_000  # the plain path's: the micro-batch in one forward pass
QUESTIONS = [
    ("What is 7 * 6?", "42", "no idea at all"),
    ("What is 12 + 30?", "42", "the capital of France"),
    ("Which is a prime: 4, 6, 7 or 9?", "7", "9"),
    ("What is 100 - 1?", "99", "one hundred and one"),
]


class _Gradients(TrainerCallback):
    """The trainable parameters' gradients just before the optimizer step."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.grads: dict[str, torch.Tensor] = {}

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.grads = {
            n: p.grad.detach().clone()
            for n, p in self.model.named_parameters()
            if p.requires_grad and p.grad is not None
        }


def _step(
    model: Any, records: list, loss_fn: Any, settings: TrainSettings, out: Path
) -> tuple[dict[str, torch.Tensor], float]:
    """One optimizer step of ``fit``: the gradients it took and the loss it logged; the
    trainable weights are put back as they were."""
    start = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    grads = _Gradients(model)
    history = fit(
        model, records, loss_fn, settings, out, device=torch.device("cpu"), callbacks=[grads]
    )
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n in start:
                p.copy_(start[n])
    model.zero_grad(set_to_none=True)
    return grads.grads, next(h["loss"] for h in history if "loss" in h)


def _assert_same_step(
    model: Any,
    records: list,
    ours: ItemLoss,
    plain: Any,
    tmp: Path,
    settings: TrainSettings = SETTINGS,
) -> None:
    passes: list[int] = []
    by_pass = ours.passes

    def counted(batch: dict) -> Any:
        run = by_pass(batch)
        passes.append(len(run))
        return run

    ours.passes = counted  # type: ignore[method-assign]
    got, got_loss = _step(model, records, ours, settings, tmp / "ours")
    want, want_loss = _step(model, records, plain, settings, tmp / "plain")
    # the pass-by-pass step ran, twice (accumulation), with several passes each time
    assert len(passes) == settings.grad_accum and min(passes) > 1
    assert got.keys() == want.keys() and got and all("lora_" in n for n in got)
    assert any(g.abs().sum() > 0 for g in want.values())
    for name, g in got.items():
        torch.testing.assert_close(g, want[name], atol=1e-5, rtol=0, msg=name)
    assert got_loss == pytest.approx(want_loss, abs=1e-5)


def _prompt(tokenizer: Any, question: str) -> str:
    return render(tokenizer, question) + "Answer:"


@pytest.mark.parametrize(
    ("loss_type", "sft_weight"), [("sigmoid", 0.0), ("ipo", 0.0), ("cal_dpo", 0.5)]
)
def test_preference_losses(
    policy: tuple, tmp_path: Path, loss_type: str, sft_weight: float
) -> None:
    model, tokenizer = policy
    items = [tokenize_pair(tokenizer, render(tokenizer, u), c, r) for u, c, r in PAIRS]
    whole = PackedScorer(model, tokenizer.pad_token_id, batch_tokens=WHOLE)
    records = preference_records(items, reference_logps(model, whole, items))
    scorer = PackedScorer(model, tokenizer.pad_token_id, batch_tokens=PASS)
    ours = preference_loss(scorer, loss_type=loss_type, beta=0.1, sft_weight=sft_weight)

    def plain(model: Any, batch: dict) -> tuple[torch.Tensor, dict]:
        s = torch.stack(whole(model, batch["item"]))
        ref = batch["ref"].to(s.dtype)
        per_pair = PREFERENCE_LOSSES[loss_type](
            s[:, 0, 0], s[:, 1, 0], ref[:, 0], ref[:, 1], beta=0.1,
            chosen_len=s[:, 0, 1], rejected_len=s[:, 1, 1],
        )  # fmt: skip
        return per_pair.mean() + sft_weight * chosen_nll(s[:, 0, 0], s[:, 0, 1]), {}

    _assert_same_step(model, records, ours, plain, tmp_path)


def test_advice_loss(policy: tuple, tmp_path: Path) -> None:
    model, tokenizer = policy
    triplets = [
        Triplet(f"q{k}", "score_number", _prompt(tokenizer, q), right, wrong, "gold", "own")
        for k, (q, right, wrong) in enumerate(QUESTIONS)
    ]
    items = [advice_item(tokenizer, t, special=False, lm=True) for t in triplets]
    records = advice_records([items[:2], items[2:]])  # one-format mini-batches, one a record
    w = AdviceWeights(lm=0.5)
    scorer = PackedScorer(model, tokenizer.pad_token_id, batch_tokens=PASS)
    whole = PackedScorer(model, tokenizer.pad_token_id, batch_tokens=WHOLE)

    def plain(model: Any, batch: dict) -> tuple[torch.Tensor, dict]:
        (items,) = batch["items"]
        log_p, nll = level_logprobs(whole, model, items)
        mu = expected_value(log_p, torch.tensor(items[0].values))
        mu_c, mu_w = mu[:, 0], mu[:, 1]
        terms = (
            w.jsd * jsd_hinge(log_p[:, 0], log_p[:, 1], w.d_jsd)
            + w.margin * margin_hinge(mu_c, mu_w, w.d_m)
            + w.sum * sum_penalty(mu_c, mu_w)
        )
        assert nll is not None
        return terms.mean() + w.lm * nll.mean(), {}

    settings = replace(SETTINGS, batch_size=1)  # ADVICE's records are its mini-batches
    _assert_same_step(model, records, advice_loss(scorer, w), plain, tmp_path, settings)


def test_conftuner_loss(policy: tuple, tmp_path: Path) -> None:
    model, tokenizer = policy
    answers = [
        LabelledAnswer(f"q{k}", "score_number", _prompt(tokenizer, q), a, k % 2 == 0)
        for k, (q, a, _) in enumerate(QUESTIONS)
    ]
    items = [conftuner_item(tokenizer, a, special=False, lm=True) for a in answers]
    records = conftuner_records(items, answers)
    scorer = PackedScorer(model, tokenizer.pad_token_id, batch_tokens=PASS)
    whole = PackedScorer(model, tokenizer.pad_token_id, batch_tokens=WHOLE)

    def plain(model: Any, batch: dict) -> tuple[torch.Tensor, dict]:
        items = batch["item"]
        log_p, nll = level_logprobs(whole, model, items)
        brier = expected_brier(log_p[:, 0], torch.tensor(items[0].values), batch["correct"])
        assert nll is not None
        return brier.mean() + 0.5 * nll.mean(), {}

    ours = conftuner_loss(scorer, lm_weight=0.5)
    _assert_same_step(model, records, ours, plain, tmp_path)


def test_verbalized_sft_loss(policy: tuple, tmp_path: Path) -> None:
    model, tokenizer = policy
    targets = [
        Target(f"q{k}", "score_percent", _prompt(tokenizer, q), a, True, "g", 0.5, level)
        for k, ((q, a, _), level) in enumerate(zip(QUESTIONS, LEVELS, strict=True))
    ]
    items = [value_item(tokenizer, t, special=False) for t in targets]
    records, _ = simple_records(items, targets, None, None, SETTINGS)
    scorer = PackedScorer(model, tokenizer.pad_token_id, batch_tokens=PASS)
    whole = PackedScorer(model, tokenizer.pad_token_id, batch_tokens=WHOLE)

    def plain(model: Any, batch: dict) -> tuple[torch.Tensor, dict]:
        s = torch.stack([x[0] for x in whole(model, batch["item"])])
        return chosen_nll(s[:, 0], s[:, 1]), {}

    _assert_same_step(model, records, sft_loss(scorer), plain, tmp_path)
