"""Supervised verbalized calibration (the fourth method): its targets and its loss, by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from confalign.backends.packed import TreeItem
from confalign.confidence.formats import get_format
from confalign.train.levels import OwnAnswer
from confalign.train.methods.verbalized_sft import (
    Target,
    nearest_level,
    sft_loss,
    targets,
    value_item,
)

OWN = [
    OwnAnswer("a1", "score_percent", "4", True),
    OwnAnswer("a2", "score_percent", "7", False),
    OwnAnswer("a3", "score_percent", "9", True),
    OwnAnswer("b1", "score_percent", "", None),  # no answer: dropped
    OwnAnswer("b2", "score_percent", "12", False),
    OwnAnswer("c1", "score_percent", "3", True),
]
GROUPS = {"a1": "add/1", "a2": "add/1", "a3": "add/1", "b1": "mul/2", "b2": "mul/2", "c1": "x"}
PROMPTS = {(a.example_id, a.format): f"P{a.example_id}\nAnswer:" for a in OWN}


def test_the_target_is_the_group_accuracy_as_the_nearest_level() -> None:
    out, counts = targets(OWN, PROMPTS, GROUPS)
    assert [(t.example_id, t.accuracy, t.level) for t in out] == [
        ("a1", pytest.approx(2 / 3), "67%"),
        ("a2", pytest.approx(2 / 3), "67%"),
        ("a3", pytest.approx(2 / 3), "67%"),
        ("b2", 0.0, "0%"),  # b1 gave no answer: not counted in its group
        ("c1", 1.0, "100%"),
    ]
    assert counts == {"kept": 5, "dropped_no_answer": 1, "groups": 3}
    assert out[0].prompt == "Pa1\nAnswer:" and out[1].correct is False


def test_nearest_level_of_coarse_formats() -> None:
    number = get_format("score_number")  # 0..9 -> k/9
    assert nearest_level(number, 2 / 3) == "6"
    assert nearest_level(number, 0.5) == "4"  # 4/9 and 5/9 tie: the lower one


def test_only_the_value_tokens_are_read(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    t = Target("a1", "score_percent", "Q: 2+2?\nAnswer:", "4", True, "add/1", 2 / 3, "67%")
    item = value_item(tokenizer, t, special=False)
    whole = tokenizer("Q: 2+2?\nAnswer: 4\nConfidence: 67%", add_special_tokens=False)
    assert item.prompt + item.completions[0] == tuple(whole["input_ids"])
    assert tokenizer.decode(item.completions[0]).strip() == "67%"
    assert tokenizer.decode(item.prompt).endswith("Confidence:")


class _FakeScorer:
    """Per item one completion: (summed log-probability, token count), as ``PackedScorer``."""

    def __init__(self, sums: list[tuple[float, float]]) -> None:
        self.sums = sums

    def __call__(self, model: Any, items: list[Any]) -> list[torch.Tensor]:
        return [torch.tensor([list(s)], requires_grad=True) for s in self.sums]


def test_the_loss_is_the_value_tokens_mean_nll() -> None:
    item = TreeItem((1,), ((2,),))
    loss, metrics = sft_loss(_FakeScorer([(-2.0, 2.0), (-3.0, 1.0)]))(None, {"item": [item] * 2})
    assert float(loss.detach()) == pytest.approx(5 / 3)  # -(-2 - 3) / (2 + 1) tokens
    assert metrics["value_nll"] == pytest.approx(5 / 3)
