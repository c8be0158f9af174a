"""``confalign train dca``: bad input gives one line and exit 2 before any model loads and
with nothing already stored lost; the adapter it writes loads in ``confalign eval``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from confalign.cli import _register, app

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_helpers import assert_user_error, run_app


def invoke(*args: str) -> tuple[int, str, str]:
    _register()
    return run_app(app, [*args, "--no-progress"])


def test_train_limit_zero(tmp_path: Path) -> None:
    code, out, err = invoke("train", "dca", "--train-limit", "0", "--output", str(tmp_path / "o"))
    assert_user_error(code, out, err, "train-limit: must be an integer >= 1, got 0")
    assert not (tmp_path / "o").exists()


def test_unavailable_device(tmp_path: Path) -> None:
    code, out, err = invoke("train", "dca", "--device", "cuda:9", "--output", str(tmp_path / "o"))
    assert_user_error(code, out, err, "'cuda:9' is not available", "available: cpu")


def test_pairs_file_with_a_missing_field(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        '{"prompt": "P", "chosen": "c", "rejected": "r"}\n{"prompt": "P", "chosen": "c"}\n'
    )
    out_dir = tmp_path / "o"
    args = ["train", "dca", "--pairs-file", str(pairs), "--ood-dataset", "none", "--output"]
    code, out, err = invoke(*args, str(out_dir))
    assert_user_error(code, out, err, str(pairs), "row 2", "'rejected'")
    # the folder is claimed (its settings and splits recorded) but nothing else was written
    assert sorted(p.name for p in out_dir.iterdir()) == ["dca.json", "splits.json"]


def test_overlapping_splits_are_refused(tmp_path: Path) -> None:
    code, out, err = invoke(
        "train", "dca", "--dataset", "calibrated_math", "--train-split", "all",
        "--eval-split", "test", "--eval-limit", "50", "--train-limit", "18000",
        "--output", str(tmp_path / "o"),
    )  # fmt: skip
    assert_user_error(code, out, err, "shares 50 examples with the evaluation split")
    assert not (tmp_path / "o").exists()


def test_folder_of_another_run_or_other_files(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    (foreign / "checkpoints" / "checkpoint-40").mkdir(parents=True)
    code, out, err = invoke("train", "dca", "--output", str(foreign))
    assert_user_error(code, out, err, "is not a confalign dca output folder", "checkpoints")
    other = tmp_path / "other"
    other.mkdir()
    settings = {"beta": 0.5}
    (other / "dca.json").write_text(json.dumps(settings))
    (other / "pairs.jsonl").write_text("kept\n")
    code, out, err = invoke("train", "dca", "--output", str(other))
    assert_user_error(code, out, err, "holds another dca run", "beta")
    assert json.loads((other / "dca.json").read_text()) == settings  # untouched
    assert (other / "pairs.jsonl").read_text() == "kept\n"


def test_eval_refuses_a_folder_that_is_not_an_adapter(tmp_path: Path) -> None:
    (tmp_path / "not-an-adapter").mkdir()
    code, out, err = invoke(
        "eval", "--datasets", "mmlu_offline", "--limit", "2",
        "--adapter", str(tmp_path / "not-an-adapter"), "--output", str(tmp_path / "run"),
    )  # fmt: skip
    assert_user_error(code, out, err, "is not a LoRA adapter folder (no adapter_config.json)")
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_trained_adapter_loads_in_eval_and_changes_the_model(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    from train_helpers import write_pairs

    pairs = write_pairs(tiny_model_dir, tmp_path / "pairs.jsonl")
    out = tmp_path / "dca"
    code, _, err = invoke(
        "train", "dca", "--model", str(tiny_model_dir), "--pairs-file", str(pairs),
        "--no-evaluate", "--ood-dataset", "none", "--max-steps", "3", "--lr", "1e-2",
        "--batch-size", "2", "--lora-r", "4", "--output", str(out),
    )  # fmt: skip
    assert code == 0, err
    adapter = out / "adapter"
    card = (adapter / "README.md").read_text()
    assert f"base_model: {tiny_model_dir}" in card and "confalign train dca" in card
    assert json.loads((adapter / "training_config.json").read_text())["method"] == "dca"

    data = tmp_path / "qa.jsonl"
    data.write_text(
        json.dumps({"id": "q1", "question": "2+2?", "choices": ["3", "4"], "gold": 1}) + "\n"
    )
    confidences = {}
    for name, extra in (("base", []), ("tuned", ["--adapter", str(adapter)])):
        code, _, err = invoke(
            "eval", "--model", str(tiny_model_dir), "--datasets", str(data),
            "--methods", "choice", "--output", str(tmp_path / name), *extra,
        )  # fmt: skip
        assert code == 0, err
        from confalign.runs import RunStore

        with RunStore.open(tmp_path / name) as store:
            (row,) = store.rows(None, "choice")
            confidences[name] = row.probs
            if name == "tuned":
                assert store.manifest["identity"]["model"]["adapter_hash"]
    assert confidences["base"] != pytest.approx(confidences["tuned"], abs=1e-6)


def _documented_commands() -> list[str]:
    """Every ``confalign train ... --output ...`` command quoted in the README and docs
    (continued lines joined; ``...`` elisions left out)."""
    root = Path(__file__).resolve().parents[2]
    found = []
    for path in [root / "README.md", *sorted((root / "docs").rglob("*.md"))]:
        text = path.read_text().replace("\\\n", " ")
        for line in text.splitlines():
            start = line.find("confalign train ")
            if start >= 0 and "..." not in line and "<method>" not in line:
                found.append(line[start:].split("`")[0].split("#")[0].strip())
    return [c for c in found if "--output" in c]


def test_documented_train_commands_still_parse_and_validate() -> None:
    import shlex
    import typing

    from typer.main import get_command

    from confalign.cli.train import _parse
    from confalign.pipelines.settings import RunSettings, make_config
    from confalign.train.methods import get_method

    _register()
    commands = _documented_commands()
    assert len(commands) >= 6
    train = get_command(app).commands["train"]  # type: ignore[attr-defined]
    for line in commands:
        method, *args = shlex.split(line)[2:]
        ctx = train.commands[method].make_context(method, args)  # type: ignore[attr-defined]
        hints = typing.get_type_hints(RunSettings)
        hints |= typing.get_type_hints(get_method(method).options)
        values = {k: _parse(hints[k], v) for k, v in ctx.params.items() if k != "progress"}
        config = make_config(method, **values)  # every value is valid, nothing runs
        assert config.settings.output == Path(values["output"]), line


def test_list_names_every_method() -> None:
    code, out, _ = run_app(app, ["train", "--list"])
    assert code == 0
    names = [line.split()[0] for line in out.strip().splitlines()]
    assert names == ["dca", "advice", "conftuner", "verbalized-sft", "dpo"]
