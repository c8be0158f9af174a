"""Is an answer right? Option letters for multiple choice; for open QA the SQuAD/TriviaQA
normalised exact match against the gold answer and its aliases, or a numeric match.

Normalisation (``normalize_answer``), as in the SQuAD v1.1 and TriviaQA evaluation scripts:
lower case, delete punctuation (ASCII and Unicode: ``don’t`` and ``don't`` agree), drop the
articles ``a``/``an``/``the`` as whole words, collapse whitespace. When an answer normalises to
nothing (the band "The The") the lower-cased, whitespace-collapsed text is compared instead, so
an empty prediction never matches it.

Open-QA modes, chosen per example by ``meta["match"]``:

- ``text`` (default): exact match after normalisation with any of ``example.answers`` (when
  the prediction and an answer are each one number they are compared as numbers, so ``-5`` is
  not ``5``, which the SQuAD normalisation alone would equate); with
  ``contains=True`` (lenient, off by default) also right when a normalised answer occurs in the
  normalised prediction as whole words (``"Paris, France"`` contains ``"paris"``, but
  ``"concatenate"`` does not contain ``"cat"``).
- ``numeric``: ``numeric.numeric_match`` against each answer that is a number.
- ``fraction``: the same with ``reduced_fraction=True`` (the answer must be in lowest terms).

Multiple choice: the prediction must be one upper-case option letter, optionally in brackets
or followed by ``.``/``)``/``:`` (``"B"``, ``"(B)"``, ``"B."``); lower-case ``a`` is an article,
not a letter. Extracting a letter from a longer response is the confidence parsers' job.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from confalign.data.example import LETTERS, QAExample
from confalign.data.numeric import numeric_match, parse_number

_ARTICLES_RE = re.compile(r"\b(a|an|the)\b")
_LETTER_RE = re.compile(r"^[\s(\[*]*([A-Z])[\s)\].:*]*$")


def _is_punctuation(ch: str) -> bool:
    return unicodedata.category(ch).startswith("P") or ch in "$+<=>^`|~´"


def normalize_answer(text: str) -> str:
    """SQuAD/TriviaQA normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if not _is_punctuation(ch))
    text = _ARTICLES_RE.sub(" ", text)
    return " ".join(text.split())


def answer_key(text: str) -> str:
    """What answers are compared by: the normalised text, or when that is empty the
    lower-cased, whitespace-collapsed text."""
    return normalize_answer(text) or " ".join(text.lower().split())


def same_answer(a: str, b: str) -> bool:
    """Equal as answers: as numbers when both are one number each (``-5`` is not ``5``, though
    the SQuAD normalisation equates them; ``1,234`` is ``1234``), else after normalisation."""
    x, y = parse_number(a), parse_number(b)
    if x is not None and y is not None:
        return x.value == y.value
    key = answer_key(a)
    return bool(key) and key == answer_key(b)


def exact_match(prediction: str, answers: Iterable[str]) -> bool:
    """Whether ``prediction`` equals one of ``answers`` (``same_answer``)."""
    return any(same_answer(prediction, a) for a in answers)


def contains_match(prediction: str, answers: Iterable[str]) -> bool:
    """Whether one of ``answers`` occurs in ``prediction`` as whole words, after normalisation."""
    pred = f" {answer_key(prediction)} "
    return any((a := answer_key(ans)) and f" {a} " in pred for ans in answers)


def option_letter(prediction: str, n_options: int) -> str | None:
    """The option letter ``prediction`` names (``"B"``, ``"(B)"``, ``"B."``), or None."""
    m = _LETTER_RE.match(prediction)
    return m.group(1) if m and m.group(1) in LETTERS[:n_options] else None


def is_correct(prediction: str, example: QAExample, *, contains: bool = False) -> bool:
    """Whether ``prediction`` answers ``example`` (rules in the module docstring).

    Parameters
    ----------
    prediction : an option letter (multiple choice) or the model's answer text (open QA).
    example : the question; ``example.meta["match"]`` picks the open-QA mode.
    contains : lenient text mode: a gold answer contained in the prediction counts.
    """
    if not prediction.strip():
        return False
    if example.is_multiple_choice:
        return option_letter(prediction, len(example.choices)) == example.gold_letter
    mode = example.meta.get("match", "text")
    if mode in ("numeric", "fraction"):
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
    if exact_match(prediction, example.answers):
        return True
    return contains and contains_match(prediction, example.answers)
