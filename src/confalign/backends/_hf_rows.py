"""Token layouts for the ``hf`` scorer: rows, their batching and packing (pure NumPy).

A ``Row`` is one request laid out as one sequence (``shared_row``: prompt then every
continuation, each continuation a *branch*; ``plain_row``: prompt + one continuation), with
the positions whose next-token distributions are to be read. ``make_batches`` groups rows
into batches of lines; ``Layout`` places them in a padded (batch, width) array and describes
every column (row within the line, branch, position id) for the attention mask that
``_hf_scoring`` builds. The why of it all is in ``_hf_scoring``'s docstring.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


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
