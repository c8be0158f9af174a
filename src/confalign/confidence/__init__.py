"""Confidence extractors: internal (token probabilities), verbalized, consistency.

Importing this package registers every extractor in ``EXTRACTORS`` under the method names it
produces; ``build_extractors`` turns method names into configured extractors.
"""

from __future__ import annotations

from confalign.confidence.base import (
    EXTRACTORS,
    ConfidenceRecord,
    Extractor,
    register_extractor,
)
from confalign.confidence.build import METHOD_NAMES, build_extractors
from confalign.confidence.consistency import (
    CONSISTENCY_METHODS,
    ConsistencyConfig,
    ConsistencyExtractor,
    agreement,
    entropy_confidence,
    majority_answer,
)
from confalign.confidence.formats import FORMAT_NAMES, FORMATS, ConfidenceFormat, get_format
from confalign.confidence.internal import (
    MC_METHODS,
    OPEN_METHODS,
    AnswerProbConfig,
    AnswerProbExtractor,
    ChoiceConfig,
    ChoiceExtractor,
)
from confalign.confidence.parsing import (
    ParsedConfidence,
    parse_choice,
    parse_confidence,
    parse_open_answer,
)
from confalign.confidence.verbalized import MODES, VerbalizedConfig, VerbalizedExtractor

__all__ = [
    "CONSISTENCY_METHODS",
    "EXTRACTORS",
    "FORMATS",
    "FORMAT_NAMES",
    "MC_METHODS",
    "METHOD_NAMES",
    "MODES",
    "OPEN_METHODS",
    "AnswerProbConfig",
    "AnswerProbExtractor",
    "ChoiceConfig",
    "ChoiceExtractor",
    "ConfidenceFormat",
    "ConfidenceRecord",
    "ConsistencyConfig",
    "ConsistencyExtractor",
    "Extractor",
    "ParsedConfidence",
    "VerbalizedConfig",
    "VerbalizedExtractor",
    "agreement",
    "build_extractors",
    "entropy_confidence",
    "get_format",
    "majority_answer",
    "parse_choice",
    "parse_confidence",
    "parse_open_answer",
    "register_extractor",
]
