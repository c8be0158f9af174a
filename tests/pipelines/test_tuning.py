"""ADVICE/ConfTuner pipeline settings: what a rerun must match, and what is evaluated."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from confalign.data.example import QAExample
from confalign.pipelines._steps import Splits
from confalign.pipelines.tuning import (
    AdviceOptions,
    ConfTunerOptions,
    TuningConfig,
    _eval_runs,
    _jsd,
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


def test_a_damaged_jsd_file_is_recomputed_and_a_whole_one_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from confalign.analysis.answer_dependence import distributions

    scored: list[int] = []

    def uniform(backend: object, examples: list, fmt: object, answers: list) -> list:
        scored.append(len(examples))  # one call per format and chunk
        return [SimpleNamespace(p=np.full((len(a), 10), 0.1)) for a in answers]

    monkeypatch.setattr(distributions, "level_distributions", uniform)
    backend = SimpleNamespace(get=lambda: object())
    config = TuningConfig(output=tmp_path, ood_dataset=None)
    path = tmp_path / "jsd-base.json"
    _jsd(config, SPLITS, backend, "base")  # type: ignore[arg-type]
    whole = path.read_bytes()
    assert len(scored) == 2 and json.loads(whole)["score_letter"] == {"q3": 0.0, "q4": 0.0}
    _jsd(config, SPLITS, backend, "base")  # type: ignore[arg-type]
    assert len(scored) == 2 and capsys.readouterr().err == ""  # stored: not recomputed
    path.write_bytes(whole[: len(whole) // 2])  # cut short (copied, or an older confalign)
    _jsd(config, SPLITS, backend, "base")  # type: ignore[arg-type]
    assert len(scored) == 4 and path.read_bytes() == whole
    assert capsys.readouterr().err == (
        f"{path}: does not match jsd-base.json.sha256 (cut short or changed); recomputing it\n"
    )
