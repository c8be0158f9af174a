"""Small helpers shared by the extractors: softmax over log-scores, answer matching, checks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from confalign.confidence.base import Extractor
from confalign.data.example import QAExample
from confalign.data.grading import is_correct as data_is_correct
from confalign.data.matching import answer_key
from confalign.data.numeric import parse_number


def normalized_softmax(scores: Sequence[float] | np.ndarray) -> np.ndarray | None:
    """``softmax(scores)`` in float64; None when every score is -inf or any is NaN/+inf."""
    s = np.asarray(scores, dtype=np.float64)
    if s.size == 0 or np.isnan(s).any() or np.isposinf(s).any() or np.isneginf(s).all():
        return None
    e = np.exp(s - s.max())
    return e / e.sum()


def answer_group_key(text: str) -> str:
    """What sampled open-QA answers are grouped by: a number when the text is exactly one
    (``"-5"`` and ``"5"`` differ, ``"1,234"`` is ``"1234"``), else ``confalign.data``'s
    SQuAD-normalised text (its ``answer_key``: lower case, no punctuation or articles)."""
    number = parse_number(text)
    if number is not None:
        return f"#{number.value}"
    return answer_key(text)


def is_correct(prediction: str, example: QAExample) -> bool | None:
    """``confalign.data.is_correct`` under the default grader (option letter; open QA: whole
    words, numbers as numbers); None when there is no prediction. The evaluation pipeline
    regrades every stored record with the run's grader (``confalign.evaluate.grading``)."""
    if not prediction.strip():
        return None
    return bool(data_is_correct(prediction, example))


def check_accepts(extractor: Extractor, examples: Sequence[QAExample]) -> None:
    """Raise ``ValueError`` naming the first example ``extractor`` cannot handle."""
    for ex in examples:
        if not extractor.accepts(ex):
            kind = "multiple-choice" if ex.is_multiple_choice else "open"
            raise ValueError(
                f"extractor {extractor.name!r} handles {extractor.applies_to} examples; "
                f"example {ex.id!r} is {kind} (filter with extractor.accepts)"
            )


def check_methods(config_name: str, methods: tuple[str, ...], known: tuple[str, ...]) -> None:
    """Validate a config's ``methods``: non-empty, known, no duplicates."""
    if not methods:
        raise ValueError(f"{config_name}.methods must name at least one of {', '.join(known)}")
    for m in methods:
        if m not in known:
            raise ValueError(f"{config_name}.methods: unknown {m!r}; known: {', '.join(known)}")
    if len(set(methods)) != len(methods):
        raise ValueError(f"{config_name}.methods has duplicates: {methods}")
