"""Verbalized confidence formats: the cue a model writes, the instruction, and the level set.

Each format is a small frozen dataclass; ``FORMATS`` maps its name to it. The level sets are
exactly docs/design.md's table ("Confidence extraction"):

==================  ====================  =====================================================
format              cue in the output     levels -> Cv
==================  ====================  =====================================================
``probability``     ``Probability: X%``   ``"0%"`` .. ``"100%"`` -> X/100 (101 levels)
``score_percent``   ``Confidence: X%``    ``"0%"`` .. ``"100%"`` -> X/100 (101 levels)
``score_float``     ``Confidence: 0.xx``  ``"0.00"`` .. ``"1.00"`` step 0.01 -> the float
                                          (a finite grid of 101 levels, always two decimals)
``score_number``    ``Confidence: N``     ``"0"`` .. ``"9"`` -> N/9 (10 levels)
``score_letter``    ``Confidence: L``     A=0.9, B=0.7, C=0.5, D=0.3, E=0.1
``score_text``      ``Confidence: words`` very high 0.9, high 0.7, medium 0.5, low 0.3,
                                          very low 0.1
==================  ====================  =====================================================

In the ``distribution`` mode a level is scored as the continuation ``" " + level`` right after
the cue (``"Probability:"`` then ``" 85%"``; ``"Confidence:"`` then ``" 0.85"``, ``" 7"``,
``" B"``, ``" very high"``), the way the instruction shows it. The percent sign ends a percent
level, and the float grid always has two decimals, so no level of those formats is a prefix of
another and their events are disjoint. For ``score_number``, ``score_letter`` and
``score_text`` no terminator is scored (it would be model specific), so a level's probability
also covers text that extends it (``" 1"`` covers ``" 10"``); the renormalisation over levels
is stated as such.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from confalign.registry import unknown_name_message

ValueKind = Literal["percent", "float", "number", "letter", "text"]


@dataclass(frozen=True)
class ConfidenceFormat:
    """One verbalized format.

    ``cue``: what precedes the value in the model's output (``"Probability:"``).
    ``instruction``: how the prompt asks for the value (one sentence plus the reply line).
    ``levels``: ``(level string, value)`` pairs in ascending order of appearance.
    ``value_kind``: how the parser reads a value after the cue.
    """

    name: str
    cue: str
    instruction: str
    levels: tuple[tuple[str, float], ...]
    value_kind: ValueKind

    @property
    def cue_word(self) -> str:
        """The cue without its colon: ``"Probability"``."""
        return self.cue.rstrip(":").strip()

    @property
    def level_strings(self) -> tuple[str, ...]:
        return tuple(level for level, _ in self.levels)

    @property
    def values(self) -> tuple[float, ...]:
        return tuple(value for _, value in self.levels)

    def continuation(self, level: str) -> str:
        """The exact text scored after the cue for ``level`` in the distribution mode."""
        return " " + level

    @property
    def level_continuations(self) -> tuple[str, ...]:
        """Every level's ``continuation``, in level order: what the distribution mode scores."""
        return tuple(self.continuation(level) for level in self.level_strings)

    def value_of(self, level: str) -> float:
        for name, value in self.levels:
            if name == level:
                return value
        raise KeyError(f"format {self.name!r} has no level {level!r}")


def _percent_levels() -> tuple[tuple[str, float], ...]:
    return tuple((f"{x}%", x / 100) for x in range(101))


def _float_levels() -> tuple[tuple[str, float], ...]:
    return tuple((f"{x / 100:.2f}", x / 100) for x in range(101))


def _number_levels() -> tuple[tuple[str, float], ...]:
    return tuple((str(n), n / 9) for n in range(10))


_LETTER_LEVELS = (("A", 0.9), ("B", 0.7), ("C", 0.5), ("D", 0.3), ("E", 0.1))
_TEXT_LEVELS = (("very high", 0.9), ("high", 0.7), ("medium", 0.5), ("low", 0.3), ("very low", 0.1))

_FORMAT_LIST = (
    ConfidenceFormat(
        name="probability",
        cue="Probability:",
        instruction=(
            "Then give the probability, from 0% to 100%, that your answer is correct, "
            "on its own line as:\nProbability: <number>%"
        ),
        levels=_percent_levels(),
        value_kind="percent",
    ),
    ConfidenceFormat(
        name="score_percent",
        cue="Confidence:",
        instruction=(
            "Then give your confidence, from 0% to 100%, that your answer is correct, "
            "on its own line as:\nConfidence: <number>%"
        ),
        levels=_percent_levels(),
        value_kind="percent",
    ),
    ConfidenceFormat(
        name="score_float",
        cue="Confidence:",
        instruction=(
            "Then give your confidence that your answer is correct as a number from 0.00 to "
            "1.00 with two decimals, on its own line as:\nConfidence: <number>"
        ),
        levels=_float_levels(),
        value_kind="float",
    ),
    ConfidenceFormat(
        name="score_number",
        cue="Confidence:",
        instruction=(
            "Then give your confidence that your answer is correct as a whole number from 0 "
            "(certainly wrong) to 9 (certainly right), on its own line as:\nConfidence: <number>"
        ),
        levels=_number_levels(),
        value_kind="number",
    ),
    ConfidenceFormat(
        name="score_letter",
        cue="Confidence:",
        instruction=(
            "Then grade your confidence that your answer is correct with one letter: A (very "
            "high), B (high), C (medium), D (low) or E (very low), on its own line as:\n"
            "Confidence: <letter>"
        ),
        levels=_LETTER_LEVELS,
        value_kind="letter",
    ),
    ConfidenceFormat(
        name="score_text",
        cue="Confidence:",
        instruction=(
            "Then describe your confidence that your answer is correct as one of: very high, "
            "high, medium, low, very low, on its own line as:\nConfidence: <words>"
        ),
        levels=_TEXT_LEVELS,
        value_kind="text",
    ),
)

FORMATS: dict[str, ConfidenceFormat] = {f.name: f for f in _FORMAT_LIST}
FORMAT_NAMES: tuple[str, ...] = tuple(FORMATS)


def get_format(name: str) -> ConfidenceFormat:
    """The format called ``name``; an unknown name lists the known ones."""
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(unknown_name_message("confidence format", name, FORMATS)) from None
