"""``regrade_run``: grade a stored run again, from its stored answers, without the model.

The run's examples are loaded again from the settings in its manifest (or given by the caller,
for a run made on its own split) and must hash as the run's identity says. Every row is graded
with the new grader (``RowGrader``; a judge's verdicts go to the run's verdict cache batch by
batch, so an interrupted regrade resumes without asking again); only when all are graded are
the new verdicts written, in one transaction, and the manifest's ``grading`` updated: a failure
leaves the old verdicts whole.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from confalign.backends import Backend
from confalign.data.example import QAExample
from confalign.evaluate.config import ConfigError, EvalConfig, GradingConfig
from confalign.evaluate.datasets import load_datasets
from confalign.evaluate.grading import ExampleKey, RowGrader
from confalign.evaluate.identity import examples_hash
from confalign.runs import RunStore, stored_grading
from confalign.runs.manifest import utc_now

BATCH = 64  # rows per judge batch (each batch's verdicts are stored as they come)


@dataclass(frozen=True)
class RegradeResult:
    """``changes``: how many rows went from one verdict to another (``"wrong -> right"``...;
    unchanged rows under ``"right -> right"`` etc.); ``rules``: rows per deciding rule."""

    run_dir: Path
    grading: dict[str, Any]
    previous: dict[str, Any]
    n_rows: int
    changes: dict[str, int]
    rules: dict[str, int]


def regrade_run(
    run_dir: str | os.PathLike[str],
    grading: GradingConfig,
    *,
    examples: Mapping[str, Sequence[QAExample]] | None = None,
    judge_backend: Backend | None = None,
) -> RegradeResult:
    """Grade the stored rows of ``run_dir`` with ``grading`` (module docstring).

    ``examples``: per dataset, the run's examples (default: loaded from its manifest).
    ``judge_backend``: an already loaded backend for the judge (not closed here).
    """
    root = Path(run_dir)
    with RunStore.append(root) as store:
        manifest = store.manifest
        by_id = _examples(manifest, examples)
        rows = store.rows()
        grader = RowGrader(
            grading, judge_backend=(lambda: judge_backend) if judge_backend else None
        )
        try:
            new = [
                row
                for start in range(0, len(rows), BATCH)
                for row in grader.grade(rows[start : start + BATCH], by_id, store)
            ]
        finally:
            grader.close(keep=judge_backend)
        described = grading.describe()
        previous = stored_grading(manifest)
        store.regrade(new, grading=described)
        store.update_manifest(
            grading={**described, "regraded_at": utc_now(), "previous": _plain(previous)}
        )
    return RegradeResult(
        root,
        described,
        previous,
        len(new),
        dict(
            Counter(
                f"{_word(a.correct)} -> {_word(b.correct)}" for a, b in zip(rows, new, strict=True)
            )
        ),
        dict(Counter(r.rule or "none" for r in new)),
    )


def _examples(
    manifest: Mapping[str, Any], given: Mapping[str, Sequence[QAExample]] | None
) -> dict[ExampleKey, QAExample]:
    """The run's examples by (dataset, id), checked against the identity's hashes."""
    identity = manifest.get("identity") or {}
    expected = {d["name"]: d.get("examples_hash") for d in identity.get("datasets", [])}
    if given is None:
        settings = manifest.get("config") or {}
        known = {f.name for f in fields(EvalConfig)}
        settings = {k: v for k, v in settings.items() if k in known}
        config = EvalConfig(**{**settings, "device": "auto"})  # no model loads here
        given = {ds.name: ds.examples for ds in load_datasets(config)}
    out: dict[ExampleKey, QAExample] = {}
    for name, found in given.items():
        if name in expected and expected[name] != examples_hash(found):
            raise ConfigError(
                f"the examples of dataset {name!r} are not the ones the run was made on (their "
                "hash differs from the manifest's); pass the run's own examples"
            )
        out.update({(name, x.id): x for x in found})
    return out


def _word(correct: bool | None) -> str:
    return "no answer" if correct is None else "right" if correct else "wrong"


def _plain(grading: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in grading.items() if k != "previous"}
