"""Doubles for the grading tests (imported by name): a capitals dataset whose answers are
written the way chat models write them, an extractor that gives those answers, and a scripted
judge backend that implements the backend protocol and counts what it is asked."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from confalign.backends.base import (
    Backend,
    BackendConfig,
    GenerateRequest,
    Generation,
    Prompt,
    ScoreRequest,
    ScoreResult,
)
from confalign.confidence.base import ConfidenceRecord, Extractor
from confalign.data.example import QAExample

# id: (gold, aliases, the model's answer, its confidence)
CAPITALS: dict[str, tuple[str, tuple[str, ...], str, float]] = {
    "fr": ("Paris", (), "Paris is the capital of France.", 0.9),
    "br": ("Brasília", (), "Brasilia", 0.8),
    "ng": ("Abuja", (), "Lagos, not Abuja", 0.3),
    "th": ("Bangkok", (), "Bangkok", 0.7),
    "au": ("Canberra", (), "Sydney or Canberra", 0.4),
    "cn": ("Beijing", ("Peking",), "", 0.5),
}
#: Verdicts a reader gives, per id ("" for no answer).
EXACT = {"fr": False, "br": False, "ng": False, "th": True, "au": False, "cn": None}
CONTAINS = {"fr": True, "br": True, "ng": False, "th": True, "au": False, "cn": None}


def capitals() -> list[QAExample]:
    """The capitals as open questions, plus one multiple-choice question (``mc``)."""
    out = [
        QAExample(i, f"What is the capital of {i}?", gold=g, aliases=a)
        for i, (g, a, _, _) in CAPITALS.items()
    ]
    return [*out, QAExample("mc", "Pick B", ("x", "y", "z"), 1)]


def install_capitals(monkeypatch: Any) -> None:
    """Make ``load_benchmark`` serve ``capitals()`` for any name."""
    import confalign.data

    def load(name: str, **kwargs: Any) -> tuple[list[QAExample], int]:
        return capitals(), 0

    monkeypatch.setattr(confalign.data, "load_benchmark", load, raising=False)


class WrittenAnswers(Extractor):
    """Gives ``CAPITALS``' answers (``"B"`` for multiple choice) with their confidences; its
    own verdicts are left None, so everything stored is the pipeline's grading."""

    name: ClassVar[str] = "written"
    kind = "internal"

    def method_keys(self) -> list[str]:
        return ["written"]

    def extract(self, backend: Backend, examples: Sequence[QAExample]) -> list[ConfidenceRecord]:
        out = []
        for x in examples:
            answer, conf = ("B", 0.6) if x.is_multiple_choice else CAPITALS[x.id][2:]
            out.append(ConfidenceRecord(x.id, "written", "internal", answer, None, conf))
        return out


class ScriptedJudge(Backend):
    """A judge that replies from a script keyed by the predicted answer in its prompt, and
    counts the prompts it is asked."""

    name: ClassVar[str] = "scripted"
    capabilities = frozenset({"generate"})

    def __init__(self, replies: Mapping[str, str], config: BackendConfig | None = None) -> None:
        super().__init__(config or BackendConfig(model="scripted"))
        self.replies = dict(replies)
        self.asked: list[str] = []
        self.closed = False

    def generate(self, requests: Sequence[GenerateRequest]) -> list[list[Generation]]:
        out = []
        for r in requests:
            answer = re.search(r"Predicted answer: (.*)\n", r.prompt.user)
            assert answer is not None, r.prompt.user
            self.asked.append(answer.group(1))
            reply = self.replies.get(answer.group(1), "B")
            out.append([Generation(reply, (reply,), np.zeros(1))])
        return out

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        raise AssertionError("a judge only generates")

    def render(self, prompt: Prompt) -> str:
        return prompt.user

    def close(self) -> None:
        self.closed = True
