"""Seeded subsets and splits: deterministic, nested, stratified by largest remainder,
disjoint, and the same in another Python process with another hash seed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from confalign.data import QAExample, sample, train_heldout_split
from confalign.data.sampling import allocate


def make(n: int, subjects: tuple[str, ...] = ("a",)) -> list[QAExample]:
    return [
        QAExample(f"id{i}", "q?", gold="x", subject=subjects[i % len(subjects)]) for i in range(n)
    ]


def test_sample_is_deterministic_nested_and_in_input_order() -> None:
    data = make(500)
    s100 = sample(data, limit=100, seed=3)
    assert s100 == sample(data, limit=100, seed=3)
    assert s100 != sample(data, limit=100, seed=4)
    assert {e.id for e in s100} < {e.id for e in sample(data, limit=200, seed=3)}
    positions = [data.index(e) for e in s100]
    assert positions == sorted(positions)
    assert sample(data, limit=100, seed=3) == sample(list(reversed(data)), limit=100, seed=3)[::-1]


def test_sample_edges() -> None:
    data = make(5)
    assert sample(data) == data and sample(data, limit=10) == data
    for bad in (0, -1, True):
        with pytest.raises(ValueError, match="positive integer"):
            sample(data, limit=bad)
    with pytest.raises(ValueError, match="duplicate example id 'id0'"):
        sample([*data, data[0]], limit=2)


def test_allocate_largest_remainder() -> None:
    # 100 of 1000 in groups 505/304/191: exact 50.5, 30.4, 19.1 -> floors 50, 30, 19, one
    # place left for the largest remainder (0.5).
    assert allocate({"x": 505, "y": 304, "z": 191}, 100) == {"x": 51, "y": 30, "z": 19}
    # equal remainders: the seed decides, and every seed gives a valid total
    for seed in range(10):
        q = allocate({"a": 1, "b": 1, "c": 1}, 2, seed=seed)
        assert sorted(q.values()) == [0, 1, 1]
    assert {
        frozenset(k for k, v in allocate({"a": 1, "b": 1, "c": 1}, 2, seed=s).items() if v)
        for s in range(20)
    } != {frozenset({"a", "b"})}


def test_stratified_sample_is_proportional() -> None:
    data = make(1000, subjects=("big",) * 6 + ("mid",) * 3 + ("small",))
    counts = Counter(e.subject for e in sample(data, limit=101, seed=0, stratify=True))
    assert counts == {"big": 61, "mid": 30, "small": 10}  # 60.6, 30.3, 10.1


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 40), min_size=1, max_size=8),
    limit=st.integers(1, 300),
    seed=st.integers(0, 2**32),
)
def test_stratified_quotas_property(sizes: list[int], limit: int, seed: int) -> None:
    data = [
        QAExample(f"{s}-{i}", "q", gold="x", subject=f"s{s}")
        for s, n in enumerate(sizes)
        for i in range(n)
    ]
    chosen = sample(data, limit=limit, seed=seed, stratify=True)
    assert len(chosen) == min(limit, len(data))
    counts = Counter(e.subject for e in chosen)
    for s, n in enumerate(sizes):
        exact = min(limit, len(data)) * n / len(data)
        assert int(exact) <= counts[f"s{s}"] <= int(exact) + 1


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 200),
    frac=st.floats(0.01, 0.99),
    seed=st.integers(0, 10**9),
    stratify=st.booleans(),
)
def test_split_never_overlaps(n: int, frac: float, seed: int, stratify: bool) -> None:
    data = make(n, subjects=("a", "b", "c"))
    split = train_heldout_split(data, heldout=frac, seed=seed, stratify=stratify)
    train_ids, held_ids = {e.id for e in split.train}, {e.id for e in split.heldout}
    assert not train_ids & held_ids
    assert train_ids | held_ids == {e.id for e in data}
    assert len(split.heldout) == round(frac * n)


def test_split_counts_and_errors() -> None:
    data = make(10)
    assert len(train_heldout_split(data, heldout=3).heldout) == 3
    for bad in (0.0, 1.0, 11, -1, True):
        with pytest.raises(ValueError):
            train_heldout_split(data, heldout=bad)


SCRIPT = """
import json
from confalign.data import QAExample, sample, train_heldout_split
data = [QAExample(f"id{i}", "q", gold="x", subject="abc"[i % 3]) for i in range(300)]
s = sample(data, limit=50, seed=7, stratify=True)
t = train_heldout_split(data, heldout=0.3, seed=7)
print(json.dumps([[e.id for e in s], [e.id for e in t.heldout]]))
"""


def test_stable_across_processes_and_hash_seeds() -> None:
    outputs = []
    for hash_seed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run(
            [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True
        ).stdout
        outputs.append(json.loads(out))
    assert outputs[0] == outputs[1]
    data = make(300, subjects=("a", "b", "c"))
    here = [e.id for e in sample(data, limit=50, seed=7, stratify=True)]
    assert here == outputs[0][0]
