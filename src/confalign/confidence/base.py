"""What every confidence extractor returns, and the registry extractors live in.

An extractor turns backend outputs for a batch of ``QAExample``s into ``ConfidenceRecord``s.
One extractor may produce several methods from one computation (the multiple-choice internal
extractor gives ``choice``, ``continuation_sum``, ``continuation_sum_norm`` and
``continuation_min`` from one shared prompt pass).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from confalign.backends.base import Backend
from confalign.data.example import QAExample
from confalign.registry import Registry

Kind = Literal["internal", "verbalized", "consistency"]
Mode = Literal["free", "prefill", "distribution"]


@dataclass(frozen=True)
class ConfidenceRecord:
    """One example's result under one method.

    ``method``: the method name (``choice``, ``answer_prob``, ``agreement``, ``verbalized``...).
    ``format``/``mode``: the verbalized format and elicitation mode ("" for other kinds).
    ``prediction``: the option letter (multiple choice) or answer text (open QA); "" if none.
    ``correct``: None when no prediction could be read. ``confidence`` in [0, 1], None when
    extraction failed (counted and reported, never replaced by a default).
    ``probs``: the option distribution (multiple choice) or the confidence-level distribution
    (verbalized ``distribution`` mode), summing to 1. ``raw_text``: generated text, if any.
    ``ambiguous``: the parser applied a stated rule to an ambiguous value (e.g. "0.01" after a
    percent cue). ``generated_tokens``: tokens the model generated for this record (cost).
    ``extra``: JSON-serialisable details (argmax level, sample answers, ...).
    """

    example_id: str
    method: str
    kind: Kind
    prediction: str
    correct: bool | None
    confidence: float | None
    format: str = ""
    mode: str = ""
    probs: tuple[float, ...] | None = None
    raw_text: str | None = None
    parse_failed: bool = False
    ambiguous: bool = False
    generated_tokens: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def key(self) -> str:
        """Identifies the method variant: ``choice``, ``verbalized/probability/prefill``."""
        return "/".join(p for p in (self.method, self.format, self.mode) if p)


class Extractor(ABC):
    """Turns one backend's outputs for a batch of examples into records.

    Subclasses declare ``applies_to`` (which examples they can handle) and implement
    ``extract``; their settings are a frozen dataclass passed to ``__init__``.
    """

    name: ClassVar[str] = ""
    kind: ClassVar[Kind]
    applies_to: ClassVar[Literal["multiple_choice", "open", "both"]] = "both"

    def accepts(self, example: QAExample) -> bool:
        if self.applies_to == "both":
            return True
        return example.is_multiple_choice == (self.applies_to == "multiple_choice")

    @abstractmethod
    def method_keys(self) -> list[str]:
        """The ``ConfidenceRecord.key`` values one example yields (for resume bookkeeping)."""

    @abstractmethod
    def extract(self, backend: Backend, examples: Sequence[QAExample]) -> list[ConfidenceRecord]:
        """Records for ``examples`` (every method key for every example, failures included)."""


EXTRACTORS: Registry[type[Extractor]] = Registry("extractor")
register_extractor = EXTRACTORS.register
