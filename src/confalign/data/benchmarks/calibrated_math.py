"""CalibratedMath as registered benchmarks (the generator: ``confalign.data.calibrated_math``).

``calibrated_math``: open QA, numeric answers, 100 questions per task from generator seed 0
(a fixed dataset: the ``seed`` of ``load_benchmark`` only picks subsets). Splits: ``test`` (the
multiply-divide group, 71 tasks, 7,100 questions), ``train`` (add-subtract, 109 tasks,
10,900), ``all``. ``calibrated_math_mc``: the same questions with 3 numeric distractors each.
Subjects are ``<operation>/<digits>``; ``subjects=["multiplication"]`` takes every digit setting.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal, cast

from confalign.data.benchmarks.base import Benchmark
from confalign.data.calibrated_math import generate_calibrated_math, tasks
from confalign.data.distractors import add_distractors

N_PER_TASK = 100
SUBJECTS = tuple(t.subject for t in tasks())
SPLITS = ("test", "train", "all")
SIZES = {"test": 7100, "train": 10900, "all": 18000}
Split = Literal["train", "test", "all"]


def _generated(split: str) -> list[Any]:
    """The fixed dataset of ``split``: N_PER_TASK questions per task from generator seed 0."""
    return generate_calibrated_math(split=cast(Split, split), n_per_task=N_PER_TASK, seed=0)


def read(split: str, subjects: tuple[str, ...] | None) -> Iterator[tuple[int, Any]]:
    return enumerate(_generated(split), start=1)


def read_mc(split: str, subjects: tuple[str, ...] | None) -> Iterator[tuple[int, Any]]:
    return enumerate(add_distractors(_generated(split), k=3, seed=0, source="numeric"), start=1)


SPEC = Benchmark(
    name="calibrated_math",
    description="CalibratedMath arithmetic, open QA, numeric match (generated)",
    splits=SPLITS,
    default_split="test",
    converter=None,
    sizes=SIZES,
    subjects=SUBJECTS,
    read=read,
    source_label=lambda split: f"generated (CalibratedMath tasks, seed 0, {split})",
    offline=lambda: "built in",
)
MC_SPEC = Benchmark(
    name="calibrated_math_mc",
    description="CalibratedMath with 3 numeric distractors, 4 options (generated)",
    splits=SPLITS,
    default_split="test",
    converter=None,
    sizes=SIZES,
    subjects=SUBJECTS,
    read=read_mc,
    source_label=lambda split: f"generated (CalibratedMath tasks + distractors, seed 0, {split})",
    offline=lambda: "built in",
)
