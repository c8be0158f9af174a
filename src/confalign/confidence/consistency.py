"""Sample consistency: ``agreement`` and ``entropy`` over N sampled answers.

N samples at temperature T (top-p, per-example seed) on ``prompts.answer_prompt`` (assistant
turn ``"Answer:"``), each stopping at a newline. A sample's answer is its option letter
(``parsing.parse_choice``) for multiple choice, or for open QA its first line's group key
(``_common.answer_group_key``: the number when it is exactly one, else ``confalign.data``'s
SQuAD-normalised text). A sample with no readable answer is the empty answer ``""``, which
counts in N and in the entropy (as one category) but is never the majority.

- majority answer: the most frequent non-empty answer, ties broken by first appearance; its
  first raw text is the prediction (correctness via ``is_correct``). All samples empty: the
  prediction is ``""``, ``correct`` and ``confidence`` are None (a failure).
- ``agreement`` = count(majority) / N.
- ``entropy`` = 1 - H / log(N), H the natural-log entropy of the empirical answer
  distribution. N = 1: defined as 1.0 (one sample is trivially consistent; log(1) = 0 would
  divide by zero), so use N >= 2 for a meaningful value.

Both records carry the same samples and ``generated_tokens`` = all tokens sampled for the
example (shared cost: summing it across the two methods counts it twice).
"""

from __future__ import annotations

import math
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from confalign.backends.base import Backend, GenerateRequest
from confalign.confidence._common import (
    answer_group_key,
    check_accepts,
    check_methods,
    is_correct,
)
from confalign.confidence.base import ConfidenceRecord, Extractor, register_extractor
from confalign.confidence.parsing import parse_choice
from confalign.confidence.prompts import answer_prompt, prompt_manifest
from confalign.data.example import QAExample

CONSISTENCY_METHODS = ("agreement", "entropy")


@dataclass(frozen=True)
class ConsistencyConfig:
    """``n`` samples at ``temperature`` with nucleus ``top_p``; ``seed`` is combined with each
    example's id, so a sample set does not depend on batch composition."""

    n: int = 10
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 0
    max_new_tokens: int = 16
    methods: tuple[str, ...] = CONSISTENCY_METHODS

    def __post_init__(self) -> None:
        check_methods("ConsistencyConfig", self.methods, CONSISTENCY_METHODS)
        if self.n < 1:
            raise ValueError(f"ConsistencyConfig.n must be >= 1, got {self.n}")
        if not self.temperature > 0:
            raise ValueError(
                f"ConsistencyConfig.temperature must be > 0 (sampling), got {self.temperature}"
            )
        if not 0 < self.top_p <= 1:
            raise ValueError(f"ConsistencyConfig.top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise ValueError(
                f"ConsistencyConfig.max_new_tokens must be >= 1, got {self.max_new_tokens}"
            )


def majority_answer(answers: Sequence[str]) -> str:
    """The most frequent non-empty answer, first seen on ties; "" if all are empty."""
    counts = Counter(a for a in answers if a)
    if not counts:
        return ""
    best = max(counts.values())
    return next(a for a in answers if a and counts[a] == best)


def agreement(answers: Sequence[str]) -> float | None:
    """Share of ``answers`` equal to the majority answer; None if all are empty."""
    if not answers:
        raise ValueError("agreement needs at least one answer")
    top = majority_answer(answers)
    return None if not top else sum(a == top for a in answers) / len(answers)


def entropy_confidence(answers: Sequence[str]) -> float | None:
    """1 - H(answer distribution) / log(N); 1.0 for N = 1; None if all are empty."""
    if not answers:
        raise ValueError("entropy_confidence needs at least one answer")
    if not any(answers):
        return None
    n = len(answers)
    if n == 1:
        return 1.0
    h = -sum((c / n) * math.log(c / n) for c in Counter(answers).values())
    return max(0.0, min(1.0, 1.0 - h / math.log(n)))


def example_seed(seed: int, example_id: str) -> int:
    """A stable per-example seed (crc32 of ``"seed:id"``)."""
    return zlib.crc32(f"{seed}:{example_id}".encode()) & 0x7FFFFFFF


class ConsistencyExtractor(Extractor):
    """``agreement`` and ``entropy`` from one batched sampling call."""

    name: ClassVar[str] = "consistency"
    kind = "consistency"
    applies_to = "both"

    def __init__(self, config: ConsistencyConfig | None = None) -> None:
        self.config = config or ConsistencyConfig()

    def method_keys(self) -> list[str]:
        return list(self.config.methods)

    def describe(self) -> dict[str, Any]:
        return {
            "extractor": self.name,
            "methods": self.method_keys(),
            "config": asdict(self.config),
            "prompts": prompt_manifest(),
        }

    def requests(self, examples: Sequence[QAExample]) -> list[GenerateRequest]:
        c = self.config
        return [
            GenerateRequest(
                answer_prompt(ex),
                c.max_new_tokens,
                c.temperature,
                c.top_p,
                n=c.n,
                stop=("\n",),
                seed=example_seed(c.seed, ex.id),
            )
            for ex in examples
        ]

    def extract(self, backend: Backend, examples: Sequence[QAExample]) -> list[ConfidenceRecord]:
        check_accepts(self, examples)
        backend.require("generate", "the consistency methods")
        if not examples:
            return []
        records = []
        for ex, gens in zip(examples, backend.generate(self.requests(examples)), strict=True):
            texts = [g.text for g in gens]
            if ex.is_multiple_choice:
                answers = [parse_choice(t, len(ex.choices)) or "" for t in texts]
            else:
                answers = [answer_group_key(t.strip().split("\n", 1)[0]) for t in texts]
            top = majority_answer(answers)
            prediction = top if ex.is_multiple_choice or not top else texts[answers.index(top)]
            prediction = prediction.strip()
            # Per-sample correctness and cost let an analysis score the first k < n samples
            # (agreement@5 from a 20-sample run) without generating again.
            extra = {
                "samples": texts,
                "answers": answers,
                "n": len(answers),
                "sample_correct": [
                    is_correct(a if ex.is_multiple_choice else t, ex)
                    for a, t in zip(answers, texts, strict=True)
                ],
                "sample_tokens": [len(g.tokens) for g in gens],
            }
            tokens = sum(extra["sample_tokens"])
            scores = {"agreement": agreement(answers), "entropy": entropy_confidence(answers)}
            for method in self.config.methods:
                records.append(
                    ConfidenceRecord(
                        example_id=ex.id,
                        method=method,
                        kind="consistency",
                        prediction=prediction,
                        correct=is_correct(prediction, ex),
                        confidence=scores[method],
                        parse_failed=scores[method] is None,
                        generated_tokens=tokens,
                        extra=extra,
                    )
                )
        return records


for _method in CONSISTENCY_METHODS:
    register_extractor(_method)(ConsistencyExtractor)
