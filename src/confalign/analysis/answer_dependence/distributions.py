"""JSD between confidence distributions given the correct and the wrong answers, and masking.

Both read the ``distribution`` mode's level distribution (every level scored as a
continuation after ``"Answer: <a>\\n<cue>"``, renormalised over the levels) for several answers
written into the prefill (``level_distributions``):

- **JSD** (ADVICE's answer-independence statistic): the correct answer (the gold letter, or the
  open gold) against wrong ones (every other option; for open QA 3 distractors from
  ``add_distractors``: close wrong numbers for numeric answers, other questions' answers else).
  ``P_wrong`` is the mean of the wrong answers' distributions (the paper pools its wrong
  samples), and the statistic is ``JSD(P_correct, P_wrong)`` in nats, in [0, ln 2].
- **masking**: Cv given the model's own answer against Cv with the answer blanked
  (``"Answer: \\n<cue>"``); ``shift = Cv(blank) - Cv(own)``. A model whose confidence ignores
  its answer barely moves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from confalign.backends.base import Backend, ScoreRequest
from confalign.confidence._common import normalized_softmax
from confalign.confidence.formats import ConfidenceFormat
from confalign.confidence.prompts import (
    ANSWER_PREFIX,
    option_letters,
    prefill_text,
    verbalized_prompt,
)
from confalign.data.distractors import wrong_answers
from confalign.data.example import LETTERS, QAExample
from confalign.metrics import jensen_shannon_divergence

BLANK = ""


@dataclass(frozen=True)
class AnswerScores:
    """``p``: one level distribution per answer scored, shape (n_answers, n_levels);
    ``own``: the model's own letter (argmax of the option letters after ``"Answer:"``, as the
    ``prefill`` and ``distribution`` modes take it; ``""`` for open QA)."""

    p: np.ndarray
    own: str


@dataclass(frozen=True)
class Candidates:
    """The answers written into the prefill for one example: ``correct`` and ``wrong``."""

    correct: str
    wrong: tuple[str, ...]


def candidate_answers(examples: Sequence[QAExample], *, seed: int = 0) -> list[Candidates]:
    """Correct and wrong answers per example (module doc), in the examples' order."""
    out: dict[str, Candidates] = {}
    by_id = {ex.id: ex for ex in examples}
    for ex in examples:
        if ex.is_multiple_choice:
            letters = LETTERS[: len(ex.choices)]
            wrong = tuple(x for x in letters if x != ex.gold_letter)
            out[ex.id] = Candidates(ex.gold_letter, wrong)
    opened = [ex for ex in examples if not ex.is_multiple_choice]
    for ex_id, wrong in wrong_answers(opened, k=3, seed=seed).items():
        out[ex_id] = Candidates(by_id[ex_id].gold_text, wrong)
    return [out[ex.id] for ex in examples]


def answer_requests(
    examples: Sequence[QAExample], fmt: ConfidenceFormat, answers: Sequence[Sequence[str]]
) -> list[ScoreRequest]:
    """One request per example: the prompt up to ``"Answer:"`` (the own-answer prompt, with
    the option letters as candidates for multiple choice) and, as continuations, every answer
    followed by the cue and each level: ``" C\\nConfidence: A"``, answer-major."""
    levels = fmt.level_continuations
    return [
        ScoreRequest(
            verbalized_prompt(ex, fmt, ANSWER_PREFIX),
            continuations=tuple(
                prefill_text(a, fmt)[len(ANSWER_PREFIX) :] + lv for a in group for lv in levels
            ),
            candidates=option_letters(ex) if ex.is_multiple_choice else (),
        )
        for ex, group in zip(examples, answers, strict=True)
    ]


def level_distributions(
    backend: Backend,
    examples: Sequence[QAExample],
    fmt: ConfidenceFormat,
    answers: Sequence[Sequence[str]],
) -> list[AnswerScores]:
    """Per example, the ``distribution``-mode level distribution given each of its
    ``answers`` (rows of ``AnswerScores.p``), and for multiple choice the own answer.

    The prompt up to ``"Answer:"`` is shared by all answers, so it is computed once
    (``answer_requests``): a continuation's log-probability is that of the answer and cue
    (the same for every level of that answer, so it cancels when the levels are renormalised)
    plus that of the level after them, which is what the ``distribution`` mode scores after
    the prefill ``"Answer: <a>\\n<cue>"``. The tests check both layouts agree.
    """
    n_levels = len(fmt.levels)
    # Answers that give the same prefill are scored once (so they get identical rows).
    distinct = [list(dict.fromkeys(a.strip() for a in group)) for group in answers]
    results = backend.score(answer_requests(examples, fmt, distinct))
    out = []
    for ex, group, unique, res in zip(examples, answers, distinct, results, strict=True):
        totals = np.array([float(np.sum(lp)) for lp in res.continuation_logprobs])
        rows = []
        for answer in group:
            k = unique.index(answer.strip())
            p = normalized_softmax(totals[k * n_levels : (k + 1) * n_levels])
            if p is None:
                raise ValueError(
                    f"example {ex.id!r}, answer {answer!r}: no level of {fmt.name} has a "
                    "finite log-probability"
                )
            rows.append(p)
        own = ""
        if ex.is_multiple_choice:
            letters = normalized_softmax(res.candidate_logprobs)
            own = LETTERS[int(np.argmax(letters))] if letters is not None else ""
        out.append(AnswerScores(np.array(rows), own))
    return out


def answer_jsd(p_correct: np.ndarray, p_wrong: np.ndarray) -> float:
    """``JSD(P_correct, mean of the rows of P_wrong)`` in nats (module doc)."""
    pooled = np.atleast_2d(p_wrong).mean(axis=0)
    return float(jensen_shannon_divergence(p_correct, pooled / pooled.sum()))


def expected_value(p: np.ndarray, fmt: ConfidenceFormat) -> float:
    """Cv = sum P(level) * value(level), as the ``distribution`` mode computes it."""
    return float(np.clip(np.asarray(p) @ np.asarray(fmt.values), 0.0, 1.0))


def mask_shift(
    backend: Backend, examples: Sequence[QAExample], fmt: ConfidenceFormat, answers: Sequence[str]
) -> list[tuple[float, float]]:
    """Per example ``(Cv given answer, Cv with the answer blanked)``."""
    dists = level_distributions(backend, examples, fmt, [(a, BLANK) for a in answers])
    return [(expected_value(d.p[0], fmt), expected_value(d.p[1], fmt)) for d in dists]
