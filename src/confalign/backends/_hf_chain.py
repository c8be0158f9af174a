"""``Backend.chain`` on one key-value cache for the ``hf`` backend (the ``"chain"`` capability).

A ``ChainRequest`` reads one prompt as it grows: candidates at its end, text written after them
(chosen from the candidates), then continuations scored and a greedy generation after the grown
prompt. Composed of ``score`` and ``generate`` calls (the protocol's default) the prompt goes
through the model three times: for the candidates, in ``generate`` and in ``score``. Here it
goes through once.

Steps. A batch holds the rows of requests of similar length; each forward pass (a *step*)
gives every row a *piece*: a chain of tokens continuing the row (kept in the key-value cache),
optionally followed by a trie of branches hanging off the chain's last token (read, then dropped
from the cache). The steps of one request:

1. its prompt as a chain; the candidates are read at its last token (requests with candidates);
2. the grown prompt's tokens after those the cache already holds (usually only the written
   text, ``" C\\nProbability:"``), and the continuations as a trie over their tokens
   (``packed.tree_row``: every distinct token prefix fed once; a continuation's last token is
   read, never fed); the continuations' log-probabilities and the generation's first token
   are read in this same pass;
3. greedy decoding from the cache of the grown prompt (the trie dropped), one token a step.

Layout. Every row's chain ends at the same column: a step's block is ``S + T`` columns wide
(``S`` the longest chain, ``T`` the largest trie), a row's chain right-aligned in the first
``S`` columns, its trie after them. The attention mask (4D, as in ``packed``) lets a token see
the row's valid cache columns and, within the block, its ancestors (the chain before it; for a
trie node, the chain and the node's own ancestors); pads see only themselves. Position ids
continue each row's own numbering, so padding and gaps change nothing. After a step the cache
keeps the ``S`` chain columns and drops the trie's. Where the grown prompt's tokens differ from
the cached ones before the written text (a tokeniser merging across it), the differing cache
columns are masked out and those tokens fed again.

Exactness. A token's hidden state depends only on the tokens it attends to and their
positions, which are those of the ``score`` and ``generate`` layouts: the results are equal up
to the float rounding of other batch shapes. Tokenisation is the backend's (``encode_prompt``,
``split_encode``, ``context_candidate_ids``; a trailing space of the first prompt becomes part
of its chain, as ``score`` reads candidates after it). Decoding stops as ``generate`` does (EOS,
a stop string in the decoded text, ``max_new_tokens``) and ``Generator.finish`` cuts the text.
A request whose grown prompt ends in spaces (which ``score`` moves into the continuations but
``generate`` keeps in the prompt), or has a continuation of no tokens, gets its steps 2-3 from
the composed default instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from confalign.backends._hf_generate import Generator
from confalign.backends._hf_scoring import Scorer, candidate_mass
from confalign.backends.base import Backend, ChainRequest, ChainResult, Generation, Prompt
from confalign.backends.packed import (
    TreeItem,
    attention_mask,
    common_length,
    make_batches,
    tree_row,
)

if TYPE_CHECKING:
    from confalign.backends.hf import HFBackend


@dataclass
class Piece:
    """What one row adds in one step: ``tokens`` (a chain of ``n_chain`` tokens continuing the
    row at position ``start``, then trie nodes), ``ancestors[q, k]`` (token q attends to token
    k of the piece), ``depth`` (position of each token less ``start``), ``reads`` (sorted
    indices of the tokens whose next-token distributions are read)."""

    tokens: np.ndarray
    n_chain: int
    start: int
    ancestors: np.ndarray
    depth: np.ndarray
    reads: np.ndarray

    @property
    def last(self) -> int:
        """Index in ``reads`` of the chain's last token."""
        return int(np.searchsorted(self.reads, self.n_chain - 1))


def chain_piece(tokens: Sequence[int], start: int) -> Piece:
    """A chain alone, read at its last token."""
    n = len(tokens)
    return Piece(
        np.asarray(tokens, dtype=np.int64),
        n,
        start,
        np.tril(np.ones((n, n), dtype=bool)),
        np.arange(n, dtype=np.int64),
        np.asarray([n - 1], dtype=np.int64),
    )


