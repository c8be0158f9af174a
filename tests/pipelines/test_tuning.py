"""ADVICE/ConfTuner pipeline settings: what a rerun must match, and what is evaluated."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from confalign.data.example import QAExample
from confalign.pipelines._steps import Splits
from confalign.pipelines.tuning import (
    AdviceOptions,
    ConfTunerOptions,
    TuningConfig,
    _eval_runs,
    _ood_formats,
)

EX = [QAExample(id=f"q{i}", question=f"{i} + 1?", gold=str(i + 1)) for i in range(6)]
SPLITS = Splits(train=EX[:2], validation=EX[2:3], heldout=EX[3:5], ood=EX[5:])


def test_identity_ignores_how_and_where_it_runs(tmp_path: Path) -> None:
    config = TuningConfig(output=tmp_path / "a", ood_dataset="calibrated_math")
    same = replace(config, output=tmp_path / "b", threads=1, evaluate=False)
    assert same.identity() == config.identity()
    other = replace(config, method=AdviceOptions(correct_from="gold"))
    assert other.identity() != config.identity()
    assert other.identity()["options"]["correct_from"] == "gold"
    assert TuningConfig(output=tmp_path, method=ConfTunerOptions()).identity()["method"] == (
        "conftuner"
    )


def test_validation_only_evaluates_the_validation_split_alone(tmp_path: Path) -> None:
    config = TuningConfig(output=tmp_path, ood_dataset="calibrated_math", validation_limit=1)
    names = [c.output.name for c, _ in _eval_runs(config, SPLITS, None)]
    assert names == ["eval-base", "ood-base", "valid-base"]
    swept = replace(config, validation_only=True)
    assert swept.identity() == config.identity()  # a sweep's runtime choice, not a result
    ((only, data),) = _eval_runs(swept, SPLITS, tmp_path / "adapter")
    assert only.output.name == "valid-advice" and data == {"calibrated_math": EX[2:3]}
    assert only.formats == ("score_letter", "score_number") and only.adapter


def test_ood_formats_default_to_advices_two_and_the_trained_one(tmp_path: Path) -> None:
    conftuner = TuningConfig(output=tmp_path, method=ConfTunerOptions(format="score_percent"))
    assert _ood_formats(conftuner) == ("score_letter", "score_number", "score_percent")
    assert _ood_formats(replace(conftuner, ood_formats=("score_text",))) == ("score_text",)
