"""The confidence prediction as a differentiable function of the prompt's tokens (``hf`` only).

The ``distribution`` mode scores each level as ``" " + level`` after the cue. When every level
is the same number of tokens and the levels differ only in their last one (``score_letter``:
``" A"``..``" E"``, one token each; ``score_number`` on SmolLM2: ``" "`` then a digit), the
renormalised level distribution is the softmax of the last tokens' logits after the prompt
plus the shared leading tokens (their probability cancels in the renormalisation). That
position is the *confidence position*; rollout and integrated gradients start there. Other
formats (``score_text``, the percent and float grids) have no single such position and are
refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from confalign.backends.base import Backend
from confalign.confidence.formats import ConfidenceFormat
from confalign.confidence.prompts import prefill_prompt
from confalign.data.example import QAExample


@dataclass(frozen=True)
class LevelTarget:
    """``prefix_ids``: tokens every level starts with (fed after the prompt); ``level_ids``:
    each level's last token, in the format's order; ``values``: each level's Cv."""

    prefix_ids: tuple[int, ...]
    level_ids: tuple[int, ...]
    values: tuple[float, ...]


@dataclass(frozen=True)
class TokenPrompt:
    """A prefill prompt as the model sees it: ``ids`` (prompt, then the level prefix) and each
    token's character ``offsets`` in ``text`` (the level prefix gets empty offsets at the end)."""

    ids: tuple[int, ...]
    offsets: tuple[tuple[int, int], ...]
    text: str


def hf_parts(backend: Backend) -> tuple[Any, Any]:
    """``(model, tokenizer)`` of an ``hf`` backend; other backends expose no weights."""
    model, tokenizer = getattr(backend, "model", None), getattr(backend, "tokenizer", None)
    if backend.name != "hf" or model is None or tokenizer is None:
        raise ValueError(
            f"attention rollout and integrated gradients need the hf backend's weights; "
            f"backend {backend.name!r} has none (use --backend hf)"
        )
    return model, tokenizer


def level_target(backend: Backend, fmt: ConfidenceFormat) -> LevelTarget:
    """The confidence position's target for ``fmt`` (module doc); ``ValueError`` if none."""
    hf_parts(backend)
    encoded = backend.encode(list(fmt.level_continuations))  # type: ignore[attr-defined]
    lengths = {len(ids) for ids in encoded}
    prefixes = {tuple(ids[:-1]) for ids in encoded}
    last = [ids[-1] for ids in encoded]
    if len(lengths) != 1 or len(prefixes) != 1 or len(set(last)) != len(last):
        raise ValueError(
            f"format {fmt.name!r}: its levels do not differ in one last token on this "
            "tokenizer, so no single confidence position exists; use score_letter or "
            "score_number for rollout and integrated gradients"
        )
    return LevelTarget(prefixes.pop(), tuple(last), fmt.values)


def token_prompt(
    backend: Backend, example: QAExample, fmt: ConfidenceFormat, answer: str, target: LevelTarget
) -> TokenPrompt:
    """The token ids the ``hf`` backend scores for this prefill prompt, with offsets; checks
    that the offset tokenisation gives exactly the backend's ids."""
    _, tokenizer = hf_parts(backend)
    text = backend.render(prefill_prompt(example, fmt, answer))
    ids, space = backend.encode_prompt(text)  # type: ignore[attr-defined]
    context = text[: len(text) - len(space)]
    enc = tokenizer(
        context,
        add_special_tokens=not backend.chat,
        return_offsets_mapping=True,  # type: ignore[attr-defined]
    )
    if list(enc["input_ids"]) != list(ids):
        raise ValueError(f"example {example.id!r}: offset tokenisation differs from the backend's")
    if space:
        raise ValueError(f"example {example.id!r}: a prefill prompt must not end with a space")
    end = len(context)
    offsets = [tuple(o) for o in enc["offset_mapping"]] + [(end, end)] * len(target.prefix_ids)
    return TokenPrompt(tuple(ids) + target.prefix_ids, tuple(offsets), context)  # type: ignore[arg-type]


def expected_confidence(model: Any, ids: torch.Tensor, target: LevelTarget) -> torch.Tensor:
    """Cv = sum P(level) * value at the last position of each row of ``ids`` (batch, seq);
    returns shape (batch,), float32, differentiable."""
    logits = model(input_ids=ids, logits_to_keep=1).logits[:, -1, :]
    levels = torch.as_tensor(target.level_ids, device=logits.device)
    p = torch.softmax(logits[:, levels].float(), dim=-1)
    values = torch.as_tensor(target.values, dtype=p.dtype, device=p.device)
    return p @ values
