"""Which prompt segment each token of a ``prefill`` prompt belongs to, on the rendered text.

A ``prefill`` prompt (``confidence.prompts.prefill_prompt``) has four content segments:
``question`` (the ``"Question: ..."`` line), ``options`` (the ``"A. ..."`` lines; absent in open
QA), ``instruction`` (the answer-and-confidence request) and ``answer`` (the answer text after
``"Answer: "``). Everything else (the chat template and its system turn, ``"Answer:"``, the
cue, the level's shared leading tokens) is ``other``. Character spans are located on the text
the backend renders (chat template applied); each token goes to the segment its characters
overlap most (the tokenizer's offsets), so a token such as ``" C"`` counts as answer.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from confalign.confidence.formats import ConfidenceFormat
from confalign.confidence.prompts import ANSWER_PREFIX, prefill_prompt, question_block
from confalign.data.example import QAExample

SEGMENTS: tuple[str, ...] = ("instruction", "question", "options", "answer")
OTHER = "other"
ALL_SEGMENTS: tuple[str, ...] = (*SEGMENTS, OTHER)


def segment_spans(
    text: str, example: QAExample, fmt: ConfidenceFormat, answer: str
) -> dict[str, tuple[int, int]]:
    """Character spans ``[start, end)`` of the content segments in ``text``, the rendering of
    ``prefill_prompt(example, fmt, answer)``; an empty segment (no options, a blank answer)
    is ``(i, i)``. Raises ``ValueError`` when the text is not such a rendering."""
    prompt = prefill_prompt(example, fmt, answer)
    user_at = text.find(prompt.user)
    if user_at < 0 or not text.endswith(prompt.assistant_prefix):
        raise ValueError(
            f"example {example.id!r}: the rendered prompt does not contain its user turn and "
            "end with its prefill; segments cannot be located"
        )
    block = question_block(example)
    question_line = block.split("\n", 1)[0] if example.is_multiple_choice else block
    q_end = user_at + len(question_line)
    block_end = user_at + len(block)
    answer_at = len(text) - len(prompt.assistant_prefix) + len(ANSWER_PREFIX) + 1
    return {
        "question": (user_at, q_end),
        "options": (q_end + 1, block_end) if example.is_multiple_choice else (q_end, q_end),
        "instruction": (block_end + 2, user_at + len(prompt.user)),
        "answer": (answer_at, answer_at + len(answer.strip())),
    }


def token_segments(
    offsets: Sequence[tuple[int, int]], spans: dict[str, tuple[int, int]]
) -> list[str]:
    """The segment of each token given its character ``offsets``: the span it overlaps most
    (ties: ``SEGMENTS`` order), ``other`` when it overlaps none."""
    labels = []
    for start, end in offsets:
        best, overlap = OTHER, 0
        for name in SEGMENTS:
            lo, hi = spans[name]
            size = min(end, hi) - max(start, lo)
            if size > overlap:
                best, overlap = name, size
        labels.append(best)
    return labels


def segment_sums(values: np.ndarray, labels: Sequence[str]) -> dict[str, float]:
    """Sum of ``values`` (one per token) over each segment of ``ALL_SEGMENTS``."""
    array = np.asarray(values, dtype=np.float64)
    names = np.asarray(labels)
    return {name: float(array[names == name].sum()) for name in ALL_SEGMENTS}


def segment_counts(labels: Sequence[str]) -> dict[str, int]:
    """Tokens per segment of ``ALL_SEGMENTS``."""
    return {name: sum(label == name for label in labels) for name in ALL_SEGMENTS}
