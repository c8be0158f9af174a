"""DCA (Direct Confidence Alignment) as a training method: DPO/IPO on ``dca_data``'s pairs.

Data: the untrained model's verbalized ``probability`` responses on the training split become
pairs (chosen: the value replaced by round(100 * Ci)%; ``dca_data``), or ``--pairs-file``'s.
Preparation: the reference log-probabilities, the same model's with the adapter disabled,
computed once per pair and carried in the records, so no epoch runs the reference again.
Each training step runs one packed forward per pair (``train.packing``): the prompt and the
common start of chosen and rejected once, then their differing tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from confalign.backends.packed import TreeItem
from confalign.train.dca_data import (
    PAIR_FORMAT,
    DCAPair,
    PairSource,
    build_pairs,
    read_pairs,
    tokenize_pair,
)
from confalign.train.losses import PREFERENCE_LOSSES
from confalign.train.methods.base import (
    DataContext,
    Policy,
    TrainingMethod,
    TrainingRunError,
    option,
)
from confalign.train.preference import preference_loss, preference_records, reference_logps

MODES = ("free", "prefill", "distribution")


@dataclass(frozen=True)
class DCAOptions:
    """DCA's own settings (module docstring)."""

    mode: Literal["free", "prefill"] = option(
        "prefill", "Response elicitation: free (the paper) or prefill (small models)."
    )
    loss: Literal["ipo", "sigmoid", "cal_dpo"] = option(
        "ipo", "Preference loss: ipo, sigmoid (DPO) or cal_dpo."
    )
    beta: float = option(0.1, "DPO/IPO beta.")
    sft_weight: float = option(
        0.0, "Weight of the chosen responses' NLL (TRL's 'sft'; 0: the paper's plain loss)."
    )
    eval_modes: tuple[str, ...] = option(
        ("prefill", "distribution"), "Verbalized modes of the before/after evaluation."
    )
    pairs_file: Path | None = option(None, "Train on these pairs (JSONL, TRL format).")

    def __post_init__(self) -> None:
        if self.mode not in ("free", "prefill"):
            raise TrainingRunError(f"mode: must be free or prefill, got {self.mode!r}")
        if self.loss not in PREFERENCE_LOSSES:
            known = ", ".join(PREFERENCE_LOSSES)
            raise TrainingRunError(f"loss: must be one of {known}, got {self.loss!r}")
        if not self.beta > 0:
            raise TrainingRunError(f"beta: must be > 0, got {self.beta}")
        if not self.sft_weight >= 0:
            raise TrainingRunError(f"sft-weight: must be >= 0, got {self.sft_weight}")
        for m in self.eval_modes:
            if m not in MODES:
                known = ", ".join(MODES)
                raise TrainingRunError(f"eval-modes: unknown mode {m!r} (known: {known})")
        if self.pairs_file is not None and not Path(self.pairs_file).is_file():
            raise TrainingRunError(f"pairs-file: {self.pairs_file} does not exist")


def build(ctx: DataContext, options: DCAOptions) -> tuple[list[DCAPair], Any]:
    """The pairs (``--pairs-file``'s, or from the untrained model's responses) and counts."""
    from collections import Counter

    from confalign.backends.base import Prompt
    from confalign.confidence.formats import get_format
    from confalign.confidence.prompts import verbalized_user

    if options.pairs_file is not None:
        pairs = read_pairs(options.pairs_file)
        return pairs, Counter(kept=len(pairs), from_file=1)
    fmt = get_format(PAIR_FORMAT)
    prompts = {ex.id: ctx.render(Prompt(user=verbalized_user(ex, fmt))) for ex in ctx.examples}
    fields = ("example_id", "mode", "prediction", "correct", "confidence", "raw_text")
    sources = [
        PairSource(*(getattr(r, f) for f in fields), r.parse_failed, r.extra)
        for r in ctx.answers(PAIR_FORMAT, options.mode)
    ]
    return build_pairs(sources, prompts)


def layout(policy: Policy, pairs: Sequence[DCAPair], options: DCAOptions) -> list[TreeItem]:
    """Each pair tokenised as TRL does (``dca_data.tokenize_pair``)."""
    return [
        tokenize_pair(
            policy.tokenizer, p.prompt, p.chosen, p.rejected, add_special_tokens=policy.special
        )
        for p in pairs
    ]


def prepare(policy: Policy, items: Sequence[TreeItem], options: DCAOptions) -> torch.Tensor:
    """The reference log-probabilities (the policy with its adapter disabled), once per pair."""
    return reference_logps(policy.model, policy.scorer, items)


def records(
    items: Sequence[TreeItem], pairs: Sequence[DCAPair], reference: torch.Tensor,
    options: DCAOptions, settings: Any,
) -> tuple[list[dict[str, Any]], Any]:  # fmt: skip
    """The Trainer's records: each pair's layout and its reference log-probabilities."""
    return preference_records(items, reference), settings


def describe(options: DCAOptions) -> str:
    """The card's paragraph."""
    return (
        f"Direct Confidence Alignment (preference training, loss `{options.loss}`, beta "
        f"{options.beta}, chosen-NLL weight {options.sft_weight}) teaches the model to *say* "
        "the confidence it *has*: preference pairs whose chosen response carries its verbalized "
        "`Probability: X%` replaced by round(100 * Ci)%, Ci being the model's internal "
        f"probability of the answer it gave (responses elicited in `{options.mode}` mode)."
    )


METHOD = TrainingMethod(
    name="dca",
    summary="Direct Confidence Alignment: pairs whose chosen response says the model's internal "
    "confidence, DPO/IPO + LoRA.",
    options=DCAOptions,
    record=DCAPair,
    answers=lambda o: ((PAIR_FORMAT,), (o.mode,)),
    build=build,
    layout=layout,
    prepare=prepare,
    records=records,
    loss=lambda scorer, o: preference_loss(
        scorer, loss_type=o.loss, beta=o.beta, sft_weight=o.sft_weight
    ),
    describe=describe,
    evaluation="alignment",
)
