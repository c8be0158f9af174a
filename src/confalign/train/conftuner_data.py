"""ConfTuner's training data (DESIGN.md "Training methods"): the model's own greedy answers
to training questions, each labelled right or wrong by the dataset's matcher. Questions the
model gave no answer to are dropped and counted."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from confalign.train.levels import OwnAnswer


@dataclass(frozen=True)
class LabelledAnswer:
    """One answer and its correctness. ``prompt``: the rendered prompt up to ``"Answer:"``."""

    example_id: str
    format: str
    prompt: str
    answer: str
    correct: bool


def label_answers(
    own: Iterable[OwnAnswer], prompts: Mapping[tuple[str, str], str]
) -> tuple[list[LabelledAnswer], Counter[str]]:
    """The labelled answers of ``own`` and the counts (kept, right, wrong, dropped)."""
    out, counts = [], Counter[str]()
    for a in own:
        if a.correct is None or not a.answer.strip():
            counts["dropped_no_answer"] += 1
            continue
        out.append(
            LabelledAnswer(
                a.example_id, a.format, prompts[(a.example_id, a.format)], a.answer, a.correct
            )
        )
        counts["kept"] += 1
        counts["right" if a.correct else "wrong"] += 1
    return out, counts
