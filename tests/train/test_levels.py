"""The training layout of ADVICE/ConfTuner: level distributions equal the ``distribution``
mode the evaluation reads (the ``hf`` backend), and the losses move the confidence the right
way with gradients only in LoRA."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from confalign.backends import BackendConfig, load_backend
from confalign.confidence.formats import get_format
from confalign.confidence.prompts import ANSWER_PREFIX, verbalized_prompt
from confalign.confidence.verbalized import VerbalizedConfig, VerbalizedExtractor
from confalign.data.example import QAExample
from confalign.train.advice_data import Triplet
from confalign.train.core import LoraSettings, load_policy
from confalign.train.levels import level_item, level_logprobs
from confalign.train.methods.advice import AdviceWeights, advice_item, advice_loss
from confalign.train.methods.conftuner import (
    LabelledAnswer,
    conftuner_item,
    conftuner_loss,
    conftuner_records,
)
from confalign.train.packing import PackedScorer

EXAMPLES = [
    QAExample(id="m1", question="What is 7 * 6?", gold="42"),
    QAExample(id="m2", question="What is 12 + 30?", gold="42"),
    QAExample(id="c1", question="Which is a prime?", choices=("4", "6", "7", "9"), gold=2),
]


@pytest.mark.parametrize("fmt_name", ["score_number", "score_percent", "score_text"])
def test_level_distribution_equals_the_distribution_mode(
    tiny_model_dir: Path, fmt_name: str
) -> None:
    fmt = get_format(fmt_name)
    backend = load_backend("hf", BackendConfig(model=str(tiny_model_dir), threads=1))
    try:
        extractor = VerbalizedExtractor(
            VerbalizedConfig(formats=(fmt_name,), modes=("distribution",))
        )
        records = extractor.extract(backend, EXAMPLES)
        texts = [backend.render(verbalized_prompt(ex, fmt, ANSWER_PREFIX)) for ex in EXAMPLES]
    finally:
        backend.close()
    policy, tokenizer = load_policy(
        str(tiny_model_dir), LoraSettings(r=4), device=torch.device("cpu")
    )
    scorer = PackedScorer(policy, tokenizer.pad_token_id)
    items = [
        level_item(tokenizer, text, (r.prediction, "other"), fmt, special=False, lm=True)
        for text, r in zip(texts, records, strict=True)
    ]
    with torch.no_grad():
        log_p, nll = level_logprobs(scorer, policy, items)
    assert log_p.shape == (3, 2, len(fmt.levels)) and nll is not None and nll.shape == (3,)
    for r, lp in zip(records, log_p, strict=True):
        np.testing.assert_allclose(np.exp(lp[0].numpy()), r.probs, atol=1e-5)
    assert not torch.allclose(log_p[:, 0], log_p[:, 1])  # the answer is in the prompt


def _prompt(tokenizer: Any, ex: QAExample, fmt: str) -> str:
    user = verbalized_prompt(ex, get_format(fmt), ANSWER_PREFIX).user
    messages = [{"role": "user", "content": user}]
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return text + ANSWER_PREFIX


def test_advice_steps_push_mu_correct_up_and_mu_wrong_down(policy: tuple) -> None:
    model, tokenizer = policy
    triplets = [
        Triplet(ex.id, "score_number", _prompt(tokenizer, ex, "score_number"), "42", w, "gold", "x")
        for ex, w in zip(EXAMPLES[:2], ("no idea at all", "the capital of France"), strict=True)
    ]
    items = [advice_item(tokenizer, t, special=False, lm=True) for t in triplets]
    scorer = PackedScorer(model, tokenizer.pad_token_id)
    loss_fn = advice_loss(scorer, AdviceWeights())
    batch = {"items": [items]}
    model.train()
    _, before = loss_fn(model, batch)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    # The sum term first lifts both means (they start summing to 0.76), then the margin
    # separates them: 20 steps. Wrong answers unlike "42": a random two-layer model's
    # confidence barely depends on a close number (the answer independence ADVICE targets),
    # and the gradients of two near-equal distributions nearly cancel.
    for step in range(20):
        optimizer.zero_grad()
        loss, _ = loss_fn(model, batch)
        loss.backward()
        if step == 0:
            with_grad = {n for n, p in model.named_parameters() if p.grad is not None}
            assert with_grad and all("lora_" in n for n in with_grad)
        optimizer.step()
    _, after = loss_fn(model, batch)
    assert after["mu_correct"] > before["mu_correct"] + 0.1
    assert after["mu_wrong"] < before["mu_wrong"] - 0.03
    assert after["jsd"] > before["jsd"] + 0.3


def test_conftuner_gradients_reach_only_lora_and_lower_the_loss(tiny_model_dir: Path) -> None:
    torch.manual_seed(0)
    model, tokenizer = load_policy(
        str(tiny_model_dir), LoraSettings(r=4, alpha=8), device=torch.device("cpu")
    )
    answers = [
        LabelledAnswer(ex.id, "score_number", _prompt(tokenizer, ex, "score_number"), a, ok)
        for ex, a, ok in zip(EXAMPLES[:2], ("42", "13"), (True, False), strict=True)
    ]
    items = [conftuner_item(tokenizer, a, special=False, lm=False) for a in answers]
    records = conftuner_records(items, answers)
    batch = {"item": items, "correct": torch.stack([r["correct"] for r in records])}
    loss_fn = conftuner_loss(PackedScorer(model, tokenizer.pad_token_id))
    model.train()
    loss, _ = loss_fn(model, batch)
    loss.backward()
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None}
    assert with_grad == {n for n, p in model.named_parameters() if p.requires_grad}
    assert with_grad and all("lora_" in n for n in with_grad)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    optimizer.step()
    assert loss_fn(model, batch)[0].item() < loss.item()
