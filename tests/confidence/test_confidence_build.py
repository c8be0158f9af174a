"""build_extractors and the registry: names map to the extractors producing them."""

from __future__ import annotations

import pytest

from confalign.confidence import (
    EXTRACTORS,
    METHOD_NAMES,
    AnswerProbExtractor,
    ChoiceExtractor,
    ConsistencyExtractor,
    VerbalizedConfig,
    VerbalizedExtractor,
    build_extractors,
)


def test_every_method_name_is_registered_and_produced() -> None:
    assert set(METHOD_NAMES) == set(EXTRACTORS.names())
    for name in METHOD_NAMES:
        (extractor,) = build_extractors([name])
        assert isinstance(extractor, EXTRACTORS.get(name))
        keys = extractor.method_keys()
        assert name in keys or all(k.startswith(name + "/") for k in keys)


def test_grouping_and_options() -> None:
    built = build_extractors(
        ["continuation_min", "verbalized", "choice", "entropy", "answer_prob_product", "choice"],
        formats=["score_letter", "probability"],
        modes=["free", "distribution"],
        samples=5,
        temperature=0.7,
        seed=4,
    )
    assert [type(e) for e in built] == [
        ChoiceExtractor,
        VerbalizedExtractor,
        ConsistencyExtractor,
        AnswerProbExtractor,
    ]
    choice, verbal, consistency, answer = built
    assert choice.method_keys() == ["choice", "continuation_min"]
    assert verbal.method_keys() == [
        "verbalized/score_letter/free",
        "verbalized/score_letter/distribution",
        "verbalized/probability/free",
        "verbalized/probability/distribution",
    ]
    assert consistency.method_keys() == ["entropy"]
    assert (consistency.config.n, consistency.config.temperature, consistency.config.seed) == (
        5,
        0.7,
        4,
    )
    assert answer.method_keys() == ["answer_prob_product"]


def test_none_means_every_method() -> None:
    keys = [k for e in build_extractors(None) for k in e.method_keys()]
    assert keys == [
        "choice",
        "continuation_sum",
        "continuation_sum_norm",
        "continuation_min",
        "answer_prob",
        "answer_prob_product",
        "verbalized/probability/prefill",
        "agreement",
        "entropy",
    ]


def test_unknown_method_lists_known() -> None:
    with pytest.raises(ValueError, match=r"Did you mean 'choice'\?.*Known: agreement"):
        build_extractors(["choise"])
    with pytest.raises(TypeError):
        build_extractors("choice")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"formats": ["probabilty"]},
        {"modes": ["sampled"]},
        {"formats": []},
        {"modes": ["free", "free"]},
        {"max_new_tokens": 0},
    ],
)
def test_invalid_verbalized_options_fail_at_build(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        build_extractors(["verbalized"], **kwargs)


def test_invalid_consistency_options_fail_at_build() -> None:
    with pytest.raises(ValueError, match="n must be"):
        build_extractors(["agreement"], samples=0)


def test_configs_are_frozen() -> None:
    config = VerbalizedConfig()
    with pytest.raises(AttributeError):
        config.formats = ("score_text",)  # type: ignore[misc]
