"""The evaluation's one point of contact with ``confalign.confidence``: which methods and formats
exist, how extractors are built for a config, and the prompt texts a manifest records."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from confalign.confidence.base import Extractor
from confalign.data.example import QAExample

if TYPE_CHECKING:
    from confalign.evaluate.config import EvalConfig


def method_names() -> tuple[str, ...]:
    """Every method name ``--methods`` accepts (the extractor registry's names)."""
    from confalign.confidence import EXTRACTORS

    return tuple(EXTRACTORS.names())


def format_names() -> tuple[str, ...]:
    """Every verbalized format name ``--formats`` accepts."""
    from confalign.confidence.formats import FORMAT_NAMES

    return tuple(FORMAT_NAMES)


def build_extractors_for(config: EvalConfig, examples: Sequence[QAExample]) -> list[Extractor]:
    """The extractors ``config`` asks for (all methods when ``config.methods`` is None) that
    accept at least one of ``examples``."""
    from confalign.confidence import build_extractors

    given = {
        "formats": config.formats,
        "modes": config.modes,
        "samples": config.samples,
        "temperature": config.temperature,
    }
    options: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    methods = config.methods if config.methods is not None else method_names()
    built = build_extractors(methods, seed=config.seed, **options)
    return [e for e in built if any(e.accepts(x) for x in examples)]


def extractor_prompts(formats: Sequence[str]) -> dict[str, Any]:
    """Prompt template ids and texts, and the instructions of ``formats``."""
    from confalign.confidence.prompts import prompt_manifest

    return prompt_manifest(formats)


@cache
def _question_block() -> Any:
    from confalign.confidence.prompts import question_block

    return question_block


def prompt_length(example: QAExample) -> int:
    """Characters of the question as prompts show it (question and lettered options)."""
    return len(_question_block()(example))
