"""Answer matching primitives: the SQuAD/TriviaQA normalised exact match and option letters.
The verdicts themselves (which rule applies to which example) are ``confalign.data.grading``'s.

Normalisation (``normalize_answer``), as in the SQuAD v1.1 and TriviaQA evaluation scripts:
lower case, delete punctuation (ASCII and Unicode: ``don’t`` and ``don't`` agree), drop the
articles ``a``/``an``/``the`` as whole words, collapse whitespace. When an answer normalises to
nothing (the band "The The") the lower-cased, whitespace-collapsed text is compared instead, so
an empty prediction never matches it.

``exact_match``: equal after normalisation to any answer; when the prediction and an answer are
each one number they are compared as numbers, so ``-5`` is not ``5``, which the SQuAD
normalisation alone would equate.

Multiple choice: the prediction must be one upper-case option letter, optionally in brackets
or followed by ``.``/``)``/``:`` (``"B"``, ``"(B)"``, ``"B."``); lower-case ``a`` is an article,
not a letter. Extracting a letter from a longer response is the confidence parsers' job.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from confalign.data.example import LETTERS
from confalign.data.numeric import parse_number

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


def option_letter(prediction: str, n_options: int) -> str | None:
    """The option letter ``prediction`` names (``"B"``, ``"(B)"``, ``"B."``), or None."""
    m = _LETTER_RE.match(prediction)
    return m.group(1) if m and m.group(1) in LETTERS[:n_options] else None
