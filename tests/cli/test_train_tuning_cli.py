"""``confalign train advice`` / ``conftuner`` / ``verbalized-sft``: bad input gives one line
and exit 2 before any model loads; a run on a tiny model goes end to end (data, training,
adapter, report) and the same command on the finished folder redoes nothing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from confalign.cli import _register, app

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_helpers import assert_user_error, run_app


def invoke(*args: str) -> tuple[int, str, str]:
    _register()
    return run_app(app, [*args, "--no-progress"])


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("advice", "--train-limit", "0"), "train-limit: must be an integer >= 1, got 0"),
        (("advice", "--correct-from", "best"), "correct-from: must be greedy or gold"),
        (("advice", "--d-jsd", "-1"), "d_jsd must be >= 0"),
        (("conftuner", "--format", "probability"), "'probability' is not a score format"),
        (("conftuner", "--lm-weight", "-1"), "lm-weight: must be >= 0"),
        (("advice", "--eval-formats", "score_letter,stars"), "'stars' is not a score format"),
        (("conftuner", "--dataset", "nope"), "'nope' is neither a registered dataset"),
    ],
)
def test_bad_options(tmp_path: Path, args: tuple[str, ...], fragment: str) -> None:
    code, out, err = invoke("train", *args, "--output", str(tmp_path / "o"))
    assert_user_error(code, out, err, fragment)
    assert not (tmp_path / "o").exists()


def test_a_folder_of_another_run_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "o"
    out.mkdir()
    (out / "advice.json").write_text(json.dumps({"method": "advice", "train_limit": 1}))
    code, _, err = invoke("train", "advice", "--output", str(out), "--train-limit", "5")
    assert_user_error(code, "", err, "holds another advice run", "train_limit")


@pytest.mark.slow
@pytest.mark.parametrize("method", ["advice", "conftuner", "verbalized-sft"])
def test_end_to_end_on_a_tiny_model(tiny_model_dir: Path, tmp_path: Path, method: str) -> None:
    out = tmp_path / method
    extra = ["--correct-from", "gold"] if method == "advice" else ["--format", "score_number"]
    args = [
        "train", method, "--model", str(tiny_model_dir), "--train-limit", "4",
        "--eval-limit", "3", "--ood-limit", "3", "--max-steps", "2", "--batch-size", "2",
        "--lr", "1e-2", "--threads", "1", "--output", str(out), *extra,
    ]  # fmt: skip
    code, _, err = invoke(*args)
    assert code == 0, err
    stats = json.loads((out / "data_stats.json").read_text())
    if method == "advice":  # every question, twice (score_letter, score_number)
        assert stats["examples"] == 4 and stats["kept"] == 8
    else:
        assert stats["kept"] + stats.get("dropped_no_answer", 0) == 4
    adapter = out / "adapter"
    card = (adapter / "README.md").read_text()
    assert f"confalign train {method}" in card and "## Before/after" in card
    assert "untrained" in card and f"| {method} |" in card
    assert json.loads((adapter / "training_config.json").read_text())["method"] == method
    report = json.loads((out / "report" / f"{method}.json").read_text())
    held = report["tables"]["held-out"]
    assert {r["format"] for r in held} >= {"score_letter", "score_number", "score_float"}
    assert {r["model"] for r in held} >= {"untrained", method}
    assert all(r["n"] == 3 for r in held)
    assert {r["model"] for r in report["jsd"]} == {"base", method}
    log = json.loads((out / "train_log.json").read_text())
    assert log[-1]["step"] == 2
    before = sorted(p.name for p in out.rglob("*") if p.is_file())
    code, _, err = invoke(*args)  # finished: nothing is recomputed
    assert code == 0, err
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == before


@pytest.mark.parametrize("error", ["keyboard", "eval"])
def test_an_interrupt_exits_130_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: str
) -> None:
    import confalign.pipelines.training as training
    from confalign.evaluate import EvalInterrupted

    def stop(*args: object, **kwargs: object) -> None:
        if error == "keyboard":  # in training
            raise KeyboardInterrupt
        raise EvalInterrupted(tmp_path / "o" / "eval-base", 32)  # in an evaluation step

    monkeypatch.setattr(training, "run_training", stop)
    code, _, err = invoke("train", "advice", "--output", str(tmp_path / "o"))
    assert code == 130
    assert err.strip().splitlines() == [
        f"interrupted: everything stored in {tmp_path / 'o'} is kept; the same command "
        "continues from there (the last checkpoint, the last stored batch)"
    ]
