"""The training-method interface (STYLE.md items 11-12): what a method module declares.

A method is one module holding a ``TrainingMethod``: its options (a frozen dataclass whose
fields are made with ``option``, so the field metadata is the CLI help), its data (a pure
function from the untrained model's stored answers on the training split to records), the
packed layout of a record, its loss (built from ``train.losses``'s pure functions) and an
optional preparation step computed once before training (DCA: the reference
log-probabilities). ``pipelines.training`` runs every method the same way.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import torch

from confalign.confidence.formats import FORMAT_NAMES
from confalign.data.example import QAExample
from confalign.train.core import LossFn, TrainSettings

Evaluation = Literal["alignment", "calibration", "preference"]
SCORE_FORMATS = tuple(f for f in FORMAT_NAMES if f != "probability")


class TrainingRunError(ValueError):
    """A training run's setting or input is unusable (the message names it); nothing is lost."""


def option(default: Any, help: str, *, flag: tuple[str, ...] | None = None) -> Any:
    """A dataclass field whose metadata is its CLI option: ``help`` and the flags (default:
    ``--`` + the field name with dashes). Tuples are comma lists on the command line."""
    metadata = {"help": help, "flag": flag}
    if isinstance(default, (list, dict, set)):
        raise TypeError("option defaults must be immutable (use a tuple)")
    return field(default=default, metadata=metadata)


def check_formats(name: str, formats: Sequence[str]) -> None:
    """Every entry of ``formats`` a score format (``TrainingRunError`` naming ``name``)."""
    for fmt in formats:
        if fmt not in SCORE_FORMATS:
            raise TrainingRunError(
                f"{name}: {fmt!r} is not a score format ({', '.join(SCORE_FORMATS)})"
            )


@dataclass(frozen=True)
class CalibrationEval:
    """The options of the ``calibration`` evaluation, which a method's options inherit:
    Cv in ``distribution`` mode per format, before/after, beside Platt scaling."""

    eval_formats: tuple[str, ...] = option(
        ("score_letter", "score_number", "score_text", "score_percent", "score_float"),
        "Held-out evaluation formats (comma list): the trained ones and others.",
    )
    ood_formats: tuple[str, ...] = option(
        (), "Out-of-distribution evaluation formats (default: ADVICE's two and the trained ones)."
    )

    def __post_init__(self) -> None:
        check_formats("eval-formats", self.eval_formats)
        check_formats("ood-formats", self.ood_formats)


@dataclass(frozen=True)
class OneFormat(CalibrationEval):
    """The options of a method trained in a single score format (ConfTuner, verbalized SFT)."""

    format: str = option("score_percent", "Trained format (a score format: score_percent, ...).")

    def __post_init__(self) -> None:
        super().__post_init__()
        check_formats("format", (self.format,))

    @property
    def formats(self) -> tuple[str, ...]:
        return (self.format,)


# The shared defaults of the methods evaluated by ``calibration``: arithmetic of graded
# difficulty to train on (the default model is at chance on MMLU), MMLU out of distribution.
CALIBRATION_DATA = {"dataset": "calibrated_math", "ood_dataset": "mmlu_offline", "train_limit": 600}


@dataclass(frozen=True)
class Policy:
    """What a method's training step gets: the LoRA policy, its tokenizer, the packed scorer
    over it, and whether prompts take the tokenizer's special tokens (no chat template)."""

    model: Any
    tokenizer: Any
    scorer: Any
    device: torch.device
    special: bool


class DataContext(Protocol):
    """What the pipeline gives a method's data function."""

    examples: Sequence[QAExample]  # the training split
    dataset: str
    seed: int

    def answers(self, fmt: str, mode: str) -> list[Any]:
        """The untrained model's stored verbalized rows (``runs.ResultRow``) on the training
        split in ``fmt`` and ``mode`` (the formats and modes of ``TrainingMethod.answers``)."""
        ...

    def own_answers(self) -> list[Any]:
        """The untrained model's stored ``answer_prob`` rows (greedy answer, verdict) on the
        training split."""
        ...

    def render(self, prompt: Any) -> str:
        """A ``backends.Prompt`` rendered as the base model sees it (chat template)."""
        ...


Build = Callable[[DataContext, Any], tuple[list[Any], Counter[str]]]
Records = Callable[
    [Sequence[Any], Sequence[Any], Any, Any, TrainSettings], tuple[list, TrainSettings]
]


@dataclass(frozen=True)
class TrainingMethod:
    """One training method (module docstring).

    - ``options``: the options dataclass; ``record``: the dataclass of a data-file row.
    - ``answers(options) -> (formats, modes)``: the untrained model's answers it needs
      (default: its trained ``options.formats`` in ``distribution`` mode).
    - ``build(ctx, options) -> (records, counts)``: its data (counts: kept, dropped, ...).
    - ``layout(policy, records, options) -> items``: each record's packed layout.
    - ``prepare(policy, items, options) -> tensor``: computed once and stored (optional).
    - ``records(items, data, prepared, options, settings) -> (Trainer records, settings)``.
    - ``loss(scorer, options) -> LossFn``; ``describe(options)``: the card's paragraph.
    - ``evaluation``: the before/after measurement and report (``pipelines.evaluations``).
    - ``defaults``: the shared options' defaults it changes (CLI names), e.g. LoRA's.
    """

    name: str
    summary: str
    options: type
    record: type
    build: Build
    layout: Callable[[Policy, Sequence[Any], Any], list[Any]]
    records: Records
    loss: Callable[[Any, Any], LossFn]
    describe: Callable[[Any], str]
    evaluation: Evaluation
    prepare: Callable[[Policy, Sequence[Any], Any], torch.Tensor] | None = None
    answers: Callable[[Any], tuple[tuple[str, ...], tuple[str, ...]]] = lambda options: (
        tuple(options.formats),
        ("distribution",),
    )  # default: the trained formats, in ``distribution`` mode
    defaults: Mapping[str, Any] = field(default_factory=dict)
    hint: str = ""  # added to the error when the data is empty

    def make_options(self, **values: Any) -> Any:
        """The options from CLI-named values (unknown names are refused)."""
        known = {f.name for f in dataclasses.fields(self.options)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise TrainingRunError(f"{self.name}: unknown option {unknown[0]!r}")
        return self.options(**values)


def simple_records(
    items: Sequence[Any], data: Sequence[Any], prepared: Any, options: Any, settings: TrainSettings
) -> tuple[list[dict[str, Any]], TrainSettings]:
    """One Trainer record per item (``{"item": layout}``), the settings unchanged."""
    return [{"item": it} for it in items], settings
