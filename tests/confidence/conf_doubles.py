"""Test doubles of the backend protocol (real ``Backend`` subclasses) and small examples."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from typing import ClassVar

import numpy as np

from confalign.backends.base import (
    Backend,
    BackendConfig,
    Capability,
    GenerateRequest,
    Generation,
    Prompt,
    ScoreRequest,
    ScoreResult,
)
from confalign.data.example import QAExample


def mc_example(i: int = 0, gold: int = 2) -> QAExample:
    return QAExample(
        id=f"mc{i}",
        question=f"Which planet is the largest? (variant {i})",
        choices=("Mercury", "Mars", "Jupiter", "Venus"),
        gold=gold,
    )


def open_example(i: int = 0) -> QAExample:
    return QAExample(
        id=f"open{i}",
        question=f"What is the capital of France? ({i})",
        gold="Paris",
        aliases=("Paris, France",),
    )


def render_plain(prompt: Prompt) -> str:
    head = f"{prompt.system}\n\n" if prompt.system else ""
    return f"{head}<user>{prompt.user}</user><assistant>{prompt.assistant_prefix}"


class BareBackend(Backend):
    """Declares no capabilities; any model call is a test failure."""

    name: ClassVar[str] = "bare"
    capabilities: ClassVar[frozenset[Capability]] = frozenset()

    def __init__(self) -> None:
        super().__init__(BackendConfig(model="none"))

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        raise AssertionError("score must not be called without the capability")

    def generate(self, requests: Sequence[GenerateRequest]) -> list[list[Generation]]:
        raise AssertionError("generate must not be called without the capability")

    def render(self, prompt: Prompt) -> str:
        return render_plain(prompt)


def _pseudo_logprob(text: str) -> float:
    """A deterministic log-probability in [-6, -0.05) from a string."""
    return -0.05 - 5.95 * (zlib.crc32(text.encode()) % 10_000) / 10_000


class ScriptedBackend(Backend):
    """Deterministic scores (a hash of rendered prompt and text; one "token" per character)
    and scripted generations (``reply(request) -> list of n texts``); records every call."""

    name: ClassVar[str] = "scripted"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {"score", "candidates", "generate", "prefill", "chat"}
    )

    def __init__(
        self,
        reply: Callable[[GenerateRequest], list[str]] | None = None,
        capabilities: frozenset[Capability] | None = None,
    ) -> None:
        super().__init__(BackendConfig(model="scripted"))
        self.reply = reply or (lambda r: [" C"] * r.n)
        if capabilities is not None:
            self.capabilities = capabilities  # type: ignore[misc]
        self.calls: list[tuple[str, int]] = []
        self.score_requests: list[ScoreRequest] = []
        self.generate_requests: list[GenerateRequest] = []

    def render(self, prompt: Prompt) -> str:
        return render_plain(prompt)

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        self.calls.append(("score", len(requests)))
        self.score_requests.extend(requests)
        out = []
        for r in requests:
            ctx = self.render(r.prompt)
            conts = tuple(
                np.array([_pseudo_logprob(ctx + c[: j + 1]) for j in range(len(c))])
                for c in r.continuations
            )
            cands = np.array([_pseudo_logprob(ctx + "|" + c) for c in r.candidates])
            out.append(ScoreResult(conts, cands, len(ctx)))
        return out

    def generate(self, requests: Sequence[GenerateRequest]) -> list[list[Generation]]:
        self.calls.append(("generate", len(requests)))
        self.generate_requests.extend(requests)
        out = []
        for r in requests:
            texts = self.reply(r)
            assert len(texts) == r.n
            out.append([_generation(t) for t in texts])
        return out


def _generation(text: str) -> Generation:
    tokens = tuple(text)
    return Generation(text, tokens, np.full(len(tokens), -0.5), finish_reason="stop")


class RecordingBackend(Backend):
    """Delegates to a real backend and records every request and call (batch sizes)."""

    name: ClassVar[str] = "recording"

    def __init__(self, inner: Backend) -> None:
        super().__init__(inner.config)
        self.inner = inner
        self.capabilities = inner.capabilities  # type: ignore[misc]
        self.calls: list[tuple[str, int]] = []
        self.score_requests: list[ScoreRequest] = []
        self.generate_requests: list[GenerateRequest] = []

    def render(self, prompt: Prompt) -> str:
        return self.inner.render(prompt)

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        self.calls.append(("score", len(requests)))
        self.score_requests.extend(requests)
        return self.inner.score(requests)

    def generate(self, requests: Sequence[GenerateRequest]) -> list[list[Generation]]:
        self.calls.append(("generate", len(requests)))
        self.generate_requests.extend(requests)
        return self.inner.generate(requests)
