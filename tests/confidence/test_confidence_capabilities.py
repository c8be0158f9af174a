"""A backend lacking a capability raises CapabilityError naming backend, mode and reason,
before any model call."""

from __future__ import annotations

import pytest
from conf_doubles import BareBackend, ScriptedBackend, mc_example, open_example

from confalign.backends.base import CapabilityError
from confalign.confidence import (
    AnswerProbExtractor,
    ChoiceConfig,
    ChoiceExtractor,
    ConsistencyExtractor,
    VerbalizedConfig,
    VerbalizedExtractor,
)


@pytest.mark.parametrize(
    ("extractor", "example", "needed_by", "capability"),
    [
        (ChoiceExtractor(), mc_example(), "the choice method", "candidates"),
        (
            ChoiceExtractor(ChoiceConfig(methods=("continuation_min",))),
            mc_example(),
            "continuation",
            "score",
        ),
        (AnswerProbExtractor(), open_example(), "answer_prob", "generate"),
        (ConsistencyExtractor(), mc_example(), "consistency", "generate"),
        (VerbalizedExtractor(VerbalizedConfig(modes=("free",))), mc_example(), "free", "generate"),
        (
            VerbalizedExtractor(VerbalizedConfig(modes=("prefill",))),
            mc_example(),
            "prefill",
            "prefill",
        ),
        (
            VerbalizedExtractor(VerbalizedConfig(modes=("distribution",))),
            open_example(),
            "distribution",
            "prefill",
        ),
    ],
)
def test_bare_backend_raises_named_error(
    extractor: object, example: object, needed_by: str, capability: str
) -> None:
    with pytest.raises(CapabilityError) as info:
        extractor.extract(BareBackend(), [example])  # type: ignore[attr-defined]
    err = info.value
    assert err.backend == "bare"
    assert needed_by in err.needed_by
    assert capability in err.reason
    assert "'bare'" in str(err) and needed_by in str(err)


def test_distribution_needs_score() -> None:
    backend = ScriptedBackend(capabilities=frozenset({"generate", "prefill", "candidates"}))
    extractor = VerbalizedExtractor(VerbalizedConfig(modes=("prefill", "distribution")))
    with pytest.raises(CapabilityError, match=r"distribution mode.*'score'"):
        extractor.extract(backend, [mc_example()])
    assert backend.calls == []  # checked before any model call


def test_prefill_without_prefix_support() -> None:
    backend = ScriptedBackend(capabilities=frozenset({"generate", "score", "candidates"}))
    with pytest.raises(CapabilityError, match=r"verbalized prefill mode.*'prefill'"):
        VerbalizedExtractor().extract(backend, [open_example()])
    # free mode needs only generation
    records = VerbalizedExtractor(VerbalizedConfig(modes=("free",))).extract(
        backend, [open_example()]
    )
    assert len(records) == 1
