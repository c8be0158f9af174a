"""Prompt templates as data: named, versioned strings a run manifest records.

Every prompt has the same shape. The user turn holds the question (with lettered options for
multiple choice) and an instruction; the assistant turn starts with ``ANSWER_PREFIX``
(``"Answer:"``) wherever the answer position must be right after it (internal extractors,
the model's own answer in ``prefill``/``distribution``), and with
``"Answer: <its answer>\\n<cue>"`` in ``prefill``/``distribution``. Backends without a chat
template append the prefix to the text, so the same ``Prompt`` serves both.

A change to any template's text must bump its ``version``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from confalign.backends.base import Prompt
from confalign.confidence.formats import FORMATS, ConfidenceFormat
from confalign.data.example import LETTERS, QAExample

ANSWER_PREFIX = "Answer:"


@dataclass(frozen=True)
class PromptTemplate:
    """A ``str.format`` template with a name and a version (``id``: ``"mc_question@1"``)."""

    name: str
    version: int
    text: str

    @property
    def id(self) -> str:
        return f"{self.name}@{self.version}"

    def render(self, **fields: Any) -> str:
        return self.text.format(**fields)


MC_QUESTION = PromptTemplate("mc_question", 1, "Question: {question}\n{options}")
OPEN_QUESTION = PromptTemplate("open_question", 1, "Question: {question}")
MC_ANSWER = PromptTemplate(
    "mc_answer", 1, "Answer with the letter of the correct option only ({letters})."
)
OPEN_ANSWER = PromptTemplate("open_answer", 1, "Answer with a short answer only, no explanation.")
VERBALIZED_MC = PromptTemplate(
    "verbalized_mc",
    1,
    "Give the letter of the correct option ({letters}) on its own line as:\n"
    "Answer: <letter>\n{format_instruction}",
)
VERBALIZED_OPEN = PromptTemplate(
    "verbalized_open",
    1,
    "Give a short answer, no explanation, on its own line as:\nAnswer: <answer>\n"
    "{format_instruction}",
)

PROMPT_TEMPLATES: dict[str, PromptTemplate] = {
    t.name: t
    for t in (MC_QUESTION, OPEN_QUESTION, MC_ANSWER, OPEN_ANSWER, VERBALIZED_MC, VERBALIZED_OPEN)
}


def option_letters(example: QAExample) -> tuple[str, ...]:
    """``("A", "B", ...)``, one per option."""
    return tuple(LETTERS[: len(example.choices)])


def _letters_text(example: QAExample) -> str:
    letters = option_letters(example)
    return ", ".join(letters[:-1]) + " or " + letters[-1]


def question_block(example: QAExample) -> str:
    """The question, and for multiple choice one ``"A. option"`` line per option."""
    if example.is_multiple_choice:
        options = "\n".join(
            f"{letter}. {text}" for letter, text in zip(LETTERS, example.choices, strict=False)
        )
        return MC_QUESTION.render(question=example.question.strip(), options=options)
    return OPEN_QUESTION.render(question=example.question.strip())


def answer_prompt(example: QAExample) -> Prompt:
    """The internal-confidence prompt: the answer position is right after ``"Answer:"``."""
    if example.is_multiple_choice:
        instruction = MC_ANSWER.render(letters=_letters_text(example))
    else:
        instruction = OPEN_ANSWER.render()
    return Prompt(
        user=f"{question_block(example)}\n\n{instruction}", assistant_prefix=ANSWER_PREFIX
    )


def verbalized_user(example: QAExample, fmt: ConfidenceFormat) -> str:
    """The user turn asking for an answer and a confidence in ``fmt``."""
    if example.is_multiple_choice:
        instruction = VERBALIZED_MC.render(
            letters=_letters_text(example), format_instruction=fmt.instruction
        )
    else:
        instruction = VERBALIZED_OPEN.render(format_instruction=fmt.instruction)
    return f"{question_block(example)}\n\n{instruction}"


def verbalized_prompt(example: QAExample, fmt: ConfidenceFormat, prefix: str = "") -> Prompt:
    """The ``free`` prompt (``prefix`` empty) or its answer step (``prefix="Answer:"``)."""
    return Prompt(user=verbalized_user(example, fmt), assistant_prefix=prefix)


def prefill_text(answer: str, fmt: ConfidenceFormat) -> str:
    """The assistant turn written for the model: ``"Answer: C\\nProbability:"``."""
    return f"{ANSWER_PREFIX} {answer.strip()}\n{fmt.cue}"


def prefill_prompt(example: QAExample, fmt: ConfidenceFormat, answer: str) -> Prompt:
    """The ``prefill``/``distribution`` prompt: the model's own answer, then the cue."""
    return Prompt(user=verbalized_user(example, fmt), assistant_prefix=prefill_text(answer, fmt))


def prompt_manifest(formats: Iterable[str] = ()) -> dict[str, Any]:
    """Template ids and texts, plus the named formats' instructions, for a run manifest."""
    out: dict[str, Any] = {t.id: t.text for t in PROMPT_TEMPLATES.values()}
    out["answer_prefix"] = ANSWER_PREFIX
    for name in formats:
        fmt = FORMATS[name]
        out[f"format:{name}"] = {"cue": fmt.cue, "instruction": fmt.instruction}
    return out
