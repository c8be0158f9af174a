"""The packed forward's layouts, shared by the ``hf`` backend (scoring) and ``train`` (losses).

A ``Row`` is one sequence and the positions whose next-token distributions are read:
``shared_row`` (a prompt and its continuations as *branches*: the backend's layout),
``tree_row`` (a prompt and its completions as a trie, every distinct prefix once: training's
layout, where ADVICE's ten levels share a 20-token answer) and ``plain_row`` (prompt + one
continuation, the reference). ``make_batches`` (the backend), ``fill_lines`` and
``item_batches`` (training: trie rows, plain rows) group rows into lines; ``Layout`` places
them in a padded (batch, width) array; ``tree_mask`` (branches) and ``trie_mask`` (ancestors)
give the attention masks that keep every row, and every branch, apart. ``split_body_head``
and ``has_sliding_window`` say whether a model can take the layout and its projection at read
positions only. The why of it all is in ``_hf_scoring``'s docstring (the backend) and
``train.packing``'s (training).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

# Config attributes of models whose forward changes the logits after ``lm_head`` (soft-capping,
# scaling); for those, projecting the hidden states ourselves would be wrong.
_LOGIT_POSTPROCESSING = (
    "final_logit_softcapping",
    "logit_scale",
    "logits_scaling",
    "output_multiplier_scale",
)


@dataclass
class Row:
    """One sequence of a batch and what to read from it.

    ``branch``: 0 for prompt tokens, k for the k-th continuation (None: plain causal row).
    ``positions``: position ids (None: 0..len-1). ``read_pos[i]``: the row position whose
    next-token distribution gives the log-probability of token ``read_tgt[i]``.
    ``cand_pos``: the position whose next-token distribution gives the candidates (-1: none).
    """

    tokens: np.ndarray
    read_pos: np.ndarray
    read_tgt: np.ndarray
    branch: np.ndarray | None = None
    positions: np.ndarray | None = None
    cand_pos: int = -1
    cand_ids: Sequence[Sequence[int]] = ()

    def __len__(self) -> int:
        return len(self.tokens)


@dataclass
class RowResult:
    """``token_logprobs[i]`` belongs to ``read_tgt[i]``; ``cand_logprobs``: one per candidate."""

    token_logprobs: np.ndarray
    cand_logprobs: np.ndarray = field(default_factory=lambda: np.zeros(0))


def shared_row(
    prompt: Sequence[int],
    continuations: Sequence[Sequence[int]],
    cand_branch: Sequence[int] = (),
    cand_ids: Sequence[Sequence[int]] = (),
) -> tuple[Row, list[slice]]:
    """Lay out a prompt and its continuations as one tree-packed row (see module doc).

    ``cand_branch``: tokens between the prompt and the candidate position (the trailing
    whitespace moved off the prompt); it becomes one more branch. Returns the row and, for
    each continuation, the slice of the row's reads holding its token log-probabilities.
    """
    n_prompt = len(prompt)
    # A continuation's last token is read (at the position before it) but never fed: nothing
    # is read after it. Single-token options (letters) thus add no tokens at all.
    fed = [c[:-1] for c in continuations]
    branches = [*fed, *([cand_branch] if cand_branch else [])]
    lengths = np.array([len(b) for b in branches], dtype=np.int64)
    starts = n_prompt + np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    tokens = np.fromiter(
        (t for part in (prompt, *branches) for t in part),
        dtype=np.int64,
        count=n_prompt + lengths.sum(),
    )
    branch = np.repeat(np.arange(len(branches) + 1), [n_prompt, *lengths])
    positions = np.concatenate([np.arange(n_prompt), *(n_prompt + np.arange(n) for n in lengths)])
    reads_pos, reads_tgt, slices, offset = [], [], [], 0
    for k, cont in enumerate(continuations):
        # c_k[0] is predicted at the last prompt token, c_k[j] at c_k[j-1].
        pos = np.concatenate([[n_prompt - 1], starts[k] + np.arange(len(cont) - 1)])[: len(cont)]
        reads_pos.append(pos)
        reads_tgt.append(np.asarray(cont, dtype=np.int64))
        slices.append(slice(offset, offset + len(cont)))
        offset += len(cont)
    cand_pos = -1
    if cand_ids:
        cand_pos = int(starts[-1] + lengths[-1] - 1) if cand_branch else n_prompt - 1
    row = Row(
        tokens=tokens,
        read_pos=_cat(reads_pos),
        read_tgt=_cat(reads_tgt),
        branch=branch if lengths.sum() else None,
        positions=positions if lengths.sum() else None,
        cand_pos=cand_pos,
        cand_ids=cand_ids,
    )
    return row, slices


def plain_row(
    prompt: Sequence[int], continuation: Sequence[int], cand_ids: Sequence[Sequence[int]] = ()
) -> Row:
    """The reference layout: prompt + one continuation, plain causal attention."""
    n_prompt = len(prompt)
    tokens = np.asarray([*prompt, *continuation], dtype=np.int64)
    return Row(
        tokens=tokens,
        read_pos=np.arange(n_prompt - 1, len(tokens) - 1, dtype=np.int64),
        read_tgt=np.asarray(continuation, dtype=np.int64),
        cand_pos=n_prompt + len(continuation) - 1 if cand_ids else -1,
        cand_ids=cand_ids,
    )


def _cat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)


def make_batches(lengths: Sequence[int], batch_tokens: int, *, pack: bool) -> list[list[list[int]]]:
    """Group rows (by their ``lengths``) into batches of lines: ``batches[b][line]`` lists the
    rows laid end to end in one line of batch b.

    Rows go longest first; the first row of a batch sets its width, and the batch gets as
    many lines as ``batch_tokens`` allows (at least one). With ``pack``, the space that
    padding would fill at the end of each line goes to the shortest rows still waiting, so a
    skewed length distribution costs little padding while the width (which bounds the
    attention cost per token) stays that of the batch's longest row.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    head, tail = 0, len(order)  # order[head:tail] is not placed yet
    batches: list[list[list[int]]] = []
    while head < tail:
        width = lengths[order[head]]
        lines: list[list[int]] = []
        while head < tail and len(lines) < max(1, batch_tokens // width):
            lines.append([order[head]])
            head += 1
        for line in lines if pack else ():
            free = width - lengths[line[0]]
            while head < tail and lengths[order[tail - 1]] <= free:
                tail -= 1
                line.append(order[tail])
                free -= lengths[order[tail]]
        batches.append(lines)
    return batches


class Layout:
    """Rows placed end to end in lines of a (batch, width) array, padded at the end.

    ``skip``: leading tokens of every row left out (a prefix common to all rows, computed
    beforehand and supplied as a key-value cache). ``starts[k]``: flat index (line * width +
    column) that the k-th placed row's token 0 would have, so ``start + read_pos`` is the
    flat index of a read. ``custom``: a mask and position ids are needed (a line holds
    several rows, a row has branches, or a prefix is skipped); then ``segment`` (row number
    within its line, -1 for pads), ``branch`` and ``positions`` describe every column.
    """

    def __init__(
        self, rows: Sequence[Row], lines: list[list[int]], pad_id: int, skip: int = 0
    ) -> None:
        width = max(sum(len(rows[i]) - skip for i in line) for line in lines)
        shape = (len(lines), width)
        self.width = width
        self.ids = np.full(shape, pad_id, dtype=np.int64)
        self.custom = skip > 0 or any(
            len(line) > 1 or rows[line[0]].branch is not None for line in lines
        )
        self.segment = np.full(shape, -1, dtype=np.int64)
        self.branch = np.full(shape, -1, dtype=np.int64)
        self.positions = np.zeros(shape, dtype=np.int64)
        self.starts: list[int] = []
        for b, line in enumerate(lines):
            col = 0
            for j, i in enumerate(line):
                row = rows[i]
                end = col + len(row) - skip
                self.ids[b, col:end] = row.tokens[skip:]
                self.segment[b, col:end] = j
                self.branch[b, col:end] = row.branch[skip:] if row.branch is not None else 0
                self.positions[b, col:end] = (
                    row.positions[skip:] if row.positions is not None else np.arange(skip, len(row))
                )
                self.starts.append(b * width + col - skip)
                col = end


def common_prefix(rows: Sequence[Row]) -> int:
    """Length of the token prefix that all rows share and that holds no read position (a
    read needs its own hidden state) and no branch token, so it can be computed once."""
    first = rows[0].tokens
    n = len(first)
    for r in rows:
        limits = [len(r)]
        if len(r.read_pos):
            limits.append(int(r.read_pos.min()))
        if r.cand_pos >= 0:
            limits.append(r.cand_pos)
        if r.branch is not None:
            limits.append(int(np.count_nonzero(r.branch == 0)))  # the prompt comes first
        n = min(n, *limits)
        differ = np.flatnonzero(r.tokens[:n] != first[:n])
        if len(differ):
            n = int(differ[0])
    return n


# -- training's trie layout -------------------------------------------------------------


@dataclass(frozen=True)
class TreeItem:
    """A prompt and the completions a loss compares (token ids; every completion non-empty)."""

    prompt: tuple[int, ...]
    completions: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        if not self.prompt:
            raise ValueError("TreeItem.prompt must hold at least one token")
        if not self.completions or any(not c for c in self.completions):
            raise ValueError("TreeItem needs at least one completion, none of them empty")


def common_length(seqs: Sequence[Sequence[int]]) -> int:
    """Length of the longest common prefix of ``seqs``."""
    n = min(len(s) for s in seqs)
    first = seqs[0]
    for s in seqs[1:]:
        k = 0
        while k < n and s[k] == first[k]:
            k += 1
        n = k
    return n


@dataclass
class TrieRow:
    """A row's tokens and reads (``Row``) and its ancestor matrix: ``ancestors[q, k]`` is True
    when token k is token q or one of its ancestors (the prompt is a chain; a completion
    token's parent is the token before it in its completion)."""

    row: Row
    ancestors: np.ndarray


def tree_row(item: TreeItem) -> tuple[TrieRow, list[np.ndarray]]:
    """The trie row of ``item`` and, per completion, the indices of its reads in the row's
    reads (shared reads counted in every completion that has them)."""
    tokens = list(item.prompt)
    parent = list(range(-1, len(tokens) - 1))
    node: dict[tuple[int, ...], int] = {(): len(tokens) - 1}
    reads: dict[tuple[int, int], int] = {}
    members = []
    for completion in item.completions:
        idx = []
        for j, target in enumerate(completion):
            at = node[completion[:j]]  # c[j] is predicted at the node of c[:j]
            idx.append(reads.setdefault((at, target), len(reads)))
            if j + 1 < len(completion) and completion[: j + 1] not in node:
                # Fed only when something is read after it (a completion's last token is not).
                node[completion[: j + 1]] = len(tokens)
                tokens.append(target)
                parent.append(at)
        members.append(np.asarray(idx, dtype=np.int64))
    n = len(tokens)
    ancestors = np.zeros((n, n), dtype=bool)
    depth = np.zeros(n, dtype=np.int64)
    for i, up in enumerate(parent):  # parents come before their children
        if up >= 0:
            ancestors[i] = ancestors[up]
            depth[i] = depth[up] + 1
        ancestors[i, i] = True
    read_pos = np.fromiter((k[0] for k in reads), dtype=np.int64, count=len(reads))
    read_tgt = np.fromiter((k[1] for k in reads), dtype=np.int64, count=len(reads))
    row = Row(
        tokens=np.asarray(tokens, dtype=np.int64),
        read_pos=read_pos,
        read_tgt=read_tgt,
        branch=np.zeros(n, dtype=np.int64),  # marks the row as needing a custom mask
        positions=depth,
    )
    return TrieRow(row, ancestors), members


def trie_mask(layout: Layout, tries: Sequence[np.ndarray], *, dtype: torch.dtype) -> torch.Tensor:
    """(batch, 1, width, width) additive mask (0 / ``dtype``'s min) of a layout of trie rows
    (``tries``: their ancestor matrices in placement order): a token attends to its ancestors
    in its own row; a pad only to itself.

    Additive for sdpa too, and built once per forward pass: given a boolean mask, sdpa makes
    an additive copy of it in every layer and autograd keeps each copy for the backward pass
    (30 masks per pass for SmolLM2-135M); one float mask is shared by every layer."""
    batch, width = layout.ids.shape
    allowed = np.zeros((batch, width, width), dtype=bool)
    allowed[:, np.arange(width), np.arange(width)] = True
    for start, anc in zip(layout.starts, tries, strict=True):
        b, col = divmod(start, width)
        n = len(anc)
        allowed[b, col : col + n, col : col + n] = anc
    return attention_mask(torch.from_numpy(allowed)[:, None], sdpa=False, dtype=dtype)


def attention_mask(allowed: torch.Tensor, *, sdpa: bool, dtype: torch.dtype) -> torch.Tensor:
    """A boolean (batch, 1, queries, keys) mask (True = attend) as the attention takes it:
    itself for sdpa, additive (0 / dtype min) for eager attention (or for sdpa too, where one
    additive mask shared by every layer beats sdpa's conversion in each: ``trie_mask``)."""
    if sdpa:
        return allowed
    return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(
        ~allowed, torch.finfo(dtype).min
    )


def fill_lines(lengths: Sequence[int], batch_tokens: int) -> list[list[list[int]]]:
    """Rows (by ``lengths``) packed first-fit decreasing into lines as wide as the longest row,
    then the lines grouped into forward passes of at most ``batch_tokens`` tokens.

    A training micro-batch is a handful of rows of uneven length (DCA's MMLU prompts run
    130-380 tokens): one row per line would pad a third of the tensor, and every padded
    token costs a full forward and backward. Lines no wider than the longest row keep the
    attention cost per token what it was (the trie mask confines attention to a row).
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    if not order:
        return []
    width = lengths[order[0]]
    lines: list[list[int]] = []
    free: list[int] = []
    for i in order:
        k = next((k for k, room in enumerate(free) if lengths[i] <= room), len(lines))
        if k == len(lines):
            lines.append([])
            free.append(width)
        lines[k].append(i)
        free[k] -= lengths[i]
    per_pass = max(1, batch_tokens // width)
    return [lines[k : k + per_pass] for k in range(0, len(lines), per_pass)]


def plain_rows(item: TreeItem) -> tuple[list[Row], list[np.ndarray]]:
    """One causal row per completion (the reference layout); members index each row's reads."""
    rows = [plain_row(item.prompt, c) for c in item.completions]
    return rows, [np.arange(len(c), dtype=np.int64) for c in item.completions]


def item_batches(item_rows: Sequence[Sequence[int]], batch_tokens: int) -> list[list[list[int]]]:
    """Plain rows grouped into batches, one row a line, with every item's rows in one batch
    (``item_rows[k]``: the lengths of item k's rows, numbered on from the previous item's), so
    that a batch's share of a loss over items can be backpropagated alone (``train.packing``).

    Items go longest row first; the first item of a batch sets its width, and items join it
    while its lines (one per row) fit in ``batch_tokens`` (an item too large for one batch
    gets one of its own), as ``make_batches`` places rows without packing.
    """
    starts = np.concatenate([[0], np.cumsum([len(r) for r in item_rows])]).astype(int)
    order = sorted(range(len(item_rows)), key=lambda k: -max(item_rows[k]))
    batches: list[list[list[int]]] = []
    room = 0
    for k in order:
        lines = [[int(starts[k]) + j] for j in range(len(item_rows[k]))]
        if not batches or len(batches[-1]) + len(lines) > room:
            batches.append([])
            room = max(len(lines), batch_tokens // max(item_rows[k]))
        batches[-1].extend(lines)
    return batches


# -- masks and models ------------------------------------------------------------------


def tree_mask(
    layout: Layout, skip: int, *, sdpa: bool, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """(batch, 1, width, skip + width) mask: every real token sees the skipped prefix; within
    the line, query i may attend key j iff j <= i, both belong to the same row, and j is in
    that row's prompt or in i's own branch. A pad attends only to itself. Boolean for sdpa
    (True = attend), additive (0 / dtype min) for eager attention."""
    seg = torch.from_numpy(layout.segment).to(device)
    branch = torch.from_numpy(layout.branch).to(device)
    width = seg.shape[1]
    causal = torch.ones(width, width, dtype=torch.bool, device=device).tril()
    sq, sk = seg[:, :, None], seg[:, None, :]
    bq, bk = branch[:, :, None], branch[:, None, :]
    allowed = causal & (sk == sq) & (sk >= 0) & ((bk == 0) | (bk == bq))
    allowed |= torch.eye(width, dtype=torch.bool, device=device)
    if skip:
        allowed = torch.cat([(sq >= 0).expand(-1, -1, skip), allowed], dim=2)
    return attention_mask(allowed[:, None], sdpa=sdpa, dtype=dtype)


def has_sliding_window(config: object) -> bool:
    """Whether some layer attends through a sliding window (a custom mask would override it)."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    layer_types = getattr(text, "layer_types", None)
    if layer_types:
        return any(t != "full_attention" for t in layer_types)
    return (
        bool(getattr(text, "sliding_window", None))
        and getattr(text, "use_sliding_window", True) is not False
    )


def split_body_head(model: nn.Module) -> tuple[nn.Module | None, nn.Module | None]:
    """(decoder, lm_head) when the logits are exactly ``lm_head(last hidden state)``."""
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else None
    if config is None or any(
        getattr(config, name, None) not in (None, 1, 1.0) for name in _LOGIT_POSTPROCESSING
    ):
        return None, None
    get_decoder = getattr(model, "get_decoder", None)
    body = get_decoder() if get_decoder is not None else None
    head = model.get_output_embeddings()
    if body is None or body is model or not isinstance(head, nn.Linear):
        return None, None
    return body, head
