"""Prompt templates as data: named, versioned strings a run manifest records.

Every prompt has the same shape. The user turn holds the question (with lettered options for
multiple choice) and an instruction; the assistant turn starts with ``ANSWER_PREFIX``
(``"Answer:"``) wherever the answer position must be right after it (internal extractors,
the model's own answer in ``prefill``/``distribution``), and with
``"Answer: <its answer>\\n<cue>"`` in ``prefill``/``distribution``.

Without a chat template (a base model) the backend reads ``Prompt.plain`` where a prompt has
one, and otherwise puts the assistant prefix on a line of its own after the user turn
(``backends.base.plain_text``). The internal-confidence prompts carry ``plain`` texts laid out
as lm-eval's MMLU tasks (the layout base models are evaluated with): ``choice`` lists the
lettered options, with no instruction, and ends in ``"Answer:"`` on its own line
(``mmlu``); the ``continuation_*`` methods score each option's text after
``"Question: ...\\nAnswer:"`` (``mmlu_continuation``, options not listed). For MMLU
questions both start with lm-eval's description line naming the subject.

The ``continuation_*`` methods have a prompt of their own on chat models too: the question
without lettered options and the open-answer instruction, so an option's text is scored as
the answer the model was asked for, not after an instruction to write a letter only.

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
# lm-eval 0.4's MMLU tasks, for models without a chat template.
MC_PLAIN = PromptTemplate("mc_plain", 1, "{description}{question}\n{options}\nAnswer:")
CONTINUATION_PLAIN = PromptTemplate(
    "continuation_plain", 1, "{description}Question: {question}\nAnswer:"
)
MC_DESCRIPTION = PromptTemplate(
    "mc_description",
    1,
    "The following are multiple choice questions (with answers) about {subject}.\n\n",
)
CONTINUATION_DESCRIPTION = PromptTemplate(
    "continuation_description", 1, "The following are questions (with answers) about {subject}.\n\n"
)
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
    for t in (
        MC_QUESTION,
        OPEN_QUESTION,
        MC_ANSWER,
        OPEN_ANSWER,
        VERBALIZED_MC,
        VERBALIZED_OPEN,
        MC_PLAIN,
        CONTINUATION_PLAIN,
        MC_DESCRIPTION,
        CONTINUATION_DESCRIPTION,
    )
}


def option_letters(example: QAExample) -> tuple[str, ...]:
    """``("A", "B", ...)``, one per option."""
    return tuple(LETTERS[: len(example.choices)])


def _letters_text(example: QAExample) -> str:
    letters = option_letters(example)
    return ", ".join(letters[:-1]) + " or " + letters[-1]


def option_lines(example: QAExample) -> str:
    """One ``"A. option"`` line per option."""
    return "\n".join(
        f"{letter}. {text}" for letter, text in zip(LETTERS, example.choices, strict=False)
    )


def question_block(example: QAExample) -> str:
    """The question, and for multiple choice one ``"A. option"`` line per option."""
    if example.is_multiple_choice:
        return MC_QUESTION.render(question=example.question.strip(), options=option_lines(example))
    return OPEN_QUESTION.render(question=example.question.strip())


def _description(example: QAExample, template: PromptTemplate) -> str:
    """lm-eval's MMLU description line (subject with spaces), "" for other datasets."""
    if not example.source.startswith("mmlu") or not example.subject:
        return ""
    return template.render(subject=example.subject.replace("_", " "))


def answer_prompt(example: QAExample) -> Prompt:
    """The internal-confidence prompt: the answer position is right after ``"Answer:"``.

    Multiple choice: the ``choice`` prompt (lettered options listed). ``plain`` is lm-eval's
    layout for base models (module doc)."""
    question = example.question.strip()
    if example.is_multiple_choice:
        instruction = MC_ANSWER.render(letters=_letters_text(example))
        plain = MC_PLAIN.render(
            description=_description(example, MC_DESCRIPTION),
            question=question,
            options=option_lines(example),
        )
    else:
        instruction = OPEN_ANSWER.render()
        plain = CONTINUATION_PLAIN.render(description="", question=question)
    return Prompt(
        user=f"{question_block(example)}\n\n{instruction}",
        assistant_prefix=ANSWER_PREFIX,
        plain=plain,
    )


def continuation_prompt(example: QAExample) -> Prompt:
    """The ``continuation_*`` prompt of a multiple-choice question: the question alone (no
    lettered options) and the open-answer instruction; each option's text is scored after
    ``"Answer:"``. ``plain`` is lm-eval's ``mmlu_continuation`` layout."""
    question = example.question.strip()
    return Prompt(
        user=f"{OPEN_QUESTION.render(question=question)}\n\n{OPEN_ANSWER.render()}",
        assistant_prefix=ANSWER_PREFIX,
        plain=CONTINUATION_PLAIN.render(
            description=_description(example, CONTINUATION_DESCRIPTION), question=question
        ),
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
