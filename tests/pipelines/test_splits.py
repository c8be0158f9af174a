"""A training run's splits: an independent seed each, every pair disjoint (checked), counts
recorded; an overlap or an out-of-distribution set that is the training set is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from confalign.data.example import QAExample
from confalign.pipelines.settings import make_config
from confalign.pipelines.splits import Splits, check_disjoint, counts, make_splits, overlaps
from confalign.train.methods.base import TrainingRunError


def _data(tmp_path: Path, n: int, name: str = "qa.jsonl", prefix: str = "Q") -> str:
    rows = [{"id": f"{prefix}{i}", "question": f"{prefix} {i}?", "gold": str(i)} for i in range(n)]
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_four_seeded_splits_are_disjoint_and_counted(tmp_path: Path) -> None:
    data, ood = _data(tmp_path, 40), _data(tmp_path, 30, "ood.jsonl", "O")
    s = make_config(
        "dca", output=tmp_path / "o", dataset=data, ood_dataset=ood, train_limit=10,
        eval_limit=8, validation_limit=6, ood_limit=5,
    ).settings  # fmt: skip
    splits = make_splits(s)
    sizes = [len(splits.train), len(splits.validation), len(splits.heldout), len(splits.ood)]
    assert sizes == [10, 6, 8, 5]
    record = counts(splits, s)
    assert record["sizes"] == {"train": 10, "validation": 6, "heldout": 8, "ood": 5}
    assert record["seeds"] == {"train": 0, "validation": 2, "heldout": 1, "ood": 1}
    assert len(record["overlaps"]) == 6 and set(record["overlaps"].values()) == {0}
    # the validation seed is its own: changing the training seed leaves validation as it is
    other = make_splits(make_config("dca", output=tmp_path / "o", dataset=data, ood_dataset=ood,
                                    train_limit=10, eval_limit=8, validation_limit=6,
                                    ood_limit=5, seed=3).settings)  # fmt: skip
    assert [e.id for e in other.validation] == [e.id for e in splits.validation]
    assert [e.id for e in other.train] != [e.id for e in splits.train]


def test_every_pair_is_checked(tmp_path: Path) -> None:
    ex = [QAExample(id=f"q{i}", question=f"q {i}?", gold="1") for i in range(8)]
    fine = Splits(ex[:2], ex[2:4], ex[4:6], [QAExample(id="o", question="other?", gold="1")])
    assert set(overlaps(fine).values()) == {0}
    check_disjoint(fine)
    bad = Splits(ex[:2], ex[1:4], ex[4:6], [])
    assert overlaps(bad)["train/validation"] == 1
    with pytest.raises(TrainingRunError, match="training split shares 1 examples with the valid"):
        check_disjoint(bad)
    leak = Splits(ex[:2], [], ex[4:6], [QAExample(id="x", question=" Q 5? ", gold="1")])
    assert overlaps(leak)["heldout/ood"] == 1  # another dataset: the same question's text
    with pytest.raises(TrainingRunError, match="evaluation split shares 1 examples with the out"):
        check_disjoint(leak)


def test_the_training_set_as_ood_set_is_refused(tmp_path: Path) -> None:
    data = _data(tmp_path, 20)
    with pytest.raises(
        TrainingRunError, match=r"ood-dataset: .* is the training dataset and split"
    ):
        make_config("advice", output=tmp_path / "o", dataset=data, ood_dataset=data)


def test_held_apart_families_as_the_ood_set() -> None:
    """world_facts: train on the geography families, test out of distribution on the element
    families of the same dataset (``--ood-split``); the same dataset and split is refused."""
    s = make_config(
        "dca", output=Path("unused"), dataset="world_facts", train_split="geography_train",
        eval_split="geography_test", ood_dataset="world_facts", ood_split="elements_test",
        train_limit=20, eval_limit=10, ood_limit=12,
    ).settings  # fmt: skip
    splits = make_splits(s)
    assert {ex.meta["family"] for ex in splits.train} <= {
        "capital", "capital_country", "city_country", "currency", "continent", "city_continent"
    }  # fmt: skip
    assert {ex.meta["family"] for ex in splits.ood} <= {
        "element_symbol", "symbol_element", "element_number", "number_element"
    }  # fmt: skip
    assert len(splits.ood) == 12 and set(overlaps(splits).values()) == {0}
    with pytest.raises(TrainingRunError, match="is the training dataset and split"):
        make_config(
            "dca", output=Path("unused"), dataset="world_facts", train_split="geography_train",
            ood_dataset="world_facts", ood_split="geography_train",
        )  # fmt: skip


def test_validation_from_a_split_of_its_own(tmp_path: Path) -> None:
    rows = [
        {"id": f"{part}{i}", "question": f"{part} {i}?", "gold": str(i), "split": part}
        for part in ("train", "validation", "test")
        for i in range(12)
    ]
    path = tmp_path / "parts.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    s = make_config(
        "dca", output=tmp_path / "o", dataset=str(path), ood_dataset=None, train_split="train",
        validation_split="validation", eval_split="test", train_limit=12, eval_limit=5,
        validation_limit=4,
    ).settings  # fmt: skip
    splits = make_splits(s)
    assert all(e.id.startswith("validation") for e in splits.validation)
    assert len(splits.validation) == 4
    # the training split is not thinned by the validation sample: all 12 training rows remain
    assert sorted(e.id for e in splits.train) == sorted(f"train{i}" for i in range(12))
    assert all(e.id.startswith("test") for e in splits.heldout)
