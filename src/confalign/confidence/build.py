"""Method names -> configured extractors: what the eval pipeline calls.

Method names (each maps to the extractor producing it in ``EXTRACTORS``):

- multiple choice, internal: ``choice``, ``continuation_sum``, ``continuation_sum_norm``,
  ``continuation_min`` (one ``ChoiceExtractor``, one scoring pass);
- open QA, internal: ``answer_prob``, ``answer_prob_product`` (one ``AnswerProbExtractor``);
- ``verbalized``: one ``VerbalizedExtractor`` for ``formats`` x ``modes``; its record keys are
  ``verbalized/<format>/<mode>``;
- ``agreement``, ``entropy``: one ``ConsistencyExtractor`` (``samples`` at ``temperature``).
"""

from __future__ import annotations

from collections.abc import Sequence

from confalign.confidence.base import EXTRACTORS, Extractor
from confalign.confidence.consistency import (
    CONSISTENCY_METHODS,
    ConsistencyConfig,
    ConsistencyExtractor,
)
from confalign.confidence.internal import (
    MC_METHODS,
    OPEN_METHODS,
    AnswerProbConfig,
    AnswerProbExtractor,
    ChoiceConfig,
    ChoiceExtractor,
)
from confalign.confidence.verbalized import VerbalizedConfig, VerbalizedExtractor

METHOD_NAMES: tuple[str, ...] = (*MC_METHODS, *OPEN_METHODS, "verbalized", *CONSISTENCY_METHODS)


def build_extractors(
    method_names: Sequence[str] | None,
    *,
    formats: Sequence[str] = ("probability",),
    modes: Sequence[str] = ("prefill",),
    samples: int = 10,
    temperature: float = 1.0,
    top_p: float = 1.0,
    seed: int = 0,
    max_new_tokens: int = 64,
    value_max_new_tokens: int = 8,
    answer_max_new_tokens: int = 32,
    sample_max_new_tokens: int = 16,
) -> list[Extractor]:
    """One extractor per extractor class named by ``method_names``, in first-named order.

    ``None`` means every method in ``METHOD_NAMES``. Every config is built (and validated)
    here, before any model loads. An unknown name raises ``ValueError`` listing the known ones.
    ``formats``/``modes`` only matter with ``verbalized``; ``samples``, ``temperature``,
    ``top_p`` and ``seed`` only with ``agreement`` or ``entropy``. ``max_new_tokens``: the
    ``free`` response; ``value_max_new_tokens``: the ``prefill`` value;
    ``answer_max_new_tokens``: greedy open-QA answers; ``sample_max_new_tokens``: each
    consistency sample.
    """
    if method_names is None:
        method_names = [m for m in METHOD_NAMES if m in EXTRACTORS] + [
            m for m in EXTRACTORS.names() if m not in METHOD_NAMES
        ]
    if isinstance(method_names, str):
        raise TypeError("method_names must be a sequence of names, not one string")
    if not method_names:
        raise ValueError(f"no method named; known: {', '.join(EXTRACTORS.names())}")
    grouped: dict[type[Extractor], list[str]] = {}
    for name in method_names:
        if name not in EXTRACTORS:
            raise ValueError(EXTRACTORS.unknown_message(name))
        methods = grouped.setdefault(EXTRACTORS.get(name), [])
        if name not in methods:
            methods.append(name)
    extractors: list[Extractor] = []
    for cls, methods in grouped.items():
        if cls is ChoiceExtractor:
            order = ChoiceConfig().methods
            picked = tuple(m for m in order if m in methods)
            extractors.append(ChoiceExtractor(ChoiceConfig(methods=picked)))
        elif cls is AnswerProbExtractor:
            picked = tuple(m for m in AnswerProbConfig().methods if m in methods)
            config = AnswerProbConfig(methods=picked, max_new_tokens=answer_max_new_tokens)
            extractors.append(AnswerProbExtractor(config))
        elif cls is VerbalizedExtractor:
            vconfig = VerbalizedConfig(
                formats=tuple(formats),
                modes=tuple(modes),
                max_new_tokens=max_new_tokens,
                value_max_new_tokens=value_max_new_tokens,
                answer_max_new_tokens=answer_max_new_tokens,
            )
            extractors.append(VerbalizedExtractor(vconfig))
        elif cls is ConsistencyExtractor:
            picked = tuple(m for m in ConsistencyConfig().methods if m in methods)
            cconfig = ConsistencyConfig(
                n=samples,
                temperature=temperature,
                top_p=top_p,
                seed=seed,
                max_new_tokens=sample_max_new_tokens,
                methods=picked,
            )
            extractors.append(ConsistencyExtractor(cconfig))
        else:  # a class registered elsewhere: built with its default config
            extractors.append(cls())
    return extractors