@dataclass
class TriePiece:
    """A chain and its continuations' trie; ``where[j]``/``targets[j]``: the read index and the
    token of the trie's j-th distinct read; ``members[k]``: continuation k's reads, in order."""

    piece: Piece
    where: np.ndarray
    targets: np.ndarray
    members: list[np.ndarray]


def trie_piece(tokens: Sequence[int], start: int, branches: Sequence[Sequence[int]]) -> TriePiece:
    """A chain and, hanging off its last token, the trie of ``branches`` (``packed.tree_row``);
    the chain's last token is read whether or not a branch reads it (the generation's first
    token)."""
    trie, members = tree_row(TreeItem(tuple(tokens), tuple(tuple(b) for b in branches)))
    row = trie.row
    reads = np.unique(np.append(row.read_pos, len(tokens) - 1))
    piece = Piece(row.tokens, len(tokens), start, trie.ancestors, row.positions, reads)
    return TriePiece(piece, np.searchsorted(reads, row.read_pos), row.read_tgt, members)


@dataclass
class Rows:
    """A batch's key-value cache (None before the first step) and the position id of each
    row's cache columns (-1: never attended)."""

    n: int
    cache: Any = None
    pos: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.pos = np.zeros((self.n, 0), dtype=np.int64)

    def keep(self, rows: Sequence[int]) -> None:
        """Keep only ``rows`` (in this order)."""
        if list(rows) == list(range(self.n)):
            return
        self.n, self.pos = len(rows), self.pos[list(rows)]
        if self.cache is not None:
            index = torch.as_tensor(list(rows), dtype=torch.long)
            index = index.to(self.cache.layers[0].keys.device)
            self.cache = _cache(
                [(layer.keys[index], layer.values[index]) for layer in self.cache.layers]
            )


def _cache(kv: list[tuple[torch.Tensor, torch.Tensor]]) -> Any:
    from transformers import DynamicCache

    return DynamicCache(ddp_cache_data=kv)


