"""Numbers in answers: parse a reference, extract a model's number, compare exactly.

Rules (tested in ``tests/data/test_data_matching.py``):

- Numbers are exact rationals (``fractions.Fraction``), never floats: ``"0.1"`` is 1/10.
- Accepted forms: ``12``, ``-5``, ``+5``, ``1,234`` and ``12,345,678`` (commas only in groups
  of three; ``"1,23"`` reads as ``1``), ``3.5``, ``.5``, ``3/4`` and ``-3 / 4``, written
  with an ASCII hyphen-minus or the Unicode minus signs U+2212, U+FE63, U+FF0D. A trailing full
  stop (``"1234."``) ends a sentence and is not a decimal point; ``%`` and units after the
  number are ignored (``"20%"`` is 20).
- Which number a model's text gives (``extract_number``): the first number after the last
  relation sign (``=``, ``≈``, ``≡``, ``≃``) when the text has one (``"5 + 7 = 12"`` gives 12:
  the model restated the sum; ``"5960 / 149 ≈ 2.99"`` gives 2.99), else the first number in
  the text (``"The answer is 12"`` gives 12). First, not last, because in confalign's prompts
  the answer comes first and what follows is an explanation or a confidence
  (``"12, I am 90% sure"``); the last number would read the 90.
- ``numeric_match``: the extracted number equals the reference as a rational, so ``"3/4"``
  matches ``"0.75"`` and ``"1,234"`` matches ``"1234"``. With ``reduced_fraction=True`` (the
  CalibratedMath fraction-reduction task, which asks for the reduced form) the answer must be
  written as a fraction in lowest terms with the reference's value: ``"3/4"`` is right,
  ``"6/8"`` and ``"0.75"`` are wrong. Given the ``question``, a fraction that copies one written
  in it (same numerator and denominator, or two consecutive integers of the question) is a
  restatement, not an answer: ``"608 / 1"`` does not answer "What is 608 // 1?" although its
  value is 608. Unless the reference is written as that same fraction ("What is 3/5 in reduced
  form?": ``"3/5"``).
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from fractions import Fraction

_MINUS_SIGNS = str.maketrans({"\u2212": "-", "\ufe63": "-", "\uff0d": "-"})
_NUMBER_RE = re.compile(
    r"""(?<![\w.,/])(?P<sign>[-+])?(?:
        (?P<num>\d+)\s*/\s*(?P<den>\d+)(?![\d.,/])        # fraction: 3/4
      | (?P<int>\d{1,3}(?:,\d{3})+(?![\d,])|\d+)(?:\.(?P<dec>\d+))?  # 1,234 / 1234 / 3.5
      | \.(?P<bare>\d+)                                   # .5
    )""",
    re.VERBOSE,
)
_TRAILING = " \t\n.!?;:,%"
_RELATION_RE = re.compile("[=\u2248\u2261\u2243]")  # = ≈ ≡ ≃


@dataclass(frozen=True)
class NumberToken:
    """A number found in text: its exact value, the text it was read from, and, for a
    fraction, its numerator and denominator as written (``6/8`` keeps 6 and 8)."""

    value: Fraction
    text: str
    numerator: int | None = None
    denominator: int | None = None

    @property
    def is_fraction(self) -> bool:
        return self.denominator is not None

    @property
    def in_lowest_terms(self) -> bool:
        """A written fraction whose numerator and denominator share no factor."""
        if self.numerator is None or self.denominator is None:
            return False
        return math.gcd(self.numerator, self.denominator) == 1


def _token(m: re.Match[str]) -> NumberToken | None:
    sign = -1 if m.group("sign") == "-" else 1
    if m.group("den") is not None:
        num, den = int(m.group("num")), int(m.group("den"))
        if den == 0:
            return None
        return NumberToken(Fraction(sign * num, den), m.group(0), sign * num, den)
    if m.group("bare") is not None:
        return NumberToken(sign * Fraction("0." + m.group("bare")), m.group(0))
    whole = m.group("int").replace(",", "")
    dec = m.group("dec")
    value = Fraction(f"{whole}.{dec}") if dec else Fraction(int(whole))
    return NumberToken(sign * value, m.group(0))


def find_numbers(text: str) -> list[NumberToken]:
    """Every number in ``text``, in order."""
    return [t for _, _, t in number_spans(text)]


def number_spans(text: str) -> list[tuple[int, int, NumberToken]]:
    """Every number in ``text`` with its ``(start, end)`` character offsets, in order (for a
    caller that tokenizes the words around the numbers)."""
    text = text.translate(_MINUS_SIGNS)  # one character for one: offsets stay valid
    found = ((m.start(), m.end(), _token(m)) for m in _NUMBER_RE.finditer(text))
    return [(a, b, t) for a, b, t in found if t is not None]


def parse_number(text: str) -> NumberToken | None:
    """``text`` read as one number (surrounding spaces, a trailing ``.``/``%`` allowed), or
    None when it is not exactly one number (``"12 apples"``, ``"twelve"``)."""
    text = text.translate(_MINUS_SIGNS).strip().rstrip(_TRAILING).strip()
    m = _NUMBER_RE.fullmatch(text)
    return _token(m) if m else None


def extract_number(text: str) -> NumberToken | None:
    """The number a model's answer gives (rule in the module docstring), or None."""
    text = text.translate(_MINUS_SIGNS)
    relations = list(_RELATION_RE.finditer(text))
    if relations:
        after = find_numbers(text[relations[-1].end() :])
        if after:
            return after[0]
    numbers = find_numbers(text)
    return numbers[0] if numbers else None


def numeric_match(
    prediction: str,
    reference: str,
    *,
    reduced_fraction: bool = False,
    question: str | None = None,
) -> bool:
    """Whether ``prediction`` gives the number ``reference`` states (rules above); with
    ``question``, a fraction copied from it does not count.

    Raises ``ValueError`` when ``reference`` is not a number: that is a data error, not a
    wrong answer.
    """
    ref = parse_number(reference)
    if ref is None:
        raise ValueError(f"reference answer {reference!r} is not a number")
    got = extract_number(prediction)
    if got is None or got.value != ref.value:
        return False
    if question is not None and got.is_fraction:
        pair = (got.numerator, got.denominator)
        if pair in _operand_pairs(question) and pair != (ref.numerator, ref.denominator):
            return False
    return got.in_lowest_terms if reduced_fraction else True


def _operand_pairs(question: str) -> set[tuple[int | None, int | None]]:
    """(numerator, denominator) of each fraction written in ``question``, and each pair of
    consecutive integers in it (``"11589 // 1"`` and ``"86,299 / 1"`` give (11589, 1) and
    (86299, 1)): what a fraction restating the question would copy."""
    numbers = find_numbers(question)
    pairs = {(t.numerator, t.denominator) for t in numbers if t.is_fraction}
    ints = [
        int(t.value) if t.value.denominator == 1 and not t.is_fraction else None for t in numbers
    ]
    pairs |= {(a, b) for a, b in itertools.pairwise(ints) if a is not None and b is not None}
    return pairs
