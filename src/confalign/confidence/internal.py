"""Internal (token-probability) confidence: ``choice``, ``continuation_*`` and ``answer_prob``.

Multiple choice (docs/design.md "Confidence extraction"): up to two ``ScoreRequest``s per question.
``choice`` uses ``prompts.answer_prompt`` (the lettered options listed; the answer position
right after ``"Answer:"``): its ``candidates`` are the K option letters, whose next-token
masses (each letter with and without a leading space, summed by the backend) renormalised
over the K letters give ``choice``. The ``continuation_*`` methods use a prompt of their own,
``prompts.continuation_prompt`` (the question without lettered options, asking for the answer
itself, as lm-eval's continuation tasks do): its ``continuations`` are ``" " + option text``;
s_k = sum (``continuation_sum``), mean (``continuation_sum_norm``, length-normalised) or min
(``continuation_min``) of the option's token log-probabilities, and p = softmax(s). Each
method: prediction = the letter of argmax p (first on ties), confidence = max p, ``probs`` = p,
``extra["scores"]`` = the K log-scores (for temperature scaling).

Open QA (``answer_prob``): the greedy answer after ``"Answer:"``, stopping at a newline. The
answer's tokens are the generated tokens whose characters overlap the answer text with its
leading and trailing whitespace removed: the stop/newline token, an end-of-turn token and
whitespace-only tokens at either end are excluded (a token holding both answer text and
whitespace, like ``" Paris"``, counts). Ci = exp(mean log-prob of those tokens) (DCA's
internal confidence); ``answer_prob_product`` = exp(sum). An empty answer is a failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from confalign.backends.base import Backend, GenerateRequest, Generation, ScoreRequest
from confalign.confidence._common import (
    check_accepts,
    check_methods,
    is_correct,
    normalized_softmax,
)
from confalign.confidence.base import ConfidenceRecord, Extractor, register_extractor
from confalign.confidence.prompts import (
    answer_prompt,
    continuation_prompt,
    option_letters,
    prompt_manifest,
)
from confalign.data.example import LETTERS, QAExample

MC_METHODS = ("choice", "continuation_sum", "continuation_sum_norm", "continuation_min")
OPEN_METHODS = ("answer_prob", "answer_prob_product")
_REDUCE = {"continuation_sum": np.sum, "continuation_sum_norm": np.mean, "continuation_min": np.min}


@dataclass(frozen=True)
class ChoiceConfig:
    """Which multiple-choice internal methods to produce (all from one scoring pass).

    ``choice`` scores the letters on its own prompt and the ``continuation_*`` methods the
    options on theirs, so asking for ``("choice",)`` alone sends the letters only.
    """

    methods: tuple[str, ...] = MC_METHODS

    def __post_init__(self) -> None:
        check_methods("ChoiceConfig", self.methods, MC_METHODS)


@dataclass(frozen=True)
class AnswerProbConfig:
    """Open-QA answer-token probability. ``max_new_tokens``: length cap of the greedy answer."""

    methods: tuple[str, ...] = OPEN_METHODS
    max_new_tokens: int = 32

    def __post_init__(self) -> None:
        check_methods("AnswerProbConfig", self.methods, OPEN_METHODS)
        if self.max_new_tokens < 1:
            raise ValueError(
                f"AnswerProbConfig.max_new_tokens must be >= 1, got {self.max_new_tokens}"
            )


def _option_record(
    ex: QAExample, method: str, scores: np.ndarray, extra: dict[str, object]
) -> ConfidenceRecord:
    p = normalized_softmax(scores)
    extra = {"scores": [float(s) for s in scores], **extra}
    if p is None:
        extra["error"] = "no finite score"
        return ConfidenceRecord(ex.id, method, "internal", "", None, None, extra=extra)
    letter = LETTERS[int(np.argmax(p))]
    return ConfidenceRecord(
        example_id=ex.id,
        method=method,
        kind="internal",
        prediction=letter,
        correct=is_correct(letter, ex),
        confidence=float(p.max()),
        probs=tuple(float(x) for x in p),
        extra=extra,
    )


class ChoiceExtractor(Extractor):
    """``choice``, ``continuation_sum``, ``continuation_sum_norm``, ``continuation_min``."""

    name: ClassVar[str] = "internal_choice"
    kind = "internal"
    applies_to = "multiple_choice"

    def __init__(self, config: ChoiceConfig | None = None) -> None:
        self.config = config or ChoiceConfig()

    def method_keys(self) -> list[str]:
        return list(self.config.methods)

    def describe(self) -> dict[str, object]:
        return {"extractor": self.name, "methods": self.method_keys(), "prompts": prompt_manifest()}

    def requests(self, examples: Sequence[QAExample]) -> list[ScoreRequest]:
        """The ``ScoreRequest``s this extractor sends, per question in order: the letters on
        the ``choice`` prompt (if asked for), then the options on the continuation prompt (if
        any ``continuation_*`` method is asked for)."""
        letters = "choice" in self.config.methods
        options = any(m in _REDUCE for m in self.config.methods)
        out: list[ScoreRequest] = []
        for ex in examples:
            if letters:
                out.append(ScoreRequest(answer_prompt(ex), candidates=option_letters(ex)))
            if options:
                conts = tuple(" " + c.strip() for c in ex.choices)
                out.append(ScoreRequest(continuation_prompt(ex), continuations=conts))
        return out

    def extract(self, backend: Backend, examples: Sequence[QAExample]) -> list[ConfidenceRecord]:
        check_accepts(self, examples)
        letters = "choice" in self.config.methods
        options = any(m in _REDUCE for m in self.config.methods)
        if letters:
            backend.require("candidates", "the choice method")
        if options:
            backend.require("score", "the continuation_* methods")
        if not examples:
            return []
        results = iter(backend.score(self.requests(examples)))
        records: list[ConfidenceRecord] = []
        for ex in examples:
            letter_res = next(results) if letters else None
            option_res = next(results) if options else None
            for method in self.config.methods:
                if letter_res is not None and method == "choice":
                    records.append(_option_record(ex, method, letter_res.candidate_logprobs, {}))
                    continue
                if option_res is None:  # unreachable: a continuation method asked for it
                    continue
                lps = option_res.continuation_logprobs
                scores = np.array([_REDUCE[method](lp) if len(lp) else -np.inf for lp in lps])
                extra = {"n_tokens": [len(lp) for lp in lps]}
                records.append(_option_record(ex, method, scores, extra))
        return records


def answer_token_slice(text: str, tokens: Sequence[str]) -> slice:
    """Indices of the answer's tokens in a generation (see the module docstring).

    Token character offsets come from concatenating ``tokens``; tokens starting at or after
    the end of ``text`` (a stop string the backend removed, an end-of-turn token) fall out.
    """
    lo = len(text) - len(text.lstrip())
    hi = len(text.rstrip())
    first, last, pos = None, None, 0
    for i, tok in enumerate(tokens):
        start, end = pos, pos + len(tok)
        pos = end
        if start < hi and end > lo and tok.strip():
            first = i if first is None else first
            last = i
    if first is None or last is None:
        return slice(0, 0)
    return slice(first, last + 1)


def answer_request(ex: QAExample, max_new_tokens: int) -> GenerateRequest:
    """The greedy open answer on ``answer_prompt``, up to a newline: ``answer_prob``'s request,
    which the verbalized modes' own answer repeats (a backend may serve it from memory)."""
    return GenerateRequest(answer_prompt(ex), max_new_tokens, 0.0, stop=("\n",))


