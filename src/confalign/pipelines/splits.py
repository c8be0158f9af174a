"""A training run's four splits, each drawn with its own seed, and checked pairwise disjoint.

- held-out: the seeded (stratified) sample ``confalign eval --limit EVAL_LIMIT --seed EVAL_SEED``
  takes of the evaluation split, so the numbers compare with a plain eval;
- validation (``VALIDATION_SEED``) and training (``SEED``): from the training split less the
  held-out examples (and training less validation); or validation from a split of its own
  (``validation_split``, e.g. ``world_facts``' entity-disjoint ``validation``);
- out of distribution (``OOD_SEED``): a sample of another dataset (the same dataset and split
  is refused when the settings are built).

Every pair of splits is checked (example ids within a dataset, question texts across two) and
an overlap is refused with its count; the sizes and the checked overlaps (all 0) are what
``counts`` records in the run folder (``splits.json``).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any

from confalign.data.example import QAExample
from confalign.pipelines.settings import RunSettings
from confalign.train.methods.base import TrainingRunError

SPLITS = ("train", "validation", "heldout", "ood")


@dataclass(frozen=True)
class Splits:
    train: list[QAExample]
    validation: list[QAExample]
    heldout: list[QAExample]
    ood: list[QAExample]


def make_splits(s: RunSettings) -> Splits:
    """The four splits of ``s`` (module docstring); ``TrainingRunError`` on an overlap."""
    from confalign.data import load_benchmark
    from confalign.data.sampling import sample

    subjects = s.subjects or None
    everything = list(load_benchmark(s.dataset, split=s.eval_split, subjects=subjects).examples)
    heldout = sample(everything, limit=s.eval_limit, seed=s.eval_seed, stratify=s.stratify)
    same = (s.train_split or None) == (s.eval_split or None)
    pool = (
        everything
        if same
        else list(load_benchmark(s.dataset, split=s.train_split, subjects=subjects).examples)
    )
    if same:
        held_ids = {ex.id for ex in heldout}
        pool = [ex for ex in pool if ex.id not in held_ids]
    validation: list[QAExample] = []
    if s.validation_limit:
        own = s.validation_split is not None
        source = (
            list(load_benchmark(s.dataset, split=s.validation_split, subjects=subjects).examples)
            if own
            else pool
        )
        validation = sample(
            source, limit=s.validation_limit, seed=s.validation_seed, stratify=s.stratify
        )
        val_ids = {ex.id for ex in validation}
        pool = [ex for ex in pool if ex.id not in val_ids]
    train = sample(pool, limit=s.train_limit, seed=s.seed, stratify=s.stratify)
    ood: list[QAExample] = []
    if s.ood_dataset:
        ood = list(
            load_benchmark(
                s.ood_dataset,
                split=s.ood_split,
                limit=s.ood_limit,
                seed=s.ood_seed,
                stratify=s.stratify,
            ).examples
        )
    splits = Splits(train, validation, heldout, ood)
    check_disjoint(splits, same_dataset={"ood": s.ood_dataset == s.dataset})
    return splits


def _keys(examples: list[QAExample], by_text: bool) -> set[str]:
    return {" ".join(ex.question.split()).lower() if by_text else ex.id for ex in examples}


def overlaps(splits: Splits, *, same_dataset: dict[str, bool] | None = None) -> dict[str, int]:
    """The number of shared examples of every pair of splits (``"train/heldout": 0``): ids
    within the training dataset, question texts against the out-of-distribution one (unless
    ``same_dataset["ood"]``)."""
    same = same_dataset or {}
    out = {}
    for a, b in combinations(SPLITS, 2):
        by_text = "ood" in (a, b) and not same.get("ood", False)
        ka = _keys(getattr(splits, a), by_text)
        kb = _keys(getattr(splits, b), by_text)
        out[f"{a}/{b}"] = len(ka & kb)
    return out


def check_disjoint(splits: Splits, *, same_dataset: dict[str, bool] | None = None) -> None:
    """Refuse any pair of splits that shares examples, naming the pair and the count."""
    for pair, n in overlaps(splits, same_dataset=same_dataset).items():
        if n:
            a, b = pair.split("/")
            raise TrainingRunError(
                f"the {_NAMES[a]} split shares {n} examples with the {_NAMES[b]} split; "
                "choose disjoint splits (other --*-split, --*-limit or --*-seed)"
            )


_NAMES = {
    "train": "training",
    "validation": "validation",
    "heldout": "evaluation",
    "ood": "out-of-distribution",
}


def counts(splits: Splits, s: RunSettings) -> dict[str, Any]:
    """What ``splits.json`` records: sizes, seeds and the pairwise overlaps (all 0)."""
    return {
        "sizes": {name: len(getattr(splits, name)) for name in SPLITS},
        "seeds": {
            "train": s.seed,
            "validation": s.validation_seed,
            "heldout": s.eval_seed,
            "ood": s.ood_seed,
        },
        "overlaps": overlaps(splits, same_dataset={"ood": s.ood_dataset == s.dataset}),
    }
