"""Seeded subsets and train/held-out splits, the same in every process and on every machine.

Every example gets a sort key, the SHA-256 of ``(seed, example.id)``; a subset is the first
examples in key order. So a subset depends only on the seed and the ids (not on the input
order or ``hash()``), ``limit=100`` is contained in ``limit=200`` for the same seed, and a
split is disjoint by construction. Results keep the input order.

Stratified by subject (``stratify=True``): each subject gets ``limit * n_subject / n`` examples,
rounded by largest remainder (floors first; the leftover places go to the largest fractional
parts, ties broken by a seeded hash of the subject name), then its first examples in key order.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from confalign.data._stable import stable_hash
from confalign.data.example import QAExample


@dataclass(frozen=True)
class Split:
    """Two disjoint lists of examples (by id), each in input order."""

    train: list[QAExample]
    heldout: list[QAExample]


def _key(seed: int, example_id: str) -> bytes:
    return hashlib.sha256(f"{seed}\x1f{example_id}".encode()).digest()


def _check_ids(examples: Sequence[QAExample]) -> None:
    seen: set[str] = set()
    for ex in examples:
        if ex.id in seen:
            raise ValueError(f"duplicate example id {ex.id!r}: ids must be unique to sample")
        seen.add(ex.id)


def allocate(counts: Mapping[str, int], total: int, *, seed: int = 0) -> dict[str, int]:
    """Largest-remainder allocation of ``total`` places proportional to ``counts``.

    ``sum(result.values()) == min(total, sum(counts))`` and no group gets more than it has.
    """
    n = sum(counts.values())
    if total >= n:
        return dict(counts)
    exact = {g: Fraction(total * c, n) for g, c in counts.items()}
    quota = {g: int(q) for g, q in exact.items()}
    left = total - sum(quota.values())
    order = sorted(counts, key=lambda g: (-(exact[g] - quota[g]), stable_hash(seed, g)))
    for g in order[:left]:
        quota[g] += 1
    return quota


def _choose(examples: Sequence[QAExample], k: int, *, seed: int, stratify: bool) -> set[str]:
    """The ids of the ``k`` examples a seeded (stratified) subset takes."""
    groups: dict[str, list[QAExample]] = defaultdict(list)
    for ex in examples:
        groups[ex.subject if stratify else ""].append(ex)
    quota = allocate({g: len(v) for g, v in groups.items()}, k, seed=seed)
    chosen: set[str] = set()
    for g, members in groups.items():
        members = sorted(members, key=lambda ex: _key(seed, ex.id))
        chosen.update(ex.id for ex in members[: quota[g]])
    return chosen


def sample(
    examples: Sequence[QAExample],
    *,
    limit: int | None = None,
    seed: int = 0,
    stratify: bool = False,
) -> list[QAExample]:
    """A seeded subset of at most ``limit`` examples (all of them when ``limit`` is None).

    Parameters
    ----------
    examples : the examples, with unique ids.
    limit : how many to keep, >= 1; None keeps all.
    seed : the subset's seed.
    stratify : allocate ``limit`` across subjects in proportion (module docstring).
    """
    if limit is not None and (isinstance(limit, bool) or limit < 1):
        raise ValueError(f"limit must be a positive integer or None, got {limit!r}")
    _check_ids(examples)
    if limit is None or limit >= len(examples):
        return list(examples)
    chosen = _choose(examples, limit, seed=seed, stratify=stratify)
    return [ex for ex in examples if ex.id in chosen]


def train_heldout_split(
    examples: Sequence[QAExample],
    *,
    heldout: float | int = 0.2,
    seed: int = 0,
    stratify: bool = False,
) -> Split:
    """Split ``examples`` into train and held-out parts that share no example id.

    Parameters
    ----------
    heldout : a fraction in (0, 1) of the examples (rounded to the nearest count), or a count.
    seed, stratify : as in ``sample``; stratified, every subject is split in proportion.
    """
    _check_ids(examples)
    n = len(examples)
    if isinstance(heldout, bool):
        raise ValueError(f"heldout must be a fraction in (0, 1) or a count, got {heldout!r}")
    if isinstance(heldout, float):
        if not 0.0 < heldout < 1.0:
            raise ValueError(f"heldout fraction must be in (0, 1), got {heldout}")
        k = round(heldout * n)
    else:
        if not 0 <= heldout <= n:
            raise ValueError(f"heldout count must be in 0..{n}, got {heldout}")
        k = heldout
    chosen = _choose(examples, k, seed=seed, stratify=stratify)
    return Split(
        train=[ex for ex in examples if ex.id not in chosen],
        heldout=[ex for ex in examples if ex.id in chosen],
    )
