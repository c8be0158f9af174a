"""Factuality preference pairs for DPO-style alignment (the ``dpo`` method; docs/design.md
"Training methods"): per question, chosen = the gold answer, rejected = the model's own
answer when it was graded wrong, else a plausible wrong one (another question's answer of
the same type, or a close wrong number: ``data.distractors.wrong_answers``), as FactTune-like
work builds them from a model's own samples; the rejected text is the answer as the grader
reads it (``stated_answer``). Prompts are the ``answer_prob`` prompt as the
model sees it, completions `` answer`` (the greedy answer follows ``"Answer:"``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby

from confalign.data.distractors import wrong_answers
from confalign.data.example import QAExample
from confalign.data.matching import same_answer
from confalign.data.numeric import extract_number

OWN_WRONG, DISTRACTOR, FILE = "own_wrong", "distractor", "file"


@dataclass(frozen=True)
class PreferencePair:
    """One pair: the rendered prompt, the chosen and rejected completions, and where the
    rejected one came from (``own_wrong``, ``distractor``, ``file``)."""

    example_id: str
    prompt: str
    chosen: str
    rejected: str
    source: str


@dataclass(frozen=True)
class OwnAnswer:
    """The model's greedy answer to a question and its verdict (None: no answer)."""

    text: str
    correct: bool | None


def completion(answer: str) -> str:
    """The completion after ``"Answer:"``: one space, then the answer's first line."""
    return " " + answer.strip().splitlines()[0].strip() if answer.strip() else ""


def stated_answer(example: QAExample, text: str) -> str:
    """The answer a model's text gives, as the grader reads it: for a numeric question the
    number (``"3 + 6 = 11"`` -> ``"11"``, so chosen and rejected are both bare numbers and
    the pair teaches the fact, not the format), else the first line."""
    if example.meta.get("match") in ("numeric", "fraction"):
        number = extract_number(text)
        return number.text if number is not None else ""
    return text.strip().splitlines()[0].strip() if text.strip() else ""


def plausible_wrong(examples: Sequence[QAExample], *, seed: int) -> dict[str, str]:
    """One wrong answer per question, drawn per source dataset (so arithmetic gets close wrong
    numbers and facts other answers of their own type)."""
    out: dict[str, str] = {}
    by_source = sorted(examples, key=lambda ex: ex.source)
    for _, group in groupby(by_source, key=lambda ex: ex.source):
        out |= {k: v[0] for k, v in wrong_answers(list(group), k=1, seed=seed).items()}
    return out


def build_factual_pairs(
    examples: Sequence[QAExample],
    own: Mapping[str, OwnAnswer],
    prompts: Mapping[str, str],
    *,
    seed: int,
) -> tuple[list[PreferencePair], Counter[str]]:
    """One pair per open question (module docstring) and the counts: ``own_wrong``,
    ``distractor``, ``dropped_mc`` (multiple choice has no open answer to prefer)."""
    counts: Counter[str] = Counter()
    open_qa = [ex for ex in examples if not ex.is_multiple_choice]
    counts["dropped_mc"] = len(examples) - len(open_qa)
    wrong = plausible_wrong(open_qa, seed=seed)
    pairs = []
    for ex in open_qa:
        answer = own.get(ex.id)
        mine = completion(stated_answer(ex, answer.text)) if answer is not None else ""
        is_wrong = answer is not None and answer.correct is False and mine
        if is_wrong and not any(same_answer(mine, a) for a in ex.answers):
            rejected, source = mine, OWN_WRONG
        else:
            rejected, source = completion(wrong[ex.id]), DISTRACTOR
        counts[source] += 1
        pairs.append(
            PreferencePair(ex.id, prompts[ex.id], completion(ex.gold_text), rejected, source)
        )
    counts["kept"] = len(pairs)
    return pairs, counts
