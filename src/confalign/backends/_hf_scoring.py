"""Fast continuation and candidate scoring for the ``hf`` backend.

How a request becomes computation (one *row* of tokens per request):

Prompt sharing ("tree packing"). A request with prompt ``p`` (P tokens) and continuations
``c_1..c_K`` is laid out as ONE sequence ``p c_1 c_2 ... c_K`` and run in one forward pass
with a custom attention mask and custom position ids:

- prompt tokens attend causally to the prompt, as usual;
- a token of ``c_k`` attends to the whole prompt and to the tokens of ``c_k`` up to itself,
  never to another continuation (the mask is ``j <= i and (branch[j] == 0 or branch[j] ==
  branch[i])``, with branch 0 the prompt and k the k-th continuation);
- position ids restart at P for every continuation, so ``c_k`` sees exactly the positions it
  would have after ``p`` alone.

Each continuation token therefore gets the same hidden states as in the plain
prompt+continuation forward pass, while the prompt is computed once instead of K times. The
log-probability of ``c_k[0]`` is read at the last prompt token, that of ``c_k[j]`` at
``c_k[j-1]``, so a continuation's last token is never fed (nothing is read after it).
Candidate mass is read at the end of the prompt.

Only those read positions go through the vocabulary projection (``lm_head``, 28M of the
135M parameters of SmolLM2): the decoder returns hidden states, the needed ones are gathered
and projected, and log_softmax runs in float32.

Rows are sorted by length (longest first) and grouped into batches of at most
``batch_tokens`` tokens; the longest row of a batch sets its width. The room that padding
would take at the end of each line is filled with the shortest rows still waiting (packing),
each row isolated from the others by the same mask (same-row condition) and keeping its own
position ids. What padding remains sits at the end of a line: under a plain causal mask real
tokens never see it; in a custom mask a pad attends only to itself, which keeps its hidden
state finite (an all-masked row would give NaN, and 0 * NaN would poison the real rows).

Prefix sharing across requests. Requests of one call often begin alike (the chat template's
system turn, an instruction). The longest token prefix common to all rows (stopping before any
read position) is run once with a key-value cache; every batch then starts from that cache
(expanded to the batch, not copied) and only the rows' remaining tokens go through the model,
with position ids continuing after the prefix and the prefix columns of the mask open to all.

``share_prompt=False`` gives the reference layout (one row per prompt+continuation, plain
causal attention); it is also used when the attention implementation cannot take a custom
4D mask (flash attention).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from confalign.backends.packed import (
    Layout,
    Row,
    RowResult,
    common_prefix,
    has_sliding_window,
    make_batches,
    split_body_head,
    tree_mask,
)

# Positions projected to the vocabulary at once (a (chunk, vocab) float32 block).
_HEAD_CHUNK = 1024
# A shared prefix shorter than this is not worth a separate forward pass.
_MIN_PREFIX = 8


class Scorer:
    """Runs rows through a causal LM and reads log-probabilities (see module doc)."""

    def __init__(self, model: nn.Module, pad_id: int) -> None:
        self.model = model
        self.pad_id = pad_id
        self.device = next(model.parameters()).device
        self.attn = getattr(model.config, "_attn_implementation", "eager") or "eager"
        self.body, self.head = split_body_head(model)
        self.cache_arg = cache_argument(model)

    @property
    def supports_tree_mask(self) -> bool:
        """Custom 4D masks work with sdpa and eager attention (not flash attention), and only
        where every layer attends to the whole past (a custom mask overrides the sliding
        window of local-attention layers)."""
        return self.attn in ("sdpa", "eager") and not has_sliding_window(self.model.config)

    @torch.inference_mode()
    def run(self, rows: Sequence[Row], batch_tokens: int, *, pack: bool) -> list[RowResult]:
        """One ``RowResult`` per row, in order. ``pack``: several rows may share a line and a
        common prefix is computed once (needs ``supports_tree_mask``); without it each row is
        alone in its line and plain rows need no mask."""
        skip = common_prefix(rows) if pack and len(rows) > 1 else 0
        skip = skip if skip >= _MIN_PREFIX else 0
        prefix = self._prefix_cache(rows[0].tokens[:skip]) if skip else None
        results: dict[int, RowResult] = {}
        lengths = [len(r) - skip for r in rows]
        for lines in make_batches(lengths, batch_tokens, pack=pack):
            results.update(self._run_batch(rows, lines, skip, prefix))
        return [results[i] for i in range(len(rows))]

    def _prefix_cache(self, tokens: np.ndarray) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per layer (keys, values) of the shared prefix, batch size 1."""
        ids = torch.from_numpy(tokens)[None].to(self.device)
        out = self.model(input_ids=ids, use_cache=True, logits_to_keep=1)
        cache = out.cache if self.cache_arg == "cache" else out.past_key_values
        return [(layer.keys, layer.values) for layer in cache.layers]

    def _run_batch(
        self,
        rows: Sequence[Row],
        lines: list[list[int]],
        skip: int,
        prefix: list[tuple[torch.Tensor, torch.Tensor]] | None,
    ) -> dict[int, RowResult]:
        layout = Layout(rows, lines, self.pad_id, skip)
        inputs: dict = {"input_ids": torch.from_numpy(layout.ids).to(self.device)}
        if layout.custom:
            inputs["attention_mask"] = self._mask(layout, skip)
            inputs["position_ids"] = torch.from_numpy(layout.positions).to(self.device)
        if prefix is not None:
            from transformers import DynamicCache

            n = len(lines)
            kv = [(k.expand(n, -1, -1, -1), v.expand(n, -1, -1, -1)) for k, v in prefix]
            inputs[self.cache_arg] = DynamicCache(ddp_cache_data=kv)
        # Flat (line * width + column) index of every read: token reads, then candidates.
        order = [i for line in lines for i in line]
        placed = list(zip(order, layout.starts, strict=True))
        tok_idx = np.concatenate([start + rows[i].read_pos for i, start in placed])
        cand_rows = [(i, start) for i, start in placed if rows[i].cand_pos >= 0]
        cand_idx = np.asarray([start + rows[i].cand_pos for i, start in cand_rows], np.int64)
        flat = torch.from_numpy(np.concatenate([tok_idx, cand_idx])).to(self.device)
        logprobs = self._logprobs_at(inputs, flat)  # (n_reads, vocab) float32
        targets = torch.from_numpy(np.concatenate([rows[i].read_tgt for i in order]))
        picked = logprobs[: len(tok_idx)].gather(1, targets[:, None].to(self.device))
        tok_lp = picked[:, 0].double().cpu().numpy()
        cand_lp = candidate_mass(logprobs[len(tok_idx) :], [rows[i].cand_ids for i, _ in cand_rows])
        cand_of = dict(zip([i for i, _ in cand_rows], cand_lp, strict=True))
        out, offset = {}, 0
        for i in order:
            n_reads = len(rows[i].read_pos)
            out[i] = RowResult(tok_lp[offset : offset + n_reads], cand_of.get(i, np.zeros(0)))
            offset += n_reads
        return out

    def _logprobs_at(self, inputs: dict, flat: torch.Tensor) -> torch.Tensor:
        """float32 log-probabilities of the next token at flat positions ``flat``."""
        return self.forward_at(inputs, flat)[0]

    def forward_at(
        self, inputs: dict, flat: torch.Tensor, *, keep_cache: bool = False
    ) -> tuple[torch.Tensor, Any]:
        """float32 log-probabilities of the next token at flat positions ``flat`` (line *
        width + column of ``inputs["input_ids"]``), and the key-value cache after the pass
        when ``keep_cache`` (else None)."""
        use_cache = keep_cache or self.cache_arg in inputs  # a cache is read/kept only so
        if self.body is None:  # logit post-processing: the model's own forward
            out, logits = self._full_forward_logits(inputs, flat, use_cache)
        else:
            out = self.body(**inputs, use_cache=use_cache)
            hidden = out.last_hidden_state
            picked = hidden.reshape(-1, hidden.shape[-1])[flat]
            chunks = [
                self.head(picked[i : i + _HEAD_CHUNK]) for i in range(0, len(flat), _HEAD_CHUNK)
            ]
            logits = torch.cat(chunks) if chunks else picked.new_zeros(0, self.head.out_features)
        cache = None
        if keep_cache:
            cache = out.cache if self.cache_arg == "cache" else out.past_key_values
        return torch.log_softmax(logits.float(), dim=-1), cache

    def _full_forward_logits(
        self, inputs: dict, flat: torch.Tensor, use_cache: bool
    ) -> tuple[Any, torch.Tensor]:
        """The model's own forward and its logits, kept only at the union of the needed
        columns (``logits_to_keep`` takes one index set for all lines)."""
        width = inputs["input_ids"].shape[1]
        line, column = flat // width, flat % width
        keep, where = torch.unique(column, return_inverse=True)
        out = self.model(**inputs, use_cache=use_cache, logits_to_keep=keep)
        return out, out.logits[line, where]

    def _mask(self, layout: Layout, skip: int) -> torch.Tensor:
        dtype = next(self.model.parameters()).dtype
        return tree_mask(layout, skip, sdpa=self.attn == "sdpa", dtype=dtype, device=self.device)


