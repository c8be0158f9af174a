"""A tiny `confalign train dca` and `confalign eval` print no FutureWarning or
DeprecationWarning: a deprecated call of ours is a failure here, not a surprise for users."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import pytest

from confalign.cli import _register, app

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_helpers import run_app


def _deprecations(args: list[str]) -> list[str]:
    _register()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, _, err = run_app(app, [*args, "--no-progress"])
    assert code == 0, err
    return [
        f"{w.category.__name__} at {w.filename}:{w.lineno}: {w.message}"
        for w in caught
        if issubclass(w.category, FutureWarning | DeprecationWarning)
    ]


@pytest.mark.slow
def test_train_and_eval_warn_of_no_deprecation(tiny_model_dir: Path, tmp_path: Path) -> None:
    from train_helpers import write_pairs

    pairs = write_pairs(tiny_model_dir, tmp_path / "pairs.jsonl")
    train = [
        "train", "dca", "--model", str(tiny_model_dir), "--pairs-file", str(pairs),
        "--no-evaluate", "--ood-dataset", "none", "--max-steps", "2", "--save-steps", "1",
        "--batch-size", "2", "--lora-r", "4", "--output", str(tmp_path / "dca"),
    ]  # fmt: skip
    assert _deprecations(train) == []
    data = tmp_path / "qa.jsonl"
    data.write_text(
        json.dumps({"id": "q1", "question": "2+2?", "choices": ["3", "4"], "gold": 1})
        + "\n"
        + json.dumps({"id": "q2", "question": "Capital of France?", "gold": "Paris"})
        + "\n"
    )
    evaluate = [
        "eval", "--model", str(tiny_model_dir), "--datasets", str(data),
        "--adapter", str(tmp_path / "dca" / "adapter"), "--output", str(tmp_path / "run"),
    ]  # fmt: skip
    assert _deprecations(evaluate) == []
