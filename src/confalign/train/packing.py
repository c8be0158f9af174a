"""The training forward pass: sequences that share a prompt, run once, with gradients.

A loss compares several completions of one prompt (DCA: chosen and rejected; ADVICE: every
confidence level after a correct and after a wrong answer; ConfTuner: every level). They
share the prompt and often much of the completion too (``"Answer: C\\nProbability:"``; an
answer and its cue before each of ten levels). A ``TreeItem`` is laid out as ONE row: the
prompt, then the completions as a trie (every distinct prefix once), with a mask that lets a
token attend exactly to its ancestors and position ids equal to its depth, so every
completion token gets exactly the hidden state of its plain prompt + completion forward.
Log-probabilities are read only at completion tokens (each distinct (position, token) once):
the decoder runs over the row, the hidden states at read positions are gathered, and only
those go through the vocabulary projection (21% of SmolLM2-135M's FLOPs when run at every
position).

Written here rather than taken from TRL: TRL's DPOTrainer concatenates chosen and rejected as
two full rows and projects every position (docs/design.md "Measured facts": 3.7x the least work).
The ``hf`` backend's scorer shares only the prompt (``backends.packed.shared_row``); the
trie matters for ADVICE, whose ten levels would otherwise each recompute a 20-token answer.

Models whose attention layers use a sliding window cannot take a custom mask (it would
override the window): for them ``tree=False`` lays out one plain causal row per completion.

Memory: a micro-batch runs in forward passes of ``batch_tokens`` tokens, each item whole in
one pass. Every method's loss is a sum over its items (``Objective``), so ``ItemLoss`` can
backpropagate each pass's share of it before the next pass runs: one pass's activations
(about 1.3 MB per token for SmolLM2-135M in fp32) are alive at a time, not the whole
micro-batch's, and the gradient is the same (the gradient of a sum is the sum of the terms'
gradients; ``tests/train/test_accumulate.py``). ``MethodTrainer.training_step`` drives it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from confalign.backends.packed import (
    Layout,
    Row,
    TreeItem,
    fill_lines,
    has_sliding_window,
    item_batches,
    plain_rows,
    split_body_head,
    tree_row,
    trie_mask,
)

# Tokens per forward pass (lines x width): one pass's activations are alive at a time, so this
# bounds training's activation memory (module doc; TrainingSettings.batch_tokens's default).
BATCH_TOKENS = 512

Scores = list[torch.Tensor]  # per item, ``(n_completions, 2)``: summed log-prob, token count


@dataclass
class Plan:
    """A batch of items laid out for the scorer: the rows, their ancestor matrices (trie rows;
    empty for plain rows), each item's reads as ``(row, read indices)`` per completion, and
    the forward passes (lines of row numbers) with the items each holds whole."""

    rows: list[Row]
    tries: list[np.ndarray]
    members: list[list[tuple[int, np.ndarray]]]
    passes: list[list[list[int]]]
    owners: list[list[int]]


class PackedScorer:
    """Summed completion log-probabilities of ``TreeItem`` batches, differentiable.

    ``model`` is what the caller's autograd and distributed wrappers see (a peft model, or the
    ``DistributedDataParallel`` around it): the forward goes through it, so gradient hooks see
    a normal call, and returns the final hidden states (``output_hidden_states``; the logits
    are kept for one position only); the vocabulary projection then runs at the read
    positions alone. ``batch_tokens``: tokens per forward pass (lines x width).
    """

    def __init__(self, model: nn.Module, pad_id: int, *, batch_tokens: int = BATCH_TOKENS) -> None:
        base = _unwrap(model)
        config = base.config
        self.pad_id = pad_id
        self.batch_tokens = batch_tokens
        self.attn = getattr(config, "_attn_implementation", "eager") or "eager"
        self.tree = self.attn in ("sdpa", "eager") and not has_sliding_window(config)
        _, head = split_body_head(base)
        self.head = head  # None: logits post-processed (soft-capping); use the model's own

    def __call__(self, model: nn.Module, items: Sequence[TreeItem]) -> Scores:
        """Per item, a ``(n_completions, 2)`` tensor: summed log-probability (nats,
        differentiable) and token count of each completion."""
        plan = self.plan(items)
        out: Scores = [torch.empty(0)] * len(items)
        for k in range(len(plan.passes)):
            for i, s in zip(plan.owners[k], self.run(model, plan, k), strict=True):
                out[i] = s
        return out

    def plan(self, items: Sequence[TreeItem]) -> Plan:
        """The rows of ``items`` and their forward passes, every item whole in one pass."""
        rows: list[Row] = []
        tries: list[np.ndarray] = []
        members: list[list[tuple[int, np.ndarray]]] = []
        owner: list[int] = []  # the item of each row
        for n, item in enumerate(items):
            if self.tree:
                trie, idx = tree_row(item)
                members.append([(len(rows), m) for m in idx])
                rows.append(trie.row)
                tries.append(trie.ancestors)
                owner.append(n)
            else:
                new_rows, idx = plain_rows(item)
                members.append([(len(rows) + k, m) for k, m in enumerate(idx)])
                rows.extend(new_rows)
                owner.extend([n] * len(new_rows))
        if self.tree:
            passes = fill_lines([len(r) for r in rows], self.batch_tokens)
        else:
            sizes = [[len(rows[r]) for r, _ in m] for m in members]
            passes = item_batches(sizes, self.batch_tokens)
        owners = [list(dict.fromkeys(owner[r] for line in lines for r in line)) for lines in passes]
        return Plan(rows, tries, members, passes, owners)

    def run(self, model: nn.Module, plan: Plan, k: int) -> Scores:
        """The forward pass ``k`` of ``plan``: the scores of its items (``plan.owners[k]``)."""
        reads = self._token_logprobs(model, plan, plan.passes[k])
        out = []
        for i in plan.owners[k]:
            sums = torch.stack([reads[r][torch.from_numpy(m)].sum() for r, m in plan.members[i]])
            counts = torch.tensor([float(len(m)) for _, m in plan.members[i]], device=sums.device)
            out.append(torch.stack([sums, counts], dim=1))
        return out

    def _token_logprobs(
        self, model: nn.Module, plan: Plan, lines: list[list[int]]
    ) -> dict[int, torch.Tensor]:
        """Per row of ``lines``, the log-probabilities of its read targets, in read order."""
        device = next(model.parameters()).device
        rows = plan.rows
        layout = Layout(rows, lines, self.pad_id)
        inputs: dict = {"input_ids": torch.from_numpy(layout.ids).to(device)}
        order = [i for line in lines for i in line]
        if layout.custom:
            dtype = next(p for p in model.parameters()).dtype
            mask = trie_mask(layout, [plan.tries[i] for i in order], dtype=dtype)
            inputs["attention_mask"] = mask.to(device)
            inputs["position_ids"] = torch.from_numpy(layout.positions).to(device)
        flat = np.concatenate(
            [start + rows[i].read_pos for i, start in zip(order, layout.starts, strict=True)]
        )
        flat_t = torch.from_numpy(flat).to(device)
        if self.head is not None:
            out = model(**inputs, use_cache=False, output_hidden_states=True, logits_to_keep=1)
            hidden = out.hidden_states[-1]
            logits = self.head(hidden.reshape(-1, hidden.shape[-1])[flat_t])
        else:
            logits = model(**inputs, use_cache=False).logits
            logits = logits.reshape(-1, logits.shape[-1])[flat_t]
        targets = torch.from_numpy(np.concatenate([rows[i].read_tgt for i in order]))
        lp = torch.log_softmax(logits.float(), dim=-1)
        picked = lp.gather(1, targets.to(device)[:, None])[:, 0]
        result: dict[int, torch.Tensor] = {}
        offset = 0
        for i in order:
            n = len(rows[i].read_pos)
            result[i] = picked[offset : offset + n]
            offset += n
        return result


@dataclass(frozen=True)
class Objective:
    """A batch's loss as a sum over its items, which is what lets ``ItemLoss`` backpropagate
    each forward pass's share alone.

    ``items``: what the scorer scores. ``share(idx, scores)``: the summed loss terms of the
    items ``idx`` (indices into ``items``; ``scores`` theirs, in that order), with whatever
    the loss takes from the whole batch (its size, its token total) folded in as constants,
    so that the shares of any partition of the items add up to the batch's loss.
    ``metrics(scores)``: what to log, from every item's detached scores."""

    items: Sequence[TreeItem]
    share: Callable[[Sequence[int], Scores], torch.Tensor]
    metrics: Callable[[Scores], dict[str, float]]


