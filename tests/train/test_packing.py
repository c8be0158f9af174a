"""The training forward: tree-packed log-probabilities (and their gradients) equal plain
prompt + completion forwards."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM

from confalign.backends.packed import TreeItem, common_length, fill_lines, item_batches, tree_row
from confalign.train.packing import PackedScorer

ITEMS = [
    TreeItem((1, 2, 3, 4, 5), ((6, 7, 8, 9), (6, 7, 10, 11, 12))),  # shared start 6 7
    TreeItem((5, 4), ((3,), (9, 9))),  # one-token completion
    TreeItem((7, 7, 7, 1, 2, 3, 4, 5, 6), ((1, 2), (1, 3), (4, 4, 4))),  # three completions
    TreeItem((9, 8), ((3, 4), (3, 4, 5))),  # a completion that is a prefix of another
    # ADVICE's shape: two answers (20, 21 / 30), each with its cue (5, 6) before three levels
    TreeItem(
        (1, 2, 3),
        tuple((*a, 5, 6, lv) for a in ((20, 21), (30,)) for lv in (40, 41, 42)),
    ),
]


def _tiny(cls: type = LlamaForCausalLM, config_cls: type = LlamaConfig, **extra: object):
    torch.manual_seed(0)
    config = config_cls(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        attn_implementation="sdpa",
        **extra,
    )
    return cls(config).eval()


def _plain(model: torch.nn.Module, prompt: tuple, completion: tuple) -> torch.Tensor:
    ids = torch.tensor([[*prompt, *completion]])
    lp = torch.log_softmax(model(ids).logits.float(), dim=-1)[0]
    n = len(prompt)
    return sum(lp[n - 1 + j, t] for j, t in enumerate(completion))


def test_common_length() -> None:
    assert common_length([(1, 2, 3), (1, 2, 4), (1, 2)]) == 2
    assert common_length([(1,), (2,)]) == 0


def test_tree_row_feeds_each_prefix_once_and_reads_each_token_once() -> None:
    trie, members = tree_row(ITEMS[0])
    row = trie.row
    # prompt, the shared (6, 7) once, then (8) and (10, 11): last tokens are read, not fed
    assert list(row.tokens) == [1, 2, 3, 4, 5, 6, 7, 8, 10, 11]
    assert list(row.positions) == [0, 1, 2, 3, 4, 5, 6, 7, 7, 8]
    assert [list(row.read_tgt[m]) for m in members] == [[6, 7, 8, 9], [6, 7, 10, 11, 12]]
    assert len(row.read_tgt) == 7  # 6 and 7 are read once for both completions
    # 10 sees the prompt, 6, 7 and itself, not 8
    assert list(np.flatnonzero(trie.ancestors[8])) == [0, 1, 2, 3, 4, 5, 6, 8]


def test_tree_row_shares_an_answer_across_its_levels() -> None:
    trie, members = tree_row(ITEMS[-1])
    # prompt (3) + answer 1 with cue (20, 21, 5, 6) + answer 2 with cue (30, 5, 6)
    assert list(trie.row.tokens) == [1, 2, 3, 20, 21, 5, 6, 30, 5, 6]
    assert [list(trie.row.read_tgt[m]) for m in members[:2]] == [
        [20, 21, 5, 6, 40],
        [20, 21, 5, 6, 41],
    ]


@pytest.mark.parametrize("batch_tokens", [4096, 12])  # one batch, or one line per batch
def test_packed_equals_plain_forward(batch_tokens: int) -> None:
    model = _tiny()
    scorer = PackedScorer(model, pad_id=0, batch_tokens=batch_tokens)
    assert scorer.tree
    with torch.no_grad():
        out = scorer(model, ITEMS)
        for item, got in zip(ITEMS, out, strict=True):
            for k, completion in enumerate(item.completions):
                assert got[k, 0].item() == pytest.approx(
                    _plain(model, item.prompt, completion).item(), abs=1e-5
                )
                assert got[k, 1].item() == len(completion)


def test_packed_gradients_equal_plain_gradients() -> None:
    model = _tiny()
    scorer = PackedScorer(model, pad_id=0)
    packed = torch.stack([o[:, 0].sum() for o in scorer(model, ITEMS)]).sum()
    packed.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    plain = sum(_plain(model, it.prompt, c) for it in ITEMS for c in it.completions)
    plain.backward()
    assert packed.item() == pytest.approx(plain.item(), abs=1e-4)
    for name, p in model.named_parameters():
        assert torch.allclose(grads[name], p.grad, atol=1e-5), name


@pytest.mark.parametrize("batch_tokens", [4096, 12])
def test_sliding_window_models_fall_back_to_plain_rows(batch_tokens: int) -> None:
    model = _tiny(MistralForCausalLM, MistralConfig, sliding_window=3)
    scorer = PackedScorer(model, pad_id=0, batch_tokens=batch_tokens)
    assert not scorer.tree  # a custom mask would override the window
    plan = scorer.plan(ITEMS)
    assert sorted(i for owners in plan.owners for i in owners) == list(range(len(ITEMS)))
    with torch.no_grad():
        out = scorer(model, ITEMS[:2])
        for item, got in zip(ITEMS[:2], out, strict=True):
            for k, completion in enumerate(item.completions):
                expected = _plain(model, item.prompt, completion).item()
                assert got[k, 0].item() == pytest.approx(expected, abs=1e-5)


def test_fill_lines_packs_first_fit_decreasing_within_the_longest_row() -> None:
    # width 5 (the longest row); 2 lines per pass of 10 tokens. Longest first: 5 opens line 0,
    # 4 opens line 1, 3 opens line 2, 2 fits line 2's room (2), 1 fits line 1's room (1).
    assert fill_lines([5, 3, 2, 4, 1], 10) == [[[0], [3, 4]], [[1, 2]]]
    assert fill_lines([7], 3) == [[[0]]]  # a row wider than the budget still gets a pass
    assert fill_lines([], 10) == []


def test_item_batches_keep_every_item_whole() -> None:
    # items' row lengths: item 0 rows 0-1, item 1 rows 2-4, item 2 row 5. Widest item first:
    # item 1 sets width 6 (2 lines of 12 tokens, but its 3 rows stay together), item 0 opens
    # the next batch (width 4: 3 lines), item 2 fills its third line.
    assert item_batches([[3, 4], [6, 6, 5], [2]], 12) == [[[2], [3], [4]], [[0], [1], [5]]]
    assert item_batches([[3], [3]], 6) == [[[0], [1]]]