class Chainer:
    """Runs ``ChainRequest``s for an ``HFBackend`` (module doc)."""

    def __init__(self, scorer: Scorer, generator: Generator, pad_id: int) -> None:
        self.scorer, self.generator, self.pad_id = scorer, generator, pad_id
        self.sdpa = scorer.attn == "sdpa"

    # -- one forward pass -----------------------------------------------------------------

    @torch.inference_mode()
    def step(self, rows: Rows, pieces: Sequence[Piece]) -> list[torch.Tensor]:
        """Give every row its piece (module doc, "Layout"); returns per piece the float32
        log-probabilities at its reads, shape ``(len(reads), vocab)``."""
        s = max(p.n_chain for p in pieces)
        width = s + max(len(p.tokens) - p.n_chain for p in pieces)
        past = rows.pos.shape[1]
        ids = np.full((rows.n, width), self.pad_id, dtype=np.int64)
        positions = np.zeros((rows.n, width), dtype=np.int64)
        allowed = np.zeros((rows.n, width, past + width), dtype=bool)
        allowed[:, np.arange(width), past + np.arange(width)] = True  # a pad sees itself
        chain_pos = np.full((rows.n, s), -1, dtype=np.int64)
        flat = []
        for b, p in enumerate(pieces):
            col, n = s - p.n_chain, len(p.tokens)
            ids[b, col : col + n] = p.tokens
            positions[b, col : col + n] = p.start + p.depth
            rows.pos[b, rows.pos[b] >= p.start] = -1  # stale: fed again
            allowed[b, col : col + n, :past] = rows.pos[b] >= 0
            allowed[b, col : col + n, past + col : past + col + n] = p.ancestors
            chain_pos[b, col:] = p.start + np.arange(p.n_chain)
            flat.append(b * width + col + p.reads)
        device = self.scorer.device
        dtype = next(self.scorer.model.parameters()).dtype
        inputs: dict[str, Any] = {
            "input_ids": torch.from_numpy(ids).to(device),
            "position_ids": torch.from_numpy(positions).to(device),
            "attention_mask": attention_mask(
                torch.from_numpy(allowed)[:, None].to(device), sdpa=self.sdpa, dtype=dtype
            ),
        }
        if rows.cache is not None:
            inputs[self.scorer.cache_arg] = rows.cache
        index = torch.from_numpy(np.concatenate(flat)).to(device)
        logprobs, cache = self.scorer.forward_at(inputs, index, keep_cache=True)
        keep = past + s
        if width > s:  # the tries leave the cache
            cache = _cache(
                [(lay.keys[:, :, :keep], lay.values[:, :, :keep]) for lay in cache.layers]
            )
        rows.cache, rows.pos = cache, np.concatenate([rows.pos, chain_pos], axis=1)
        return list(torch.split(logprobs, [len(p.reads) for p in pieces]))

    # -- requests -------------------------------------------------------------------------

    def run(self, backend: HFBackend, requests: Sequence[ChainRequest]) -> list[ChainResult]:
        """One ``ChainResult`` per request, in order: requests with candidates and those
        without in batches of their own, longest first, within ``batch_tokens`` tokens of
        prompt, trie and new tokens per batch."""
        out: list[ChainResult | None] = [None] * len(requests)
        plans = [_Plan.of(backend, i, r) for i, r in enumerate(requests)]
        composed: list[tuple[int, Prompt, np.ndarray]] = []
        for first in (True, False):
            group = [p for p in plans if (p.first is not None) == first]
            sizes = [p.size for p in group]
            for lines in make_batches(sizes, backend.config.batch_tokens, pack=False):
                batch = [group[line[0]] for line in lines]
                composed += self._batch(backend, requests, batch, out)
        if composed:
            late = [
                ChainRequest(
                    prompt,
                    continuations=requests[i].continuations,
                    max_new_tokens=requests[i].max_new_tokens,
                    stop=requests[i].stop,
                )
                for i, prompt, _ in composed
            ]
            for (i, _, cands), res in zip(composed, Backend.chain(backend, late), strict=True):
                out[i] = ChainResult(res.prompt, cands, res.continuation_logprobs, res.generation)
        assert all(r is not None for r in out)
        return out  # type: ignore[return-value]

    def _batch(
        self,
        backend: HFBackend,
        requests: Sequence[ChainRequest],
        batch: list[_Plan],
        out: list[ChainResult | None],
    ) -> list[tuple[int, Prompt, np.ndarray]]:
        """Steps 1-3 of one batch into ``out``; returns the requests left to the composed
        path (module doc) with their grown prompts and candidate log-masses."""
        rows = Rows(len(batch))
        cands = [np.zeros(0)] * len(batch)
        cached: list[list[int]] = [[] for _ in batch]
        if batch[0].first is not None:
            lps = self.step(rows, [chain_piece(p.first or [], 0) for p in batch])
            ends = torch.cat([lp[-1:] for lp in lps])
            cands = candidate_mass(ends, [p.cand_ids for p in batch])
            cached = [p.first or [] for p in batch]
        kept, composed, seconds = [], [], []
        for k, (p, c) in enumerate(zip(batch, cands, strict=True)):
            request = requests[p.index]
            prompt = request.grown(c)
            ids, space, context = backend.split_prompt(backend.render(prompt))
            conts = backend.split_encode(context, ids, request.continuations)
            if not conts and request.max_new_tokens <= 0:  # nothing more to read
                out[p.index] = ChainResult(prompt, c, (), None)
                continue
            if space or not all(conts):
                composed.append((p.index, prompt, c))
                continue
            shared = min(common_length([cached[k], ids]), len(ids) - 1) if cached[k] else 0
            kept.append(k)
            seconds.append((prompt, ids, shared, conts))
        if not kept:
            return composed
        rows.keep(kept)
        tries: list[TriePiece | None] = []
        pieces = []
        for _, ids, shared, conts in seconds:
            trie = trie_piece(ids[shared:], shared, conts) if conts else None
            tries.append(trie)
            pieces.append(trie.piece if trie else chain_piece(ids[shared:], shared))
        lps = self.step(rows, pieces)
        firsts = [lp[p.last] for lp, p in zip(lps, pieces, strict=True)]
        plans = [batch[k] for k in kept]
        lengths = [len(ids) for _, ids, _, _ in seconds]
        generations = self._decode(rows, [requests[p.index] for p in plans], firsts, lengths)
        for k, (plan, (prompt, _, _, _), trie, lp, g) in enumerate(
            zip(plans, seconds, tries, lps, generations, strict=True)
        ):
            continued: tuple[np.ndarray, ...] = ()
            if trie is not None:
                where = torch.from_numpy(trie.where).to(lp.device)
                targets = torch.from_numpy(trie.targets).to(lp.device)
                read = lp[where, targets].double().cpu().numpy()
                continued = tuple(read[m].copy() for m in trie.members)
            out[plan.index] = ChainResult(prompt, cands[kept[k]], continued, g)
        return composed

    def _decode(
        self,
        rows: Rows,
        requests: Sequence[ChainRequest],
        firsts: Sequence[torch.Tensor],
        lengths: Sequence[int],
    ) -> list[Generation | None]:
        """Greedy generation of each row after its grown prompt (``lengths[b]`` tokens, all
        in the cache), from its first next-token distribution ``firsts[b]``."""
        ids: list[list[int]] = [[] for _ in requests]
        lps: list[list[float]] = [[] for _ in requests]

        def add(b: int, logprobs: torch.Tensor) -> bool:
            """Append row b's greedy token; whether the row goes on."""
            token = int(torch.argmax(logprobs))
            ids[b].append(token)
            lps[b].append(float(logprobs[token]))
            return not self._done(ids[b], requests[b])

        active = [b for b, r in enumerate(requests) if r.max_new_tokens > 0]
        active = [b for b in active if add(b, firsts[b])]
        rows.keep(active)
        while active:
            pieces = [chain_piece(ids[b][-1:], lengths[b] + len(ids[b]) - 1) for b in active]
            steps = self.step(rows, pieces)
            going = [j for j, b in enumerate(active) if add(b, steps[j][0])]
            active = [active[j] for j in going]
            rows.keep(going)
        return [
            self.generator.finish(ids[b], np.asarray(lps[b]), None, r.stop)
            if r.max_new_tokens > 0
            else None
            for b, r in enumerate(requests)
        ]

    def _done(self, ids: list[int], request: ChainRequest) -> bool:
        """Whether a greedy sample ends here: as ``generate`` ends it (module doc)."""
        if len(ids) >= request.max_new_tokens or ids[-1] in self.generator.eos_ids:
            return True
        if not request.stop:
            return False
        text = self.generator.tokenizer.decode(ids, skip_special_tokens=True)
        return any(s in text for s in request.stop)


@dataclass
class _Plan:
    """A request's step-1 tokens and candidate ids (``first`` None: no candidates) and the
    tokens its row may hold (prompt, trie, new tokens), for batching."""

    index: int
    first: list[int] | None
    cand_ids: list[list[int]]
    size: int

    @classmethod
    def of(cls, backend: HFBackend, index: int, request: ChainRequest) -> _Plan:
        text = backend.render(request.prompt)
        ids, space, context = backend.split_prompt(text)
        first, cand_ids = None, []
        if request.candidates:
            if space:  # read after the spaces (a branch of their own in ``score``)
                first = backend.generation_ids(text)
                cand_ids = [backend.candidate_ids(c) for c in request.candidates]
            else:
                first = ids
                cand_ids = [
                    backend.context_candidate_ids(context, ids, c) for c in request.candidates
                ]
        conts = backend.encode(list(request.continuations))
        trie = len({tuple(c[:j]) for c in conts for j in range(1, len(c))})
        size = len(first or ids) + trie + max(request.max_new_tokens, 1) + 8
        return cls(index, first, cand_ids, size)
