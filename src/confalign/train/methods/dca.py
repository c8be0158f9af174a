"""DCA (Direct Confidence Alignment) as a training method: DPO/IPO on ``dca_data``'s pairs.

Data: the untrained model's verbalized ``probability`` responses on the training split become
pairs (chosen: the value replaced by round(100 * Ci)%; ``dca_data``), or ``--pairs-file``'s.
Preparation: the reference log-probabilities, the same model's with the adapter disabled,
computed once per pair and carried in the records, so no epoch runs the reference again.
Each training step runs one packed forward per pair (``train.packing``): the prompt and the
common start of chosen and rejected once, then their differing tokens.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from confalign.backends.packed import TreeItem
from confalign.train.dca_data import (
    PAIR_FORMAT,
    DCAPair,
    PairSource,
    build_pairs,
    read_pairs,
    tokenize_pair,
)
from confalign.train.losses import PREFERENCE_LOSSES, chosen_nll
from confalign.train.methods.base import (
    DataContext,
    Policy,
    TrainingMethod,
    TrainingRunError,
    option,
)
from confalign.train.packing import PackedScorer

MODES = ("free", "prefill", "distribution")


@dataclass(frozen=True)
class DCAOptions:
    """DCA's own settings (module docstring)."""

    mode: Literal["free", "prefill"] = option(
        "prefill", "Response elicitation: free (the paper) or prefill (small models)."
    )
    loss: Literal["ipo", "sigmoid"] = option("ipo", "Preference loss: ipo or sigmoid (DPO).")
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
            raise TrainingRunError(f"loss: must be ipo or sigmoid, got {self.loss!r}")
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


def _pair_logps(scorer: PackedScorer, model: nn.Module, items: Sequence[TreeItem]) -> torch.Tensor:
    """(n, 2, 2): per pair, (chosen, rejected) x (summed log-prob, completion tokens)."""
    return torch.stack(scorer(model, items))


@torch.no_grad()
def reference_logps(
    policy: nn.Module, scorer: PackedScorer, items: Sequence[TreeItem], *, batch_size: int = 8
) -> torch.Tensor:
    """(n, 2) summed log-probabilities of chosen and rejected under the policy with its adapter
    disabled (the base model), float64 on the CPU."""
    was_training = policy.training
    policy.eval()
    disabled = policy.disable_adapter() if hasattr(policy, "disable_adapter") else None
    out = []
    with disabled if disabled is not None else contextlib.nullcontext():
        for i in range(0, len(items), batch_size):
            out.append(
                _pair_logps(scorer, policy, items[i : i + batch_size])[:, :, 0].double().cpu()
            )
    policy.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, 2, dtype=torch.float64)


def dca_records(items: Sequence[TreeItem], reference: torch.Tensor) -> list[dict[str, Any]]:
    """The training records: the tokenised pair and its reference log-probabilities."""
    return [{"item": it, "ref": reference[i]} for i, it in enumerate(items)]


def records(
    items: Sequence[TreeItem], pairs: Sequence[DCAPair], reference: torch.Tensor,
    options: DCAOptions, settings: Any,
) -> tuple[list[dict[str, Any]], Any]:  # fmt: skip
    """The Trainer's records: each pair's layout and its reference log-probabilities."""
    return dca_records(items, reference), settings


def dca_loss(scorer: PackedScorer, *, loss_type: str, beta: float, sft_weight: float = 0.0) -> Any:
    """The method's ``LossFn``: mean preference loss over the batch (plus ``sft_weight`` times
    the chosen responses' NLL per token: TRL's ``loss_type=[loss, "sft"]``), with the mean
    reward margin (``(r_c - r_r)``, nats) and the share of pairs where it is positive."""
    if loss_type not in PREFERENCE_LOSSES:
        raise ValueError(f"unknown DCA loss {loss_type!r}; known: {', '.join(PREFERENCE_LOSSES)}")
    loss_of = PREFERENCE_LOSSES[loss_type]

    def loss(model: nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        s = _pair_logps(scorer, model, batch["item"])
        ref = batch["ref"].to(s.device, s.dtype)
        per_pair = loss_of(
            s[:, 0, 0],
            s[:, 1, 0],
            ref[:, 0],
            ref[:, 1],
            beta=beta,
            chosen_len=s[:, 0, 1],
            rejected_len=s[:, 1, 1],
        )
        margin = ((s[:, 0, 0] - ref[:, 0]) - (s[:, 1, 0] - ref[:, 1])).detach()
        total = per_pair.mean()
        if sft_weight:
            total = total + sft_weight * chosen_nll(s[:, 0, 0], s[:, 0, 1])
        return total, {
            "margin": float(margin.mean()),
            "accuracy": float((margin > 0).float().mean()),
        }

    return loss


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
    loss=lambda scorer, o: dca_loss(scorer, loss_type=o.loss, beta=o.beta, sft_weight=o.sft_weight),
    describe=describe,
    evaluation="alignment",
)
