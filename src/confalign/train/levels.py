"""Confidence-level distributions as a training signal (ADVICE, ConfTuner), with gradients.

Both methods read the ``distribution`` mode's confidence: after ``"Answer: <a>\\n<cue>"``
every level of the format is scored as a continuation and the scores are renormalised over
the levels (``confidence.verbalized``). A ``LevelItem`` lays one question out for the packed
forward (``packing``): the rendered prompt up to ``"Answer:"`` as the trunk, and per answer
and level the branch ``" <a>\\n<cue> <level>"``, so the question is computed once for every
answer and level. A branch's log-probability is that of the answer and cue (the same for
every level of that answer, so it cancels when the levels are renormalised) plus that of the
level after them: exactly the ``distribution`` mode's scores of the prefilled prompt (the
tests check it against the ``hf`` backend). An optional first branch ``" <a>"`` gives the
language-modelling loss of the first answer.

Tokenisation is the ``hf`` backend's: the prompt less trailing spaces alone, each
continuation encoded jointly with it and split after the prompt's tokens (lm-eval's way).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from confalign.backends.packed import TreeItem
from confalign.confidence.formats import ConfidenceFormat
from confalign.confidence.prompts import ANSWER_PREFIX, prefill_text
from confalign.train.packing import Objective, PackedScorer

_TRAILING_SPACE = " \t"  # as the hf backend strips


@dataclass(frozen=True)
class OwnAnswer:
    """The model's greedy answer to one question in one format's prompt, and whether it is
    right (None: no answer could be read)."""

    example_id: str
    format: str
    answer: str
    correct: bool | None


@dataclass(frozen=True)
class LevelItem:
    """One question's packed layout: ``n_answers`` answers x ``values`` levels (answer-major),
    after an optional language-modelling branch (``lm``) for the first answer."""

    tree: TreeItem
    n_answers: int
    values: tuple[float, ...]
    lm: bool = False


def answer_continuations(answer: str, fmt: ConfidenceFormat) -> list[str]:
    """The branch texts of one answer: ``" <a>\\n<cue> <level>"`` for every level."""
    head = prefill_text(answer, fmt)[len(ANSWER_PREFIX) :]
    return [head + c for c in fmt.level_continuations]


def level_item(
    tokenizer: Any,
    prompt: str,
    answers: Sequence[str],
    fmt: ConfidenceFormat,
    *,
    special: bool,
    lm: bool = False,
) -> LevelItem:
    """The ``LevelItem`` of ``prompt`` (rendered, ending with ``"Answer:"``) and ``answers``.
    ``special``: add the tokenizer's special tokens to the prompt (models without a chat
    template, as the ``hf`` backend does)."""
    context = prompt.rstrip(_TRAILING_SPACE)
    space = prompt[len(context) :]
    ids = tokenizer(context, add_special_tokens=special)["input_ids"]
    texts = [f" {answers[0].strip()}"] if lm else []
    for answer in answers:
        texts += answer_continuations(answer, fmt)
    wholes = tokenizer([context + space + t for t in texts], add_special_tokens=special)
    completions = tuple(tuple(w[len(ids) :]) for w in wholes["input_ids"])
    return LevelItem(TreeItem(tuple(ids), completions), len(answers), fmt.values, lm)


def level_logprobs(
    scorer: PackedScorer, model: nn.Module, items: Sequence[LevelItem]
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """For a batch of items of one format: log P(level | answer), shape ``(n, n_answers,
    n_levels)``, normalised over the levels; and, when the items have an ``lm`` branch, the
    first answer's mean token negative log-likelihood, shape ``(n,)`` (else None)."""
    return level_grid(items, scorer(model, [it.tree for it in items]))


def level_grid(
    items: Sequence[LevelItem], sums: Sequence[torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``level_logprobs`` from the items' scores (``sums``: the scorer's, one per item)."""
    levels, nll = [], []
    for item, s in zip(items, sums, strict=True):
        start = 1 if item.lm else 0
        grid = s[start:, 0].reshape(item.n_answers, len(item.values))
        levels.append(torch.log_softmax(grid, dim=-1))
        if item.lm:
            nll.append(-s[0, 0] / s[0, 1])
    return torch.stack(levels), (torch.stack(nll) if nll else None)


def level_objective(
    items: Sequence[LevelItem],
    terms: Callable[[Sequence[int], torch.Tensor], torch.Tensor],
    lm_weight: float,
    metrics: Callable[[torch.Tensor], dict[str, float]],
) -> Objective:
    """A level method's loss as a sum over its items (``packing.Objective``): the mean over
    the batch of ``terms(idx, log_p)`` (per item, from the ``level_grid`` of the items
    ``idx``), plus ``lm_weight`` times the mean LM NLL of the items that have an LM branch;
    ``metrics(log_p)`` gets the whole batch's level log-probabilities."""
    with_lm = sum(it.lm for it in items)

    def share(idx: Sequence[int], scores: Sequence[torch.Tensor]) -> torch.Tensor:
        log_p, nll = level_grid([items[i] for i in idx], scores)
        total = terms(idx, log_p).sum() / len(items)
        if nll is not None and lm_weight:
            total = total + lm_weight * nll.sum() / with_lm
        return total

    return Objective(
        [it.tree for it in items], share, lambda scores: metrics(level_grid(items, scores)[0])
    )


def own_answers(
    ctx: Any, formats: Sequence[str]
) -> tuple[list[OwnAnswer], dict[tuple[str, str], str]]:
    """The untrained model's ``distribution``-mode answers on the training split in each of
    ``formats`` (``ctx``: a method's ``DataContext``) and the rendered prompts up to
    ``"Answer:"`` per (example id, format): what the level-based methods build on."""
    from confalign.confidence.formats import get_format
    from confalign.confidence.prompts import verbalized_prompt

    prompts = {
        (ex.id, f): ctx.render(verbalized_prompt(ex, get_format(f), ANSWER_PREFIX))
        for ex in ctx.examples
        for f in formats
    }
    own = [
        OwnAnswer(r.example_id, f, r.prediction, r.correct)
        for f in formats
        for r in ctx.answers(f, "distribution")
    ]
    return own, prompts
