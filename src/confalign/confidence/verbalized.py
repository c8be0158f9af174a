"""Verbalized confidence in three elicitation modes (docs/design.md "Confidence extraction").

Method key: ``verbalized/<format>/<mode>``, one per (format, mode) per example.

- ``free``: one greedy generation on ``prompts.verbalized_prompt``; the answer
  (``parsing.parse_choice``/``parse_open_answer``) and the confidence (``parse_confidence``)
  are both read from the text.
- ``prefill``: first the model's own answer. For multiple choice: the argmax over the option
  letters' next-token masses on the same user turn with the assistant turn ``"Answer:"`` (one
  ``score`` call with ``candidates``). For open QA: the greedy answer up to a newline on the
  plain answer prompt (``prompts.answer_prompt``, ``answer_prob``'s), the same for every
  format. Asked for "Answer: <answer>" and a confidence on one line pair, small models write
  the template's placeholder or the confidence itself as their answer (SmolLM2-135M: "A (very
  high)" for 138 of 160 world_facts questions; Gemma-3-270M base: "<answer>" for all 200),
  which leaves nothing to grade. Then the assistant turn is written up to the cue,
  ``"Answer: <its answer>\\n<cue>"``, and the model generates only the value (greedy,
  stopping at a newline); ``cue + value`` is parsed.
- ``distribution``: after the same prefill, one ``ScoreRequest`` whose continuations are every
  level of the format (``" " + level``, see ``formats``): P(level) = exp(sum of the level's
  token log-probs), renormalised over the levels; Cv = sum P(level) * value(level);
  ``probs`` = P in the format's level order; ``extra["argmax_level"]``, and
  ``extra["level_mass"]``, the unnormalised total probability of the level set.

Both run as one ``Backend.chain`` call per format (``chain_requests``: per example the
letters (multiple choice), the answer and cue written, the value and the levels), which the ``hf``
backend computes on one key-value cache, the prompt once; other backends compose it of the
``score`` (letters), ``generate`` (value) and ``score`` (levels) calls described above.

``prefill``/``distribution`` records also carry ``extra["answer_ci"]``: the model's internal
confidence in its own answer on the prompt that produced it (the renormalised letter
probability, or exp(mean token log-prob) of the open answer, i.e. ``answer_prob``), which DCA
pairs with Cv. Each mode raises
``CapabilityError`` before any model call when the backend lacks what it needs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, ClassVar, get_args

import numpy as np

from confalign.backends.base import (
    Backend,
    Capability,
    ChainRequest,
    GenerateRequest,
    Generation,
    ScoreRequest,
)
from confalign.confidence._common import is_correct, normalized_softmax
from confalign.confidence.base import ConfidenceRecord, Extractor, Mode, register_extractor
from confalign.confidence.formats import FORMAT_NAMES, ConfidenceFormat, get_format
from confalign.confidence.internal import answer_logprobs, answer_request
from confalign.confidence.parsing import (
    ParsedConfidence,
    parse_choice,
    parse_confidence,
    parse_open_answer,
)
from confalign.confidence.prompts import (
    ANSWER_PREFIX,
    option_letters,
    prefill_prompt,
    prefill_text,
    prompt_manifest,
    verbalized_prompt,
)
from confalign.data.example import LETTERS, QAExample

MODES: tuple[str, ...] = get_args(Mode)


@dataclass(frozen=True)
class VerbalizedConfig:
    """Formats × modes to elicit, and generation lengths.

    ``max_new_tokens``: the whole ``free`` response. ``value_max_new_tokens``: the value in
    ``prefill`` (``" 100%"`` is 2-4 tokens). ``answer_max_new_tokens``: the model's own open-QA
    answer before a prefill.
    """

    formats: tuple[str, ...] = ("probability",)
    modes: tuple[str, ...] = ("prefill",)
    max_new_tokens: int = 64
    value_max_new_tokens: int = 8
    answer_max_new_tokens: int = 32

    def __post_init__(self) -> None:
        if not self.formats or not self.modes:
            raise ValueError("VerbalizedConfig needs at least one format and one mode")
        for f in self.formats:
            get_format(f)
        for m in self.modes:
            if m not in MODES:
                raise ValueError(f"VerbalizedConfig: unknown mode {m!r}; known: {', '.join(MODES)}")
        for field_name in ("formats", "modes"):
            values = getattr(self, field_name)
            if len(set(values)) != len(values):
                raise ValueError(f"VerbalizedConfig.{field_name} has duplicates: {values}")
        for field_name in ("max_new_tokens", "value_max_new_tokens", "answer_max_new_tokens"):
            if getattr(self, field_name) < 1:
                raise ValueError(f"VerbalizedConfig.{field_name} must be >= 1")


@dataclass(frozen=True)
class OwnAnswer:
    """The model's own greedy answer on a verbalized prompt (before a prefill)."""

    text: str
    ci: float | None
    generated_tokens: int = 0


