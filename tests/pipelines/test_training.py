"""The training pipeline's settings, evaluation runs and card, for every method: what a rerun
must match, what is evaluated, what is refused, and the command that reproduces a run."""

from __future__ import annotations

import json
import shlex
import typing
from pathlib import Path

import pytest

from confalign.data.example import QAExample
from confalign.pipelines._steps import claim_output
from confalign.pipelines.card import command
from confalign.pipelines.evaluations import eval_runs
from confalign.pipelines.settings import (
    RunSettings,
    make_config,
    method_defaults,
    replace_settings,
)
from confalign.pipelines.splits import Splits
from confalign.train.methods import method_names
from confalign.train.methods.base import TrainingRunError

EX = [QAExample(id=f"q{i}", question=f"{i} + 1?", gold=str(i + 1)) for i in range(6)]
SPLITS = Splits(train=EX[:2], validation=EX[2:3], heldout=EX[3:5], ood=EX[5:])


def test_identity_ignores_how_and_where_it_runs(tmp_path: Path) -> None:
    config = make_config("advice", output=tmp_path / "a")
    same = replace_settings(
        config, output=tmp_path / "b", threads=1, evaluate=False, release_memory=False
    )
    assert same.identity() == config.identity()
    other = make_config("advice", output=tmp_path / "a", correct_from="gold")
    assert other.identity() != config.identity()
    assert other.identity()["options"]["correct_from"] == "gold"
    assert make_config("conftuner", output=tmp_path).identity()["method"] == "conftuner"


def test_method_defaults_change_the_shared_ones(tmp_path: Path) -> None:
    advice = make_config("advice", output=tmp_path).settings
    assert (advice.dataset, advice.ood_dataset, advice.train_limit) == (
        "calibrated_math",
        "mmlu_offline",
        600,
    )
    assert (advice.lr, advice.epochs, advice.batch_size, advice.grad_accum) == (1e-5, 4.0, 16, 2)
    assert advice.train.lora.target_modules == ("q_proj", "k_proj", "v_proj", "o_proj")
    conftuner = make_config("conftuner", output=tmp_path).settings.train.lora
    assert (conftuner.r, conftuner.alpha, conftuner.dropout) == (8, 32, 0.05)
    dca = make_config("dca", output=tmp_path).settings
    assert (dca.dataset, dca.train_limit, dca.lr, dca.lora_r, dca.lora_alpha) == (
        "mmlu_offline",
        700,
        5e-5,
        16,
        16,
    )


def test_validation_only_evaluates_the_validation_split_alone(tmp_path: Path) -> None:
    config = make_config("advice", output=tmp_path, validation_limit=1)
    names = [c.output.name for c, _ in eval_runs(config, SPLITS, None)]
    assert names == ["eval-base", "ood-base", "valid-base"]
    swept = replace_settings(config, validation_only=True)
    assert swept.identity() == config.identity()  # a sweep's runtime choice, not a result
    ((only, data),) = eval_runs(swept, SPLITS, tmp_path / "adapter")
    assert only.output.name == "valid-advice" and data == {"calibrated_math": EX[2:3]}
    assert only.formats == ("score_letter", "score_number") and only.adapter


def _runs(config: object) -> dict:
    return {c.output.name: c for c, _ in eval_runs(config, SPLITS, None)}  # type: ignore[arg-type]


def test_each_kind_evaluates_what_its_method_measures(tmp_path: Path) -> None:
    runs = _runs(make_config("dca", output=tmp_path, eval_modes=("distribution",)))
    assert set(runs) == {"eval-base", "ood-base", "valid-base"}
    assert runs["eval-base"].methods == ("choice", "answer_prob", "verbalized")
    assert runs["eval-base"].formats == ("probability",)
    assert runs["ood-base"].modes == ("distribution",)
    runs = _runs(make_config("conftuner", output=tmp_path, format="score_number"))
    assert runs["ood-base"].formats == ("score_letter", "score_number")
    assert runs["eval-base"].modes == ("distribution",)
    runs = _runs(make_config("conftuner", output=tmp_path, ood_formats=("score_text",)))
    assert runs["ood-base"].formats == ("score_text",)


def test_sft_weight_is_part_of_the_identity_and_checked(tmp_path: Path) -> None:
    weighted = make_config("dca", output=tmp_path, sft_weight=0.5)
    assert weighted.identity()["options"]["sft_weight"] == 0.5
    assert make_config("dca", output=tmp_path).identity()["options"]["sft_weight"] == 0.0
    with pytest.raises(TrainingRunError, match="sft-weight"):
        make_config("dca", output=tmp_path, sft_weight=-1.0)


@pytest.mark.parametrize(
    ("method", "values", "fragment"),
    [
        ("dca", {"validation_only": True}, "validation-only: needs --validation-limit"),
        ("dca", {"train_limit": 0}, "train-limit: must be an integer >= 1, got 0"),
        ("dca", {"ood_dataset": "mmlu_offline"}, "is the training dataset and split"),
        ("dca", {"batch_size": 0}, "batch_size must be >= 1"),
        ("advice", {"d_jsd": -1.0}, "d_jsd must be >= 0"),
        ("verbalized-sft", {"group_by": "family"}, "group-by: must be subject or dataset"),
        ("verbalized-sft", {"format": "probability"}, "'probability' is not a score format"),
        ("conftuner", {"nope": 1}, "unknown option 'nope'"),
    ],
)
def test_bad_settings_name_the_option(
    tmp_path: Path, method: str, values: dict, fragment: str
) -> None:
    with pytest.raises(TrainingRunError) as error:
        make_config(method, output=tmp_path, **values)
    assert fragment in str(error.value)


