"""EvalConfig is validated when built: unknown names list the known ones, before any load."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, fields
from pathlib import Path

import pytest

from confalign.evaluate import ConfigError, EvalConfig
from confalign.evaluate.config import HELP


def test_lists_accept_commas_and_become_tuples() -> None:
    c = EvalConfig(datasets="mmlu, data/x.jsonl", methods=["choice"], modes="prefill,distribution")
    assert c.datasets == ("mmlu", "data/x.jsonl")
    assert c.methods == ("choice",) and c.modes == ("prefill", "distribution")
    assert c.formats is None and c.output is None
    with pytest.raises(FrozenInstanceError):
        c.limit = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"methods": ("choise",)}, r"unknown method 'choise'\. Did you mean 'choice'\? Known: "),
        ({"formats": ("percent",)}, r"unknown format 'percent'.*Known: .*probability"),
        ({"modes": ("greedy",)}, r"unknown mode 'greedy'\..*Known: distribution, free, prefill"),
        ({"backend": "vlm"}, r"unknown backend 'vlm'\. Did you mean 'vllm'\?"),
        ({"dtype": "fp8"}, r"unknown dtype 'fp8'"),
        ({"datasets": ()}, r"datasets: give at least one"),
        ({"datasets": ("a", "a")}, r"datasets: 'a' is given twice"),
        ({"methods": ("choice", "choice")}, r"methods: 'choice' is given twice"),
        ({"methods": ()}, r"must name at least one"),
        ({"limit": 0}, r"limit: must be an integer >= 1, got 0"),
        ({"batch_size": 0}, r"batch_size: must be an integer >= 1"),
        ({"samples": True}, r"samples: must be an integer >= 1, got True"),
        ({"temperature": -0.5}, r"temperature: must be >= 0"),
        ({"model": ""}, r"model: must not be empty"),
        ({"dataset_limits": "mmlu=0"}, r"dataset_limits\['mmlu'\]: must be an integer >= 1"),
        ({"dataset_limits": "arc=5"}, r"dataset_limits: 'arc' is not one of the datasets"),
        ({"dataset_limits": "mmlu:5"}, r"dataset_limits: expected NAME=N, got 'mmlu:5'"),
    ],
)
def test_invalid_values_are_refused_with_the_known_choices(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        EvalConfig(**{"datasets": ("mmlu",), **kwargs})


def test_every_field_has_help_for_the_cli() -> None:
    assert set(HELP) == {f.name for f in fields(EvalConfig)}


def test_backend_config_carries_the_model_settings() -> None:
    c = EvalConfig(
        datasets=("mmlu",),
        model="m",
        adapter="a",
        dtype="float32",
        seed=4,
        threads=2,
        backend_options={"base_url": "http://x"},
    )
    b = c.backend_config()
    assert (b.model, b.adapter, b.dtype, b.seed, b.threads) == ("m", "a", "float32", 4, 2)
    assert b.options == {"base_url": "http://x"}


def test_default_run_dir_depends_only_on_result_settings() -> None:
    a = EvalConfig(datasets=("mmlu",), limit=5, model="org/Model-1")
    assert a.run_dir().parent == Path("runs") and a.run_dir().name.startswith("Model-1_mmlu_")
    same = EvalConfig(datasets=("mmlu",), limit=5, model="org/Model-1", batch_size=2, threads=1)
    assert same.run_dir() == a.run_dir()
    assert EvalConfig(datasets=("mmlu",), limit=6, model="org/Model-1").run_dir() != a.run_dir()
    assert EvalConfig(datasets=("mmlu",), output="x/y").run_dir() == Path("x/y")


def test_dataset_limits_override_the_global_limit() -> None:
    c = EvalConfig(datasets="mmlu,data/x.jsonl", limit=200, dataset_limits="data/x.jsonl=30")
    assert c.dataset_limits == {"data/x.jsonl": 30}
    assert (c.limit_of("mmlu"), c.limit_of("data/x.jsonl")) == (200, 30)
    other = EvalConfig(datasets="mmlu,data/x.jsonl", limit=200)
    assert other.run_dir() != c.run_dir()
