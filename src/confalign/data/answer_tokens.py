"""Answer text as word tokens for whole-word grading (``confalign.data.grading``).

- Unicode is folded (``fold``): NFKD, combining marks removed (``"Brasília"`` -> ``brasilia``,
  ``"ș"`` -> ``s``), the letters NFKD leaves whole replaced (``ø``, ``ł``, ``đ``, ``æ``, ``œ``,
  ``ß``...), then case-folded.
- A number is one token holding its exact value (``"1,234"`` and ``"1234"`` are both ``#1234``;
  ``"-5"`` is ``#-5``, not ``#5``; ``"3/4"`` and ``"0.75"`` are both ``#3/4``).
- A word is a run of letters and digits; apostrophes inside it are dropped (``o'brien`` is
  ``obrien``), hyphens split it (``Guinea-Bissau`` is ``guinea bissau``).
- Each token carries the clause and sentence it stands in: ``, : ( ) [ ] — –`` end a clause,
  ``. ! ? ;`` and line breaks end a sentence, and ``but``/``however``/``although``/``though``/
  ``whereas`` open a new clause. ``/`` between words is the word ``or``, ``&`` the word ``and``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from confalign.data.numeric import number_spans

# Letters NFKD does not decompose into a base letter and a combining mark.
_EXTRA_FOLDS = str.maketrans(
    {
        "ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D",
        "ħ": "h", "Ħ": "H", "ı": "i", "ŀ": "l", "Ŀ": "L", "ŧ": "t", "Ŧ": "T",
        "þ": "th", "Þ": "Th", "æ": "ae", "Æ": "Ae", "œ": "oe", "Œ": "Oe", "ß": "ss", "ẞ": "Ss",
    }
)  # fmt: skip
_PIECE_RE = re.compile(
    r"(?P<word>[^\W_]+(?:['’][^\W_]+)*)"
    r"|(?P<sentence>[.!?;\n]+)"
    r"|(?P<clause>[,:()\[\]—–]|\s-+\s)"
    r"|(?P<alt>/)"
    r"|(?P<amp>&)"
)
_NOT_CONTRACTION_RE = re.compile(r"n['’]t$")
CLAUSE_OPENERS = frozenset({"but", "however", "although", "though", "whereas"})


@dataclass(frozen=True)
class Token:
    """One word or number of an answer. ``negation``: the word was a ``n't`` contraction
    (``isn't``), which the text alone (``isnt``) would not show."""

    text: str
    clause: int
    sentence: int
    negation: bool = False


def strip_accents(text: str) -> str:
    """``text`` without accents, case kept: NFKD, combining marks removed, the few letters NFKD
    keeps whole replaced (``ø`` -> ``o``, ``ß`` -> ``ss``): ``Łódź`` -> ``Lodz``."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_EXTRA_FOLDS))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def fold(text: str) -> str:
    """``text`` without accents or case (``strip_accents``, then case-folded)."""
    return strip_accents(text).casefold()


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text`` (rules in the module docstring)."""
    folded = fold(text)
    tokens: list[Token] = []
    clause = sentence = 0
    at = 0
    for start, end, number in [*number_spans(folded), (len(folded), len(folded), None)]:
        for kind, piece in _pieces(folded[at:start]):
            if kind == "sentence":
                clause, sentence = clause + 1, sentence + 1
            elif kind == "clause":
                clause += 1
            elif kind in ("alt", "amp"):
                tokens.append(Token("or" if kind == "alt" else "and", clause, sentence))
            else:
                word = piece.replace("'", "").replace("’", "")
                if word in CLAUSE_OPENERS:
                    clause += 1
                negation = bool(_NOT_CONTRACTION_RE.search(piece))
                tokens.append(Token(word, clause, sentence, negation))
        if number is not None:
            tokens.append(Token(f"#{number.value}", clause, sentence))
        at = end
    return tokens


def _pieces(text: str) -> Iterator[tuple[str, str]]:
    for m in _PIECE_RE.finditer(text):
        kind = m.lastgroup or "word"
        yield kind, m.group(kind)
