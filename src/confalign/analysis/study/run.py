"""Run (or reuse) one eval per model x task through the run store, then compute the study.

Each model x task is an ordinary ``confalign eval`` run in ``<runs_dir>/<model key>/<task>-
n<limit>-s<seed>-<prompt>``: re-running a study resumes what was interrupted and reuses what
is stored (a model is loaded only when one of its runs has work left, and once for all its
tasks). ``prompt`` is ``plain`` (``chat=False``: every model sees the same lm-eval text, as in
the paper, which ran lm-eval without chat templates) or ``chat`` (each model's own chat
template where it has one).

Tasks are loaded and checked before any model: a task with a question without options is an
error (the study compares option distributions).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from confalign.analysis.study.compute import MethodData, compute_study
from confalign.analysis.study.config import ModelSpec, StudyConfig, StudyError
from confalign.backends.lazy import LazyBackend
from confalign.data.example import LETTERS
from confalign.evaluate import EvalConfig, run_eval
from confalign.runs import ResultRow, RunStore


@dataclass(frozen=True)
class StudyResult:
    """``data``: what study.json holds; ``arrays[model label][task][method]``: the arrays
    behind it (for the reliability diagrams)."""

    data: dict[str, Any]
    arrays: dict[str, dict[str, dict[str, MethodData]]]


def eval_config(spec: ModelSpec, task: str, config: StudyConfig) -> EvalConfig:
    """The ``EvalConfig`` of one model x task of the study."""
    options = dict(config.eval_options)
    prompt = "chat" if options.pop("chat", False) else "plain"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(task).stem if "/" in task else task)
    name = f"{slug}-n{config.limit or 'all'}-s{config.seed}-{prompt}"
    return EvalConfig(
        datasets=(task,),
        model=spec.model,
        adapter=spec.adapter,
        methods=config.methods,
        limit=config.limit,
        seed=config.seed,
        output=config.run_root / spec.key / name,
        **options,
    )


def check_tasks(config: StudyConfig) -> None:
    """Load every task (as the evals will) and reject one with a question without options."""
    from confalign.evaluate.datasets import load_datasets

    for task in config.tasks:
        cfg = eval_config(config.pairs[0].base, task, config)
        (loaded,) = load_datasets(cfg)
        open_qa = [ex for ex in loaded.examples if not ex.is_multiple_choice]
        if open_qa:
            raise StudyError(
                f"task {task!r} has questions without options ({len(open_qa)} of "
                f"{len(loaded.examples)}, e.g. {open_qa[0].id!r}); the study compares option "
                "distributions: give a multiple-choice task (calibrated_math_mc for "
                "calibrated_math)"
            )


def run_evals(config: StudyConfig, *, progress: bool = True) -> dict[str, dict[str, Path]]:
    """Run or reuse every model x task eval; ``{model label: {task: run dir}}``."""
    chat = bool(config.eval_options.get("chat", False))
    runs: dict[str, dict[str, Path]] = {}
    for spec in config.models():
        configs = {task: eval_config(spec, task, config) for task in config.tasks}
        first = next(iter(configs.values()))
        backend_config = replace(first.backend_config(), chat=None if chat else False)
        backend = LazyBackend(first.backend, backend_config)
        try:
            runs[spec.label] = {
                task: run_eval(cfg, progress=progress, backend=backend)  # type: ignore[arg-type]
                for task, cfg in configs.items()
            }
        finally:
            backend.close()
    return runs


def method_data(rows: list[ResultRow]) -> MethodData:
    """The usable records of one run x method as study arrays (gold from ``ResultRow.gold``)."""
    used = [r for r in rows if r.confidence is not None and r.correct is not None]
    sizes = {len(r.probs) if r.probs is not None else 0 for r in used}
    probs = None
    if len(sizes) == 1 and 0 not in sizes:
        probs = np.array([r.probs for r in used], dtype=np.float64)
    labels = np.array(
        [LETTERS.index(r.gold) if len(r.gold) == 1 and r.gold in LETTERS else -1 for r in used],
        dtype=np.int64,
    )
    return MethodData(
        example_ids=tuple(r.example_id for r in used),
        confidence=np.array([r.confidence for r in used], dtype=np.float64),
        correct=np.array([float(bool(r.correct)) for r in used], dtype=np.float64),
        probs=probs,
        labels=labels,
    )


def read_arrays(
    runs: Mapping[str, Mapping[str, Path]], config: StudyConfig
) -> dict[str, dict[str, dict[str, MethodData]]]:
    """``[model label][task][method]`` arrays from the stored runs."""
    out: dict[str, dict[str, dict[str, MethodData]]] = {}
    for label, tasks in runs.items():
        out[label] = {}
        for task, run_dir in tasks.items():
            with RunStore.open(run_dir) as store:
                out[label][task] = {m: method_data(store.rows(task, m)) for m in config.methods}
    return out


def run_study(config: StudyConfig, *, progress: bool = True) -> StudyResult:
    """Check the tasks, run or reuse the evals, and compute the study (nothing is written)."""
    check_tasks(config)
    runs = run_evals(config, progress=progress)
    arrays = read_arrays(runs, config)
    paths = {label: {t: str(p) for t, p in tasks.items()} for label, tasks in runs.items()}
    return StudyResult(compute_study(arrays, config, paths), arrays)