def test_a_folder_written_before_a_setting_existed_takes_its_default(tmp_path: Path) -> None:
    config = make_config("dca", output=tmp_path / "run")
    old = config.identity()
    del old["validation_seed"]  # a folder written by a confalign without --validation-seed
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "dca.json").write_text(json.dumps(old))
    claim = {"marker": "dca.json", "kind": "dca", "defaults": config.default_identity()}
    claim_output(config.output, config.identity(), **claim)  # the default seed: the same run
    changed = replace_settings(config, validation_seed=5)
    with pytest.raises(TrainingRunError, match="different validation_seed"):
        claim_output(config.output, changed.identity(), **claim)


@pytest.mark.parametrize("method", method_names())
def test_the_card_command_gives_back_the_same_run(tmp_path: Path, method: str) -> None:
    from typer.main import get_command

    from confalign.cli import _register, app
    from confalign.cli.train import _parse

    changed = {"validation_limit": 20, "eval_seed": 7, "ood_dataset": None, "lora_r": 4}
    changed |= {"lr": 3e-4, "stratify": False, "lora_targets": ("q_proj",)}
    config = make_config(method, output=tmp_path / "o", **changed)
    line = command(config)
    assert line.startswith(f"confalign train {method} --output {tmp_path / 'o'}")
    ood_by_default = method_defaults(method)["ood_dataset"] is not None
    assert ("--ood-dataset none" in line) == ood_by_default  # said only where it is a change
    assert "--no-stratify" in line and "--lora-r 4" in line
    assert "--dataset" not in line  # defaults are left out
    _register()
    train = get_command(app).commands["train"].commands[method]  # type: ignore[attr-defined]
    ctx = train.make_context(method, shlex.split(line)[3:])
    hints = {**typing.get_type_hints(RunSettings), **typing.get_type_hints(config.spec.options)}
    values = {k: _parse(hints[k], v) for k, v in ctx.params.items() if k != "progress"}
    assert make_config(method, **values) == config


def test_every_command_option_has_a_default_but_the_output() -> None:
    for method in method_names():
        defaults = method_defaults(method)
        assert "output" not in defaults and defaults["seed"] == 0


def test_a_damaged_jsd_file_is_recomputed_and_a_whole_one_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from types import SimpleNamespace

    import numpy as np

    from confalign.analysis.answer_dependence import distributions
    from confalign.pipelines.evaluations import measure_jsd

    scored: list[int] = []

    def uniform(backend: object, examples: list, fmt: object, answers: list) -> list:
        scored.append(len(examples))  # one call per format and chunk
        return [SimpleNamespace(p=np.full((len(a), 10), 0.1)) for a in answers]

    monkeypatch.setattr(distributions, "level_distributions", uniform)
    backend = SimpleNamespace(get=lambda: object())
    config = make_config("advice", output=tmp_path, ood_dataset=None)
    path = tmp_path / "jsd-base.json"
    measure_jsd(config, SPLITS, backend, "base")
    whole = path.read_bytes()
    assert len(scored) == 2 and json.loads(whole)["score_letter"] == {"q3": 0.0, "q4": 0.0}
    measure_jsd(config, SPLITS, backend, "base")
    assert len(scored) == 2 and capsys.readouterr().err == ""  # stored: not recomputed
    path.write_bytes(whole[: len(whole) // 2])  # cut short (copied, or an older confalign)
    measure_jsd(config, SPLITS, backend, "base")
    assert len(scored) == 4 and path.read_bytes() == whole
    assert capsys.readouterr().err == (
        f"{path}: does not match jsd-base.json.sha256 (cut short or changed); recomputing it\n"
    )


def test_dpo_alignment_is_evaluated_by_its_answers_and_preferences(tmp_path: Path) -> None:
    config = make_config("dpo", output=tmp_path, loss="cal_dpo")
    s = config.settings
    assert (s.ood_dataset, s.train_limit, s.eval_limit) == (None, 1000, 200)
    assert config.identity()["options"]["loss"] == "cal_dpo"
    runs = _runs(config)
    assert set(runs) == {"eval-base", "valid-base"}  # no out-of-distribution set by default
    assert runs["eval-base"].methods == ("answer_prob",)
    with pytest.raises(TrainingRunError, match="loss: must be one of sigmoid, ipo, cal_dpo"):
        make_config("dpo", output=tmp_path, loss="kto")


def test_preference_rows_hand_computed() -> None:
    from confalign.pipelines.evaluations import preference_rows

    base = {
        "a": {"chosen": -2.0, "rejected": -1.0, "source": "own_wrong"},
        "b": {"chosen": -1.0, "rejected": -3.0, "source": "distractor"},
        "c": {"chosen": -4.0, "rejected": -4.5, "source": "own_wrong"},
    }
    tuned = {
        "a": {"chosen": -1.0, "rejected": -1.5, "source": "own_wrong"},  # margin 1 + 0.5
        "b": {"chosen": -1.5, "rejected": -3.0, "source": "distractor"},  # margin -0.5
        "c": {"chosen": -3.0, "rejected": -5.0, "source": "own_wrong"},  # margin 1 + 0.5
    }
    rows = {r["pairs"]: r for r in preference_rows(base, tuned, "dpo")}
    assert rows["all"] == {
        "pairs": "all",
        "n": 3,
        "untrained_prefers_chosen": pytest.approx(2 / 3),
        "dpo_prefers_chosen": pytest.approx(1.0),
        "reward_accuracy": pytest.approx(2 / 3),
        "reward_margin": pytest.approx((1.5 - 0.5 + 1.5) / 3),
        "chosen_logp_change": pytest.approx((1.0 - 0.5 + 1.0) / 3),
    }
    assert rows["own_wrong"]["n"] == 2 and rows["own_wrong"]["untrained_prefers_chosen"] == 0.5
    assert rows["distractor"]["reward_accuracy"] == 0.0
