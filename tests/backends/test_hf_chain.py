"""``Backend.chain`` on one key-value cache (the ``hf`` backend's ``"chain"`` capability) against
the protocol's default composition of ``score`` and ``generate`` calls, on the tiny random
model: the same log-probabilities (1e-5) and the same greedy text. Through the verbalized
``prefill``/``distribution`` modes: ``tests/confidence/test_confidence_chain.py``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from confalign.backends import BackendConfig, load_backend
from confalign.backends.base import Backend, ChainRequest, ChainResult, Prompt

TOL = 1e-5


def _letter(then: str) -> Callable[[np.ndarray], str]:
    """A ``ChainRequest.then``: the argmax of two letters, then ``then``."""
    return lambda lps: f" {'AB'[int(np.argmax(lps))]}{then}"


def _requests(stop: tuple[str, ...] = ("\n",)) -> list[ChainRequest]:
    levels = tuple(f" {x}%" for x in range(101))
    return [
        # candidates, the argmax letter and a cue written, levels and a generation after it
        ChainRequest(
            Prompt("Question: 2 + 2?\nA. 3\nB. 4", assistant_prefix="Answer:"),
            candidates=("A", "B"),
            then=_letter("\nConfidence:"),
            continuations=(" A", " B", " very high", " low"),
            max_new_tokens=6,
            stop=stop,
        ),
        # no candidates: a prefilled prompt, 101 levels sharing their first tokens
        ChainRequest(
            Prompt("What is the capital of France? " * 3, assistant_prefix="Answer: Paris\nP:"),
            continuations=levels,
            max_new_tokens=8,
            stop=stop,
        ),
        # the written text merges with the cached tokens (" Par" + "is"): those are fed again
        ChainRequest(
            Prompt("Q3", assistant_prefix="Answer: Par"),
            candidates=("A",),
            then=lambda lps: "is",
            continuations=(" yes", " no"),
            max_new_tokens=3,
            stop=stop,
        ),
        # a trailing space on the first prompt: the candidates are read after it
        ChainRequest(
            Prompt("Q4 " * 20, assistant_prefix="Answer: "),
            candidates=("A", "B"),
            then=lambda lps: "B",
            continuations=(" 5", "6"),
        ),
        # a grown prompt ending in a space: steps 2-3 go the composed way
        ChainRequest(
            Prompt("Q5", assistant_prefix="Answer:"),
            candidates=("A", "B"),
            then=lambda lps: " B ",
            continuations=("5", "6"),
            max_new_tokens=4,
            stop=stop,
        ),
        # a generation alone, and candidates alone
        ChainRequest(Prompt("Say something", assistant_prefix="Sure:"), max_new_tokens=5),
        ChainRequest(Prompt("Pick one", assistant_prefix="Answer:"), candidates=("A", "B")),
    ]


def assert_same(new: Sequence[ChainResult], old: Sequence[ChainResult]) -> None:
    assert len(new) == len(old)
    for n, o in zip(new, old, strict=True):
        assert n.prompt == o.prompt
        assert n.candidate_logprobs == pytest.approx(o.candidate_logprobs, abs=TOL)
        assert [len(x) for x in n.continuation_logprobs] == [
            len(x) for x in o.continuation_logprobs
        ]
        for x, y in zip(n.continuation_logprobs, o.continuation_logprobs, strict=True):
            assert x == pytest.approx(y, abs=TOL)
        if o.generation is None:
            assert n.generation is None
            continue
        assert n.generation is not None
        g, h = n.generation, o.generation
        assert (g.text, g.tokens, g.finish_reason) == (h.text, h.tokens, h.finish_reason)
        assert g.token_logprobs == pytest.approx(h.token_logprobs, abs=TOL)


def test_capability(tiny_backend: Backend, tiny_composed_backend: Backend) -> None:
    assert "chain" in tiny_backend.capabilities
    assert "chain" not in tiny_composed_backend.capabilities
    assert tiny_backend.chain([]) == []


@pytest.mark.parametrize("stop", [("\n",), ("e",), ("a", "o"), (" ",)])
def test_chain_equals_composition(
    tiny_backend: Backend, tiny_composed_backend: Backend, stop: tuple[str, ...]
) -> None:
    """Every kind of request in one call; stop strings that the random model's text hits at
    various steps (and one, ``" "``, that cuts the text to nothing)."""
    requests = _requests(stop)
    new = tiny_backend.chain(requests)
    assert_same(new, tiny_composed_backend.chain(requests))
    if stop == ("e",):  # the stop string ends some generation
        assert "stop" in {r.generation.finish_reason for r in new if r.generation}


def test_chain_one_request_per_batch(tiny_model_dir: Path, tiny_backend: Backend) -> None:
    """A budget smaller than any row: every request a batch of its own (and the default
    composition called on the chain-capable backend itself)."""
    small = load_backend("hf", BackendConfig(model=str(tiny_model_dir), batch_tokens=16))
    requests = _requests()
    assert_same(small.chain(requests), Backend.chain(tiny_backend, requests))
