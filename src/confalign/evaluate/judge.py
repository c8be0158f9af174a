"""An LLM judge of open answers with SimpleQA's rubric, through any confalign backend.

The rubric is SimpleQA's grader (Wei et al. 2024, "Measuring short-form factuality in large
language models"; ``GRADER_TEMPLATE`` of openai/simple-evals ``simpleqa_eval.py``, MIT licence),
condensed: the same three grades with the same criteria and the same reply letters, A CORRECT,
B INCORRECT, C NOT_ATTEMPTED. CORRECT counts as right, the other two as wrong (SimpleQA's
accuracy). A reply is read as its first standalone letter A/B/C or grade word; a reply naming
none is NOT_ATTEMPTED, as simple-evals reads it, and is marked unparsed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from confalign.backends import Backend, GenerateRequest, Prompt
from confalign.runs import stable_hash

JUDGE_RUBRIC = """\
Your job is to look at a question, a gold target, and a predicted answer, and grade the \
predicted answer as CORRECT, INCORRECT or NOT_ATTEMPTED.

CORRECT: the predicted answer fully contains the important information of the gold target \
and contradicts it nowhere. Only meaning matters: capitalization, punctuation, grammar, order \
and accents do not. Hedging and guessing are allowed when the gold target is fully included \
and nothing contradicts it. Information the question makes obvious may be left out (a last \
name, a unit), and small typos in names are forgiven.
INCORRECT: a statement in the predicted answer contradicts the gold target, even when hedged \
("I think", "it is possible that"), or the answer offers several candidates.
NOT_ATTEMPTED: the important information of the gold target is missing and nothing \
contradicts it ("I don't know", a request for context, an answer about something else).
A number must be right to the last significant figure of the gold target.

Question: {question}
Gold target: {target}
Predicted answer: {answer}

Grade the predicted answer as one of:
A: CORRECT
B: INCORRECT
C: NOT_ATTEMPTED
Just return the letter "A", "B", or "C", with no text around it."""
VERDICTS = {"A": "CORRECT", "B": "INCORRECT", "C": "NOT_ATTEMPTED"}
UNPARSED = "NOT_ATTEMPTED"
_REPLY_RE = re.compile(r"\b(?P<letter>[ABC])\b|(?P<word>NOT[_ ]ATTEMPTED|INCORRECT|CORRECT)", re.I)


@dataclass(frozen=True)
class JudgeItem:
    """One answer to judge: the question, the gold target (the gold and its aliases), the
    answer. ``key``: what the run's verdict cache knows it by."""

    question: str
    target: str
    answer: str

    @property
    def key(self) -> str:
        return stable_hash([self.question, self.target, self.answer])


@dataclass(frozen=True)
class Verdict:
    """A judge's grade (``CORRECT``/``INCORRECT``/``NOT_ATTEMPTED``), whether its reply named
    one, and the reply."""

    grade: str
    parsed: bool
    raw: str

    @property
    def correct(self) -> bool:
        return self.grade == "CORRECT"


def judge_target(gold: str, aliases: Sequence[str]) -> str:
    """The gold target as the judge reads it: ``"Beijing (also: Peking)"``."""
    others = [a for a in aliases if a != gold]
    return f"{gold} (also: {'; '.join(others)})" if others else gold


def parse_verdict(reply: str) -> Verdict:
    """The grade a judge's ``reply`` names first (module docstring)."""
    for m in _REPLY_RE.finditer(reply):
        if m.group("letter") and m.group("letter").isupper():
            return Verdict(VERDICTS[m.group("letter")], True, reply)
        if m.group("word"):
            return Verdict(m.group("word").upper().replace(" ", "_"), True, reply)
    return Verdict(UNPARSED, False, reply)


class Judge:
    """Grades ``JudgeItem``s with a loaded backend, greedily, a few tokens per reply."""

    def __init__(self, backend: Backend, *, max_new_tokens: int = 8) -> None:
        self.backend = backend
        self.max_new_tokens = max_new_tokens

    def __call__(self, items: Sequence[JudgeItem]) -> dict[str, Verdict]:
        """``{item.key: verdict}``; each distinct item is asked once."""
        unique = list({i.key: i for i in items}.values())
        if not unique:
            return {}
        self.backend.require("generate", "the judge grader")
        requests = [
            GenerateRequest(
                Prompt(JUDGE_RUBRIC.format(question=i.question, target=i.target, answer=i.answer)),
                max_new_tokens=self.max_new_tokens,
            )
            for i in unique
        ]
        replies = self.backend.generate(requests)
        return {i.key: parse_verdict(g[0].text) for i, g in zip(unique, replies, strict=True)}


def judge_key(description: Mapping[str, object]) -> str:
    """What a run's verdict cache files a judge under: its model, backend and rubric."""
    return stable_hash({**description, "rubric": JUDGE_RUBRIC})
