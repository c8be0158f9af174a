"""Preference training over packed pairs, shared by DCA and DPO alignment: each pair's
summed log-probabilities of chosen and rejected (one packed forward: the prompt once, then the
two completions; ``train.packing``), the reference's computed once before training (the
policy with its adapter disabled: no second model in memory), and the loss of a batch with
its logged reward margin and preference accuracy (``train.losses``)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from confalign.backends.packed import TreeItem
from confalign.train.losses import PREFERENCE_LOSSES, chosen_nll
from confalign.train.methods.base import TrainingRunError, option
from confalign.train.packing import ItemLoss, Objective, PackedScorer


@dataclass(frozen=True)
class PreferenceOptions:
    """The options every preference method has (DCA, DPO alignment)."""

    loss: str = option("sigmoid", "Preference loss: sigmoid (DPO), ipo or cal_dpo (Cal-DPO).")
    beta: float = option(0.1, "DPO/IPO/Cal-DPO beta.")
    sft_weight: float = option(
        0.0, "Weight of the chosen completions' NLL (TRL's 'sft'; 0: the plain loss)."
    )
    pairs_file: Path | None = option(None, "Train on these pairs (JSONL, TRL format).")

    def __post_init__(self) -> None:
        if self.loss not in PREFERENCE_LOSSES:
            known = ", ".join(PREFERENCE_LOSSES)
            raise TrainingRunError(f"loss: must be one of {known}, got {self.loss!r}")
        if not self.beta > 0:
            raise TrainingRunError(f"beta: must be > 0, got {self.beta}")
        if not self.sft_weight >= 0:
            raise TrainingRunError(f"sft-weight: must be >= 0, got {self.sft_weight}")
        if self.pairs_file is not None and not Path(self.pairs_file).is_file():
            raise TrainingRunError(f"pairs-file: {self.pairs_file} does not exist")


def pair_layout(policy: Any, pairs: Sequence[Any], options: Any) -> list[TreeItem]:
    """A method's ``layout``: each pair (``prompt``/``chosen``/``rejected`` text) tokenised as
    TRL does (``dca_data.tokenize_pair``)."""
    from confalign.train.dca_data import tokenize_pair

    return [
        tokenize_pair(
            policy.tokenizer, p.prompt, p.chosen, p.rejected, add_special_tokens=policy.special
        )
        for p in pairs
    ]


def prepare_reference(policy: Any, items: Sequence[TreeItem], options: Any) -> torch.Tensor:
    """A method's ``prepare``: the reference log-probabilities (the policy with its adapter
    disabled), once per pair."""
    return reference_logps(policy.model, policy.scorer, items)


def pair_logps(scorer: PackedScorer, model: nn.Module, items: Sequence[TreeItem]) -> torch.Tensor:
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
                pair_logps(scorer, policy, items[i : i + batch_size])[:, :, 0].double().cpu()
            )
    policy.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, 2, dtype=torch.float64)


def preference_records(items: Sequence[TreeItem], reference: torch.Tensor) -> list[dict[str, Any]]:
    """The training records: the tokenised pair and its reference log-probabilities."""
    return [{"item": it, "ref": reference[i]} for i, it in enumerate(items)]


def records(
    items: Sequence[TreeItem], pairs: Sequence[Any], reference: torch.Tensor, options: Any,
    settings: Any,
) -> tuple[list[dict[str, Any]], Any]:  # fmt: skip
    """A method's ``records``: ``preference_records``, the settings unchanged."""
    return preference_records(items, reference), settings


def preference_loss(
    scorer: PackedScorer, *, loss_type: str, beta: float, sft_weight: float = 0.0
) -> ItemLoss:
    """The method's ``LossFn``: mean preference loss over the batch (plus ``sft_weight`` times
    the chosen responses' NLL per token: TRL's ``loss_type=[loss, "sft"]``), with the mean
    reward margin (``(r_c - r_r)``, nats) and the share of pairs where it is positive. A sum
    over the pairs (``train.packing.Objective``): the mean's 1/n and the NLL's token total are
    the batch's."""
    if loss_type not in PREFERENCE_LOSSES:
        raise ValueError(
            f"unknown preference loss {loss_type!r}; known: {', '.join(PREFERENCE_LOSSES)}"
        )
    loss_of = PREFERENCE_LOSSES[loss_type]

    def objective(batch: dict[str, Any]) -> Objective:
        items, ref = batch["item"], batch["ref"]
        chosen_tokens = sum(len(it.completions[0]) for it in items)

        def share(idx: Sequence[int], scores: list[torch.Tensor]) -> torch.Tensor:
            s = torch.stack(scores)
            r = ref[list(idx)].to(s.device, s.dtype)
            per_pair = loss_of(
                s[:, 0, 0],
                s[:, 1, 0],
                r[:, 0],
                r[:, 1],
                beta=beta,
                chosen_len=s[:, 0, 1],
                rejected_len=s[:, 1, 1],
            )
            total = per_pair.sum() / len(items)
            if sft_weight:
                total = total + sft_weight * chosen_nll(s[:, 0, 0], s[:, 0, 1], chosen_tokens)
            return total

        def metrics(scores: list[torch.Tensor]) -> dict[str, float]:
            s = torch.stack(scores)
            r = ref.to(s.device, s.dtype)
            margin = (s[:, 0, 0] - r[:, 0]) - (s[:, 1, 0] - r[:, 1])
            return {
                "margin": float(margin.mean()),
                "accuracy": float((margin > 0).float().mean()),
            }

        return Objective(items, share, metrics)

    return ItemLoss(scorer, objective)


def options_loss(scorer: PackedScorer, options: PreferenceOptions) -> Any:
    """A method's ``loss``: ``preference_loss`` with the options' loss, beta and NLL weight."""
    return preference_loss(
        scorer, loss_type=options.loss, beta=options.beta, sft_weight=options.sft_weight
    )
