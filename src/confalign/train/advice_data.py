"""ADVICE's training triplets (docs/design.md "Training methods"; arXiv 2510.10913).

A triplet is (question, correct answer, wrong answer) in one confidence format; each question
gives one triplet per format (ADVICE: ``score_letter`` and ``score_number``). Where the correct
answer comes from (``correct_from``):

- ``greedy`` (the paper): questions the model answers correctly under greedy decoding, its own
  answer as the correct one; the others are dropped and counted.
- ``gold``: every question, the gold answer as the correct one; for models that are rarely
  right (the default model on CalibratedMath: about 5%), where ``greedy`` leaves almost nothing.

The wrong answer is a plausible wrong one: the model's own answer when it is wrong (``own``,
``gold`` only: the answer it would really give); else another option for multiple choice
(``option``), or for open QA a distractor (``distractor``: close wrong numbers for numeric
answers, another question's answer otherwise; ``data.distractors``). Each triplet records
both sources, and ``build_triplets`` counts them, so the results can say which were used.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from confalign.data._stable import stable_rng
from confalign.data.distractors import wrong_answers
from confalign.data.example import LETTERS, QAExample
from confalign.train.levels import OwnAnswer

ADVICE_FORMATS = ("score_letter", "score_number")
CorrectFrom = Literal["greedy", "gold"]


@dataclass(frozen=True)
class Triplet:
    """One ADVICE training instance. ``prompt``: the rendered prompt up to ``"Answer:"``."""

    example_id: str
    format: str
    prompt: str
    correct: str
    wrong: str
    correct_source: str  # greedy | gold
    wrong_source: str  # own | option | distractor


def build_triplets(
    examples: Sequence[QAExample],
    own: Iterable[OwnAnswer],
    prompts: Mapping[tuple[str, str], str],
    *,
    correct_from: CorrectFrom,
    seed: int = 0,
) -> tuple[list[Triplet], Counter[str]]:
    """Triplets for every (example, format) of ``own`` (module doc), and the counts of what
    was kept, dropped and used. ``prompts[(example id, format)]``: the rendered prompt."""
    if correct_from not in ("greedy", "gold"):
        raise ValueError(f"correct_from must be greedy or gold, got {correct_from!r}")
    by_id = {ex.id: ex for ex in examples}
    distractors = wrong_answers([ex for ex in examples if not ex.is_multiple_choice], seed=seed)
    triplets, counts = [], Counter[str]()
    for a in own:
        ex = by_id[a.example_id]
        if correct_from == "greedy":
            if not a.correct:
                counts["dropped_not_correct" if a.correct is False else "dropped_no_answer"] += 1
                continue
            correct = a.answer
        else:
            correct = ex.gold_letter if ex.is_multiple_choice else ex.gold_text
        rng = stable_rng("advice-wrong", seed, ex.id, a.format)
        if correct_from == "gold" and a.correct is False and a.answer.strip():
            wrong, source = a.answer.strip(), "own"
        elif ex.is_multiple_choice:
            others = [x for x in LETTERS[: len(ex.choices)] if x != ex.gold_letter]
            wrong, source = rng.choice(others), "option"
        else:
            wrong, source = rng.choice(distractors[ex.id]), "distractor"
        triplets.append(
            Triplet(
                ex.id, a.format, prompts[(ex.id, a.format)], correct, wrong, correct_from, source
            )
        )
        counts["kept"] += 1
        counts[f"wrong_{source}"] += 1
    return triplets, counts


def shuffled_batches(
    triplets: Sequence[Triplet], batch_size: int, *, seed: int
) -> list[list[Triplet]]:
    """Mini-batches of one format each (ADVICE trains one format per mini-batch): the
    triplets of each format shuffled (seeded) and cut into batches of ``batch_size``; the
    batches of all formats then shuffled together."""
    rng = random.Random(seed)
    batches = []
    for fmt in sorted({t.format for t in triplets}):
        group = [t for t in triplets if t.format == fmt]
        rng.shuffle(group)
        batches += [group[i : i + batch_size] for i in range(0, len(group), batch_size)]
    rng.shuffle(batches)
    return batches
