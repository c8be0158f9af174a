"""The one record type for a question-answering example, multiple choice or open."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from confalign.data.numeric import parse_number

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
MATCH_MODES = ("text", "numeric", "fraction")
MAX_REPORTED_ERRORS = 20  # bad rows listed in one DataErrors message; all are counted


class DataError(ValueError):
    """A malformed record; the message names the source, the row and the field."""

    def __init__(self, source: str, row: int | None, field_name: str, problem: str) -> None:
        where = f"{source}" + (f", row {row}" if row is not None else "")
        super().__init__(f"{where}: field {field_name!r}: {problem}")
        self.source, self.row, self.field_name, self.problem = source, row, field_name, problem


class DataErrors(DataError):
    """Several malformed records of one source, reported together in one message.

    ``errors`` holds the first ``MAX_REPORTED_ERRORS`` of them, ``total`` how many there were;
    ``row`` and ``field_name`` are the first error's.
    """

    def __init__(self, source: str, errors: Sequence[DataError], total: int) -> None:
        shown = "; ".join(f"row {e.row}: field {e.field_name!r}: {e.problem}" for e in errors)
        more = f" (first {len(errors)} shown)" if total > len(errors) else ""
        ValueError.__init__(self, f"{source}: {total} bad rows{more}: {shown}")
        first = errors[0]
        self.source, self.row, self.field_name = source, first.row, first.field_name
        self.problem = first.problem
        self.errors, self.total = tuple(errors), total


@dataclass(frozen=True)
class QAExample:
    """One question.

    Multiple choice: ``choices`` holds the K >= 2 option texts and ``gold`` the index of the
    correct one. Open QA: ``choices`` is empty, ``gold`` is the reference answer string and
    ``aliases`` the other accepted answer strings.

    ``meta`` (strings only) carries what a dataset knows beyond these fields. Keys read by the
    library: ``match`` (how ``grading.grade`` compares an open answer: ``text``, the default,
    by the run's grader, ``numeric`` or ``fraction``), ``answer_type`` (the pool distractors
    are drawn from) and, after ``add_distractors``, ``open_gold`` (the original answer).
    """

    id: str
    question: str
    choices: tuple[str, ...] = ()
    gold: int | str = ""
    aliases: tuple[str, ...] = ()
    subject: str = ""
    source: str = ""
    split: str = ""
    meta: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_multiple_choice(self) -> bool:
        return len(self.choices) > 0

    @property
    def gold_letter(self) -> str:
        """The letter of the correct option (multiple choice only)."""
        if not self.is_multiple_choice:
            raise ValueError(f"example {self.id!r} is open QA and has no gold letter")
        return LETTERS[int(self.gold)]

    @property
    def gold_text(self) -> str:
        """The correct answer as text: the gold option, or the open-QA reference answer."""
        return self.choices[int(self.gold)] if self.is_multiple_choice else str(self.gold)

    @property
    def answers(self) -> tuple[str, ...]:
        """Every accepted answer string: the gold text followed by the aliases."""
        return (self.gold_text, *self.aliases)

    def validate(self, source: str, row: int | None = None) -> QAExample:
        """Return self, or raise DataError naming ``source``, ``row`` and the bad field."""
        if not isinstance(self.id, str) or not self.id:
            raise DataError(source, row, "id", "must be a non-empty string")
        if not isinstance(self.question, str) or not self.question.strip():
            raise DataError(source, row, "question", "must be a non-empty string")
        if self.choices:
            if len(self.choices) < 2 or len(self.choices) > len(LETTERS):
                raise DataError(
                    source, row, "choices", f"needs 2..26 options, got {len(self.choices)}"
                )
            for i, c in enumerate(self.choices):
                if not isinstance(c, str) or not c.strip():
                    raise DataError(source, row, "choices", f"option {i} is empty or not a string")
            if isinstance(self.gold, bool) or not isinstance(self.gold, int):
                raise DataError(source, row, "gold", f"must be an option index, got {self.gold!r}")
            if not 0 <= self.gold < len(self.choices):
                raise DataError(
                    source,
                    row,
                    "gold",
                    f"index {self.gold} out of range 0..{len(self.choices) - 1}",
                )
        else:
            if not isinstance(self.gold, str) or not self.gold.strip():
                raise DataError(source, row, "gold", "open QA needs a non-empty answer string")
        for a in self.aliases:
            if not isinstance(a, str):
                raise DataError(source, row, "aliases", f"alias {a!r} is not a string")
        match = self.meta.get("match", "text")
        if match not in MATCH_MODES:
            raise DataError(
                source, row, "meta", f"match must be one of {MATCH_MODES}, got {match!r}"
            )
        if match != "text" and not self.is_multiple_choice and parse_number(self.gold) is None:
            problem = f"a {match} match needs a number, got {self.gold!r}"
            raise DataError(source, row, "gold", problem)
        return self