def _method_key(fmt: str, mode: str) -> str:
    return f"verbalized/{fmt}/{mode}"


class VerbalizedExtractor(Extractor):
    """``verbalized/<format>/<mode>`` for every configured format and mode."""

    name: ClassVar[str] = "verbalized"
    kind = "verbalized"
    applies_to = "both"

    def __init__(self, config: VerbalizedConfig | None = None) -> None:
        self.config = config or VerbalizedConfig()

    def method_keys(self) -> list[str]:
        return [_method_key(f, m) for f in self.config.formats for m in self.config.modes]

    def describe(self) -> dict[str, Any]:
        return {
            "extractor": self.name,
            "methods": self.method_keys(),
            "config": asdict(self.config),
            "prompts": prompt_manifest(self.config.formats),
            # Where the open-QA own answer comes from (a run made before this was the
            # verbalized prompt is another run, not one to resume).
            "open_answer_prompt": "answer_prompt",
        }

    def check_backend(self, backend: Backend, examples: Sequence[QAExample]) -> None:
        """Raise ``CapabilityError`` for the first mode the backend cannot serve: ``free``
        needs ``generate``; ``prefill`` needs ``prefill`` and ``generate``; ``distribution``
        needs ``prefill`` and ``score``; the own-answer step of both needs ``candidates``
        (multiple choice) or ``generate`` (open QA) for the examples present."""
        own: list[Capability] = []
        if any(ex.is_multiple_choice for ex in examples):
            own.append("candidates")
        if not all(ex.is_multiple_choice for ex in examples):
            own.append("generate")
        needs: dict[str, list[Capability]] = {
            "free": ["generate"],
            "prefill": ["prefill", "generate", *own],
            "distribution": ["prefill", "score", *own],
        }
        for mode in self.config.modes:
            for capability in needs[mode]:
                backend.require(capability, f"verbalized {mode} mode")

    def extract(self, backend: Backend, examples: Sequence[QAExample]) -> list[ConfidenceRecord]:
        self.check_backend(backend, examples)
        if not examples:
            return []
        out: dict[tuple[int, str], ConfidenceRecord] = {}
        modes = self.config.modes
        opened: dict[int, OwnAnswer] = {}
        if "prefill" in modes or "distribution" in modes:
            opened = self.open_answers(backend, examples)
        for fmt in (get_format(f) for f in self.config.formats):
            if "free" in modes:
                for i, rec in enumerate(self._free(backend, examples, fmt)):
                    out[i, rec.key] = rec
            if "prefill" in modes or "distribution" in modes:
                for i, rec in self._prefilled(backend, examples, fmt, opened):
                    out[i, rec.key] = rec
        return [out[i, key] for i in range(len(examples)) for key in self.method_keys()]

    # -- the model's own answer ------------------------------------------------------------

    def own_answers(
        self,
        backend: Backend,
        examples: Sequence[QAExample],
        fmt: ConfidenceFormat,
        opened: dict[int, OwnAnswer] | None = None,
    ) -> list[OwnAnswer]:
        """The model's own answers (module doc): one ``score`` call for the multiple-choice
        examples (letters, on ``fmt``'s verbalized prompt); the open ones from ``opened``
        (``open_answers``, computed here when not given)."""
        answers: dict[int, OwnAnswer] = {}
        mc = [i for i, ex in enumerate(examples) if ex.is_multiple_choice]
        if mc:
            requests = [
                ScoreRequest(
                    verbalized_prompt(examples[i], fmt, ANSWER_PREFIX),
                    candidates=option_letters(examples[i]),
                )
                for i in mc
            ]
            for i, res in zip(mc, backend.score(requests), strict=True):
                answers[i] = letter_answer(res.candidate_logprobs)
        answers |= self.open_answers(backend, examples) if opened is None else opened
        return [answers[i] for i in range(len(examples))]

    def open_answers(self, backend: Backend, examples: Sequence[QAExample]) -> dict[int, OwnAnswer]:
        """Index -> greedy answer of each open-QA example on ``answer_prompt`` (one
        ``generate`` call; format-independent), with Ci = exp(mean answer-token log-prob)."""
        opened = [i for i, ex in enumerate(examples) if not ex.is_multiple_choice]
        if not opened:
            return {}
        requests = [answer_request(examples[i], self.config.answer_max_new_tokens) for i in opened]
        answers = {}
        for i, gens in zip(opened, backend.generate(requests), strict=True):
            g = gens[0]
            lps = answer_logprobs(g)
            ci = float(np.exp(lps.mean())) if len(lps) and g.text.strip() else None
            answers[i] = OwnAnswer(g.text.strip(), ci, len(g.tokens))
        return answers

    # -- the three modes -------------------------------------------------------------------

    def _free(
        self, backend: Backend, examples: Sequence[QAExample], fmt: ConfidenceFormat
    ) -> list[ConfidenceRecord]:
        requests = [
            GenerateRequest(verbalized_prompt(ex, fmt), self.config.max_new_tokens, 0.0)
            for ex in examples
        ]
        records = []
        for ex, gens in zip(examples, backend.generate(requests), strict=True):
            g = gens[0]
            if ex.is_multiple_choice:
                prediction = parse_choice(g.text, len(ex.choices)) or ""
            else:
                prediction = parse_open_answer(g.text)
            parsed = parse_confidence(g.text, fmt)
            extra = {"answer_parsed": bool(prediction), **_parse_extra(parsed)}
            records.append(
                _record(ex, fmt, "free", prediction, parsed, g.text, len(g.tokens), extra)
            )
        return records

    def chain_requests(
        self, examples: Sequence[QAExample], fmt: ConfidenceFormat, opened: dict[int, OwnAnswer]
    ) -> list[ChainRequest]:
        """One ``ChainRequest`` per example for the configured ``prefill``/``distribution``
        modes: multiple choice from ``fmt``'s verbalized prompt up to ``"Answer:"`` (the
        letters, then the argmax letter and the cue written), open QA from the prefilled
        prompt of its answer in ``opened``; then every level of ``fmt`` (``distribution``)
        and the greedy value (``prefill``)."""
        modes = self.config.modes
        levels = ()
        if "distribution" in modes:
            levels = fmt.level_continuations
        rest = {
            "continuations": levels,
            "max_new_tokens": self.config.value_max_new_tokens if "prefill" in modes else 0,
            "stop": ("\n",),
        }

        def then(letter_logprobs: np.ndarray) -> str:
            return prefill_text(letter_answer(letter_logprobs).text, fmt)[len(ANSWER_PREFIX) :]

        return [
            ChainRequest(
                verbalized_prompt(ex, fmt, ANSWER_PREFIX),
                candidates=option_letters(ex),
                then=then,
                **rest,
            )
            if ex.is_multiple_choice
            else ChainRequest(prefill_prompt(ex, fmt, opened[i].text), **rest)
            for i, ex in enumerate(examples)
        ]

    def _prefilled(
        self,
        backend: Backend,
        examples: Sequence[QAExample],
        fmt: ConfidenceFormat,
        opened: dict[int, OwnAnswer],
    ) -> Iterator[tuple[int, ConfidenceRecord]]:
        """The ``prefill`` and ``distribution`` records of ``fmt``: one ``backend.chain``
        call (the module doc's steps, on one key-value cache where the backend can)."""
        results = backend.chain(self.chain_requests(examples, fmt, opened))
        modes = self.config.modes
        for i, (ex, res) in enumerate(zip(examples, results, strict=True)):
            a = letter_answer(res.candidate_logprobs) if ex.is_multiple_choice else opened[i]
            if "prefill" in modes:
                assert res.generation is not None
                yield i, self._prefill_record(ex, fmt, a, res.generation)
            if "distribution" in modes:
                yield i, _distribution_record(ex, fmt, a, res.continuation_logprobs)

    def _prefill_record(
        self, ex: QAExample, fmt: ConfidenceFormat, a: OwnAnswer, g: Generation
    ) -> ConfidenceRecord:
        parsed = parse_confidence(fmt.cue + g.text, fmt)
        extra = {"answer_ci": a.ci, **_parse_extra(parsed)}
        cost = a.generated_tokens + len(g.tokens)
        return _record(ex, fmt, "prefill", a.text, parsed, g.text, cost, extra)


