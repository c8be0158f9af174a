"""Is an answer right, and by which rule? The rule-based graders of confalign.

Graders (``grade(prediction, example, grader=...)``), each verdict carrying the rule that made it:

- multiple choice, any grader: rule ``letter`` (``matching.option_letter`` names the gold).
- ``meta["match"]`` ``numeric``/``fraction``, any grader: rule ``numeric``
  (``numeric.numeric_match``; CalibratedMath).
- ``exact``: the SQuAD/TriviaQA normalised exact match (``matching.exact_match``; what those
  papers report): rule ``exact``.
- ``contains`` (the default): right when a gold answer or alias occurs in the answer as whole
  words (``answer_tokens``: Unicode folded, ``"Brasilia"`` is ``"Brasília"``; a leading article
  of the gold is optional), rule ``contains``; a gold that is a number is compared as a number
  (the number the answer gives, ``numeric.extract_number``, equal in value: ``"1,234"`` is
  ``1234``, ``"-5"`` is not ``5``), rule ``numeric``. An occurrence does not count when
  - a negation stands in its clause (``"Lagos, not Abuja"``, ``"It is not Paris"``; but
    ``"not sure"``, ``"not only"`` are hedges, and ``"Paris, not Lyon"`` is right);
  - it is one of several alternatives: ``or``/``either``/``whether``/``/`` in its sentence
    (``"Paris or Lyon"``);
  - it is joined by ``and``/``&`` to another name (``"Paris and Lyon"`` is a list, not an answer);
  and only the whole gold counts: ``"Washington"`` does not answer ``"George Washington"``
  unless it is an alias. Known limits (tested as such): a sentence that names the gold as
  something else (``"Sydney is the capital; Canberra is its largest city"``), a gold inside a
  longer name (``"York"`` in ``"New York"``) and comma lists (``"Lyon, Paris, Nice"``) are
  graded right, ``"D.C."`` does not match ``"DC"``, and an alias offered as an alternative
  (``"Beijing, or Peking"``) is graded wrong; the ``judge`` grader
  (``confalign.evaluate.judge``) reads them as a person would.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from confalign.data.answer_tokens import Token, tokenize
from confalign.data.example import QAExample
from confalign.data.matching import exact_match, option_letter
from confalign.data.numeric import extract_number, numeric_match, parse_number

RuleGrader = Literal["exact", "contains"]
RULE_GRADERS: tuple[str, ...] = ("contains", "exact")
Rule = Literal["letter", "exact", "contains", "numeric", "judge", ""]

_ARTICLES = frozenset({"a", "an", "the"})
_NEGATIONS = frozenset({"not", "no", "never", "neither", "nor", "none", "cannot"})
# A negation followed by one of these hedges the answer instead of denying it.
_HEDGED = frozenset({"sure", "certain", "know", "only", "entirely", "completely", "#100"})
_ALTERNATIVES = frozenset({"or", "either", "whether"})
_CONJUNCTIONS = frozenset({"and"})


@dataclass(frozen=True)
class Grade:
    """A verdict and the rule that made it. ``correct`` None: no answer to grade (rule "")."""

    correct: bool | None
    rule: Rule


def grade(prediction: str, example: QAExample, *, grader: RuleGrader = "contains") -> Grade:
    """The verdict on ``prediction`` for ``example`` under ``grader`` (rules in the module doc)."""
    if grader not in RULE_GRADERS:
        raise ValueError(f"unknown grader {grader!r}; rule-based graders: {RULE_GRADERS}")
    if not prediction.strip():
        return Grade(None, "")
    if example.is_multiple_choice:
        right = option_letter(prediction, len(example.choices)) == example.gold_letter
        return Grade(right, "letter")
    mode = example.meta.get("match", "text")
    if mode in ("numeric", "fraction"):
        return Grade(_numeric_mode(prediction, example, mode), "numeric")
    if grader == "exact":
        return Grade(exact_match(prediction, example.answers), "exact")
    return contains_grade(prediction, example.answers)


def is_correct(prediction: str, example: QAExample, *, grader: RuleGrader = "contains") -> bool:
    """Whether ``prediction`` answers ``example`` (``grade``; a blank prediction is wrong)."""
    return bool(grade(prediction, example, grader=grader).correct)


def contains_grade(prediction: str, answers: Iterable[str]) -> Grade:
    """The ``contains`` verdict: numbers as numbers (rule ``numeric``), text as whole words."""
    answers = [a for a in answers if a.strip()]
    numbers = [a for a in answers if parse_number(a) is not None]
    texts = [a for a in answers if parse_number(a) is None]
    if numbers and _number_given(prediction, numbers):
        return Grade(True, "numeric")
    if texts and contains_match(prediction, texts):
        return Grade(True, "contains")
    return Grade(False, "contains" if texts else "numeric")


def contains_match(prediction: str, answers: Iterable[str]) -> bool:
    """Whether one of ``answers`` occurs in ``prediction`` as whole words, neither negated,
    nor one of alternatives, nor joined to another name (module docstring)."""
    tokens = tokenize(prediction)
    words = [t.text for t in tokens]
    for answer in answers:
        gold = gold_words(answer)
        for start in _occurrences(words, gold):
            span = range(start, start + len(gold))
            if not (_negated(tokens, span) or _alternative(tokens, span) or _listed(tokens, span)):
                return True
    return False


def gold_words(answer: str) -> list[str]:
    """The words of a gold answer, a leading article dropped (``"The Beatles"`` is matched by
    ``"Beatles"``) unless only articles are left (the band "The The")."""
    words = [t.text for t in tokenize(answer)]
    rest = words[1:]
    return rest if words[:1] and words[0] in _ARTICLES and set(rest) - _ARTICLES else words


def _number_given(prediction: str, numbers: Sequence[str]) -> bool:
    """The number ``prediction`` gives equals one of ``numbers`` and is neither negated nor
    one of alternatives."""
    given = extract_number(prediction)
    if given is None or not any(given.value == parse_number(n).value for n in numbers):  # type: ignore[union-attr]
        return False
    return contains_match(prediction, [f"{given.value}"])


def _numeric_mode(prediction: str, example: QAExample, mode: str) -> bool:
    numbers = [a for a in example.answers if parse_number(a) is not None]
    if not numbers:
        raise ValueError(
            f"example {example.id!r} asks for a {mode} match but no answer is a number"
        )
    reduced = mode == "fraction"
    return any(
        numeric_match(prediction, a, reduced_fraction=reduced, question=example.question)
        for a in numbers
    )


def _occurrences(words: Sequence[str], gold: Sequence[str]) -> list[int]:
    n = len(gold)
    if not n:
        return []
    return [i for i in range(len(words) - n + 1) if list(words[i : i + n]) == list(gold)]


def _negated(tokens: Sequence[Token], span: range) -> bool:
    clauses = {tokens[i].clause for i in span}
    for i, tok in enumerate(tokens):
        if i in span or tok.clause not in clauses:
            continue
        if tok.negation or tok.text in _NEGATIONS:
            following = tokens[i + 1].text if i + 1 < len(tokens) else ""
            if following not in _HEDGED:
                return True
    return False


def _alternative(tokens: Sequence[Token], span: range) -> bool:
    sentences = {tokens[i].sentence for i in span}
    return any(
        i not in span and tok.sentence in sentences and tok.text in _ALTERNATIVES
        for i, tok in enumerate(tokens)
    )


def _listed(tokens: Sequence[Token], span: range) -> bool:
    """``and`` right before or after the occurrence, in its clause."""
    around = [i for i in (span.start - 1, span.stop) if 0 <= i < len(tokens)]
    clause = tokens[span.start].clause
    return any(tokens[i].text in _CONJUNCTIONS and tokens[i].clause == clause for i in around)