def answer_logprobs(gen: Generation) -> np.ndarray:
    """The log-probabilities of the answer's own tokens (``answer_token_slice``), float64."""
    return np.asarray(gen.token_logprobs, dtype=np.float64)[
        answer_token_slice(gen.text, gen.tokens)
    ]


def _answer_record(ex: QAExample, method: str, gen: Generation) -> ConfidenceRecord:
    answer = gen.text.strip()
    lps = answer_logprobs(gen)
    extra: dict[str, object] = {"answer_tokens": len(lps), "finish_reason": gen.finish_reason}
    if not answer or len(lps) == 0:
        extra["error"] = "empty answer"
        return ConfidenceRecord(
            ex.id,
            method,
            "internal",
            "",
            None,
            None,
            raw_text=gen.text,
            parse_failed=True,
            generated_tokens=len(gen.tokens),
            extra=extra,
        )
    log_c = lps.mean() if method == "answer_prob" else lps.sum()
    return ConfidenceRecord(
        example_id=ex.id,
        method=method,
        kind="internal",
        prediction=answer,
        correct=is_correct(answer, ex),
        confidence=float(np.exp(log_c)),
        raw_text=gen.text,
        generated_tokens=len(gen.tokens),
        extra=extra,
    )


class AnswerProbExtractor(Extractor):
    """``answer_prob`` (exp mean token log-prob) and ``answer_prob_product`` (exp sum)."""

    name: ClassVar[str] = "internal_answer_prob"
    kind = "internal"
    applies_to = "open"

    def __init__(self, config: AnswerProbConfig | None = None) -> None:
        self.config = config or AnswerProbConfig()

    def method_keys(self) -> list[str]:
        return list(self.config.methods)

    def describe(self) -> dict[str, object]:
        return {
            "extractor": self.name,
            "methods": self.method_keys(),
            "max_new_tokens": self.config.max_new_tokens,
            "prompts": prompt_manifest(),
        }

    def extract(self, backend: Backend, examples: Sequence[QAExample]) -> list[ConfidenceRecord]:
        check_accepts(self, examples)
        backend.require("generate", "the answer_prob method")
        if not examples:
            return []
        requests = [answer_request(ex, self.config.max_new_tokens) for ex in examples]
        generations = backend.generate(requests)
        return [
            _answer_record(ex, method, gens[0])
            for ex, gens in zip(examples, generations, strict=True)
            for method in self.config.methods
        ]


for _method in MC_METHODS:
    register_extractor(_method)(ChoiceExtractor)
for _method in OPEN_METHODS:
    register_extractor(_method)(AnswerProbExtractor)
