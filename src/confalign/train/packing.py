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
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from confalign.backends.packed import (
    Layout,
    Row,
    TreeItem,
    fill_lines,
    has_sliding_window,
    make_batches,
    plain_rows,
    split_body_head,
    tree_row,
    trie_mask,
)


class PackedScorer:
    """Summed completion log-probabilities of ``TreeItem`` batches, differentiable.

    ``model`` is what the caller's autograd and distributed wrappers see (a peft model, or the
    ``DistributedDataParallel`` around it): the forward goes through it, so gradient hooks see
    a normal call, and returns the final hidden states (``output_hidden_states``; the logits
    are kept for one position only); the vocabulary projection then runs at the read
    positions alone. ``batch_tokens``: tokens per forward pass (lines x width).
    """

    def __init__(self, model: nn.Module, pad_id: int, *, batch_tokens: int = 4096) -> None:
        base = _unwrap(model)
        config = base.config
        self.pad_id = pad_id
        self.batch_tokens = batch_tokens
        self.attn = getattr(config, "_attn_implementation", "eager") or "eager"
        self.tree = self.attn in ("sdpa", "eager") and not has_sliding_window(config)
        _, head = split_body_head(base)
        self.head = head  # None: logits post-processed (soft-capping); use the model's own

    def __call__(self, model: nn.Module, items: Sequence[TreeItem]) -> list[torch.Tensor]:
        """Per item, a ``(n_completions, 2)`` tensor: summed log-probability (nats,
        differentiable) and token count of each completion."""
        rows: list[Row] = []
        tries: list[np.ndarray] = []
        members: list[list[tuple[int, np.ndarray]]] = []
        for item in items:
            if self.tree:
                trie, idx = tree_row(item)
                members.append([(len(rows), m) for m in idx])
                rows.append(trie.row)
                tries.append(trie.ancestors)
            else:
                new_rows, idx = plain_rows(item)
                members.append([(len(rows) + k, m) for k, m in enumerate(idx)])
                rows.extend(new_rows)
        reads = self._token_logprobs(model, rows, tries)
        out = []
        for item_members in members:
            sums = torch.stack([reads[r][torch.from_numpy(m)].sum() for r, m in item_members])
            counts = torch.tensor([float(len(m)) for _, m in item_members], device=sums.device)
            out.append(torch.stack([sums, counts], dim=1))
        return out

    def _token_logprobs(
        self, model: nn.Module, rows: Sequence[Row], tries: Sequence[np.ndarray]
    ) -> list[torch.Tensor]:
        """Per row, the log-probabilities of its read targets, in read order (``tries``: the
        rows' ancestor matrices; empty for plain rows)."""
        device = next(model.parameters()).device
        result: dict[int, torch.Tensor] = {}
        lengths = [len(r) for r in rows]
        passes = (
            fill_lines(lengths, self.batch_tokens)
            if self.tree
            else make_batches(lengths, self.batch_tokens, pack=False)
        )
        for lines in passes:
            layout = Layout(rows, lines, self.pad_id)
            inputs: dict = {"input_ids": torch.from_numpy(layout.ids).to(device)}
            order = [i for line in lines for i in line]
            if layout.custom:
                dtype = next(p for p in model.parameters()).dtype
                mask = trie_mask(
                    layout, [tries[i] for i in order], sdpa=self.attn == "sdpa", dtype=dtype
                )
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
            offset = 0
            for i in order:
                n = len(rows[i].read_pos)
                result[i] = picked[offset : offset + n]
                offset += n
        return [result[i] for i in range(len(rows))]


def _unwrap(model: nn.Module) -> nn.Module:
    """The transformers model inside DDP / peft wrappers (for its config and head)."""
    while hasattr(model, "module"):
        model = model.module
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    return model
