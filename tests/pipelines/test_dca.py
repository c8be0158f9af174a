"""DCA pipeline settings: what a rerun must match, what is evaluated, what is refused."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from confalign.data.example import QAExample
from confalign.pipelines._steps import Splits, TrainingRunError, claim_output
from confalign.pipelines.dca import DCAConfig, DCAError, _eval_runs

EX = [QAExample(id=f"q{i}", question=f"Q{i}", choices=("a", "b"), gold=0) for i in range(6)]
SPLITS = Splits(train=EX[:2], validation=EX[2:3], heldout=EX[3:5], ood=EX[5:])


def test_validation_only_evaluates_the_validation_split_alone(tmp_path: Path) -> None:
    config = DCAConfig(output=tmp_path, validation_limit=1)
    names = [c.output.name for c, _ in _eval_runs(config, SPLITS, None)]
    assert names == ["eval-base", "valid-base"]
    swept = replace(config, validation_only=True)
    assert swept.identity() == config.identity()
    ((only, data),) = _eval_runs(swept, SPLITS, tmp_path / "adapter")
    assert only.output.name == "valid-dca" and data == {"mmlu_offline": EX[2:3]}
    assert only.adapter == str(tmp_path / "adapter")


def test_sft_weight_is_part_of_the_identity_and_checked(tmp_path: Path) -> None:
    config = DCAConfig(output=tmp_path)
    assert replace(config, sft_weight=0.5).identity()["sft_weight"] == 0.5
    assert config.identity()["sft_weight"] == 0.0
    with pytest.raises(DCAError, match="sft-weight"):
        DCAConfig(output=tmp_path, sft_weight=-1.0)


def test_validation_only_needs_a_validation_split(tmp_path: Path) -> None:
    with pytest.raises(TrainingRunError, match="validation-only: needs --validation-limit"):
        DCAConfig(output=tmp_path, validation_only=True)


def test_a_folder_written_before_a_setting_existed_takes_its_default(tmp_path: Path) -> None:
    config = DCAConfig(output=tmp_path / "run")
    old = config.identity()
    del old["sft_weight"]  # a folder written by a confalign without --sft-weight
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "dca.json").write_text(json.dumps(old))
    claim = {"marker": "dca.json", "kind": "DCA", "defaults": config.default_identity()}
    claim_output(config.output, config.identity(), **claim)  # sft_weight 0: the same run
    with pytest.raises(TrainingRunError, match="different sft_weight"):
        claim_output(config.output, replace(config, sft_weight=0.5).identity(), **claim)