def candidate_mass(logprobs: torch.Tensor, cand_ids: Sequence[Sequence[Sequence[int]]]) -> list:
    """log sum over each candidate's token ids of the next-token probability, per row."""
    if not cand_ids:
        return []
    n_forms = max((len(forms) for cands in cand_ids for forms in cands), default=1)
    index = torch.zeros(len(cand_ids), max(len(c) for c in cand_ids), n_forms, dtype=torch.long)
    valid = torch.zeros(index.shape, dtype=torch.bool)
    for b, cands in enumerate(cand_ids):
        for c, forms in enumerate(cands):
            index[b, c, : len(forms)] = torch.tensor(list(forms))
            valid[b, c, : len(forms)] = True
    index, valid = index.to(logprobs.device), valid.to(logprobs.device)
    picked = logprobs.gather(1, index.reshape(len(cand_ids), -1)).reshape(index.shape)
    mass = torch.logsumexp(picked.masked_fill(~valid, -torch.inf), dim=-1).double().cpu().numpy()
    return [mass[b, : len(cands)] for b, cands in enumerate(cand_ids)]


def cache_argument(model: nn.Module) -> str:
    """The forward argument that takes a key-value cache: transformers 5.24 renamed
    ``past_key_values`` to ``cache`` (the old name still works but warns on every call)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"
