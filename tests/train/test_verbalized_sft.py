"""Supervised verbalized calibration (the fourth method): its targets and its loss, by hand."""

from __future__ import annotations

from pathlib import Path

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


def test_the_loss_is_the_value_tokens_mean_nll() -> None:
    item = TreeItem((1,), ((2,),))
    objective = sft_loss(None).objective({"item": [item, TreeItem((1,), ((2, 3),))]})
    # per item one completion: (summed log-probability, token count), as ``PackedScorer``
    scores = [torch.tensor([[-3.0, 1.0]]), torch.tensor([[-2.0, 2.0]])]
    loss, metrics = objective.share([0, 1], scores), objective.metrics(scores)
    assert float(loss) == pytest.approx(5 / 3)  # -(-3 - 2) / (1 + 2) tokens
    # a share is the items' part of the batch's loss: the batch's token count divides
    assert float(objective.share([1], scores[1:])) == pytest.approx(2 / 3)
    assert metrics["value_nll"] == pytest.approx(5 / 3)