class ItemLoss:
    """A method's ``LossFn`` (``train.core``) over packed items: ``objective(batch)`` says
    what to score and how the loss sums over the items. Called, it returns the loss of the
    batch with one autograd graph over every pass (and the metrics); ``passes(batch)`` runs
    the same passes one at a time for a caller that backpropagates each share at once."""

    def __init__(self, scorer: PackedScorer, objective: Callable[[dict], Objective]) -> None:
        self.scorer = scorer
        self.objective = objective

    def __call__(self, model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        passes = self.passes(batch)
        total = torch.stack([passes.share(model, k) for k in range(len(passes))]).sum()
        return total, passes.metrics()

    def passes(self, batch: dict) -> LossPasses:
        return LossPasses(self.scorer, self.objective(batch))


class LossPasses:
    """The forward passes of one batch's ``Objective``: ``share(model, k)`` runs pass ``k`` and
    returns its items' share of the loss (backpropagate it, then take the next);
    ``metrics()`` once every pass has run."""

    def __init__(self, scorer: PackedScorer, objective: Objective) -> None:
        self.scorer = scorer
        self.objective = objective
        self.plan = scorer.plan(objective.items)
        self.scores: Scores = [torch.empty(0)] * len(objective.items)

    def __len__(self) -> int:
        return len(self.plan.passes)

    def share(self, model: nn.Module, k: int) -> torch.Tensor:
        idx = self.plan.owners[k]
        scores = self.scorer.run(model, self.plan, k)
        for i, s in zip(idx, scores, strict=True):
            self.scores[i] = s.detach()
        return self.objective.share(idx, scores)

    def metrics(self) -> dict[str, float]:
        with torch.no_grad():
            return self.objective.metrics(self.scores)


def _unwrap(model: nn.Module) -> nn.Module:
    """The transformers model inside DDP / peft wrappers (for its config and head)."""
    while hasattr(model, "module"):
        model = model.module
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    return model