def letter_answer(letter_logprobs: np.ndarray) -> OwnAnswer:
    """The own answer of a multiple-choice question from its letters' log-masses: the argmax
    letter and its renormalised probability (no answer when none is finite)."""
    p = normalized_softmax(letter_logprobs)
    if p is None:
        return OwnAnswer("", None)
    k = int(np.argmax(p))
    return OwnAnswer(LETTERS[k], float(p[k]))


def _distribution_record(
    ex: QAExample,
    fmt: ConfidenceFormat,
    a: OwnAnswer,
    continuation_logprobs: Sequence[np.ndarray],
) -> ConfidenceRecord:
    level_lp = np.array([float(np.sum(lp)) for lp in continuation_logprobs])
    p = normalized_softmax(level_lp)
    extra: dict[str, Any] = {"answer_ci": a.ci}
    base = ConfidenceRecord(
        ex.id,
        "verbalized",
        "verbalized",
        a.text,
        is_correct(a.text, ex),
        None,
        format=fmt.name,
        mode="distribution",
        generated_tokens=a.generated_tokens,
    )
    if p is None:
        extra["error"] = "no level has a finite log-probability"
        return replace(base, extra=extra)
    k = int(np.argmax(p))
    top = level_lp.max()
    extra |= {
        "argmax_level": fmt.level_strings[k],
        "argmax_value": float(fmt.values[k]),
        "level_mass": float(np.exp(top) * np.exp(level_lp - top).sum()),
    }
    confidence = float(np.clip(p @ np.asarray(fmt.values), 0.0, 1.0))
    probs = tuple(float(x) for x in p)
    return replace(base, confidence=confidence, probs=probs, extra=extra)


def _parse_extra(parsed: ParsedConfidence) -> dict[str, Any]:
    extra: dict[str, Any] = {"level": parsed.level, "cue_found": parsed.cue_found}
    if parsed.failed:
        extra["parse_error"] = parsed.error
    return extra


def _record(
    ex: QAExample,
    fmt: ConfidenceFormat,
    mode: str,
    prediction: str,
    parsed: ParsedConfidence,
    raw_text: str,
    generated_tokens: int,
    extra: dict[str, Any],
) -> ConfidenceRecord:
    return ConfidenceRecord(
        example_id=ex.id,
        method="verbalized",
        kind="verbalized",
        prediction=prediction,
        correct=is_correct(prediction, ex),
        confidence=parsed.value,
        format=fmt.name,
        mode=mode,
        raw_text=raw_text,
        parse_failed=parsed.failed,
        ambiguous=parsed.ambiguous,
        generated_tokens=generated_tokens,
        extra=extra,
    )


register_extractor("verbalized")(VerbalizedExtractor)

__all__ = [
    "FORMAT_NAMES",
    "MODES",
    "OwnAnswer",
    "VerbalizedConfig",
    "VerbalizedExtractor",
    "letter_answer",
]
