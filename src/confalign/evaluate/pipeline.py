"""``run_eval``: datasets × extractors in length-sorted batches, each batch stored as produced.

Order of work, chosen so that bad input fails before anything is written or loaded:

1. the ``EvalConfig`` is already valid (it validates itself when built);
2. datasets load (a malformed file raises ``DataError`` here), extractors are built;
3. the run store opens or resumes (a run made by another configuration is refused here);
4. the backend loads, once;
5. for each dataset, for each extractor, batches of pending examples are extracted, graded with
   the config's grader (``confalign.evaluate.grading``; a judge's model loads on first use,
   or is the evaluated model itself when they are the same) and each batch's rows are
   written in one transaction.

A run is graded by one grader: resuming it with another is refused (``confalign regrade``
changes the grading of stored results); a run stored before graders were named was graded
``exact``.

Batches are planned over *all* of a dataset's examples (sorted by prompt length, longest first,
ties by dataset order) and then filtered to the pending ones, so a resumed run computes exactly
the batches an uninterrupted run would have, and its results are the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confalign.backends import Backend, load_backend
from confalign.confidence.base import ConfidenceRecord, Extractor
from confalign.data.example import QAExample
from confalign.evaluate.catalog import build_extractors_for, prompt_length
from confalign.evaluate.config import GRADING_FIELDS, ConfigError, EvalConfig
from confalign.evaluate.datasets import LoadedDataset, load_datasets
from confalign.evaluate.grading import ExampleKey, RowGrader, load_judge_backend
from confalign.evaluate.identity import build_identity, config_keys, extractor_id
from confalign.evaluate.interrupt import EvalInterrupted, stop_on_signals
from confalign.evaluate.progress import EvalProgress
from confalign.evaluate.rows import row_from_record
from confalign.runs import MANIFEST_NAME, ResultRow, RunStore, RunStoreError, stored_grading
from confalign.runs.manifest import Status

Batch = list[tuple[int, QAExample]]  # (order in the dataset, example)


class ExtractorContractError(RuntimeError):
    """An extractor returned records that do not match its ``method_keys`` for its batch."""


def run_eval(
    config: EvalConfig,
    *,
    progress: bool = True,
    backend: Backend | None = None,
    extractors: Sequence[Extractor] | None = None,
    examples: Mapping[str, Sequence[QAExample]] | None = None,
) -> Path:
    """Evaluate ``config`` and return the run directory; resumes a run with the same settings.

    ``backend``: an already loaded backend to use instead of loading ``config.model`` (its
    description is recorded; ``config`` must still name the model it is; it is not closed).
    ``extractors``: use these instead of building them from ``config`` (each applies to the
    examples it ``accepts``). The backend is not loaded when everything is already stored.
    ``examples``: per dataset name of ``config``, the examples to evaluate instead of loading
    and sampling them (a caller's own split; the identity hashes them like loaded ones).
    Raises ``EvalInterrupted`` after a clean stop on SIGINT/SIGTERM (or a second Ctrl-C).
    """
    if examples is not None:
        if set(examples) != set(config.datasets):
            raise ValueError(f"examples must be given for exactly the datasets {config.datasets}")
        datasets = [LoadedDataset(name, tuple(examples[name])) for name in config.datasets]
    else:
        datasets = load_datasets(config)
    overlap = _adapter_overlap(config, datasets)
    chosen = {ds.name: _extractors(config, ds, extractors) for ds in datasets}
    identity = build_identity(config, datasets, chosen)
    keys = config_keys(identity)
    own_backend = backend is None
    grading = check_grading(config.run_dir(), config.grading().describe())
    by_id = {(ds.name, x.id): x for ds in datasets for x in ds.examples}
    grader: RowGrader | None = None
    with RunStore.create(
        config.run_dir(), identity, config=config.as_dict(), grading=grading
    ) as store:
        if overlap:
            store.update_manifest(adapter_overlap=overlap)
        work = [_plan(store, ds, chosen[ds.name], config.batch_size) for ds in datasets]
        try:
            if any(w.left for w in work):
                if backend is None:
                    backend = load_backend(config.backend, config.backend_config())
                store.update_manifest(backend=backend.describe())
                _check_backend(backend, work)
                grader = _grader(config, backend)
                _run(store, backend, work, keys, progress, _Grading(grader, by_id))
        except EvalInterrupted:
            _finish_after_error(store, "interrupted")
            raise
        except KeyboardInterrupt:
            _finish_after_error(store, "interrupted")
            raise EvalInterrupted(store.run_dir, store.count()) from None
        except BaseException:
            _finish_after_error(store, "failed")
            raise
        else:
            store.finish("complete")
        finally:
            if grader is not None:
                grader.close(keep=backend)
            if own_backend and backend is not None:
                backend.close()
    return store.run_dir


def _adapter_overlap(config: EvalConfig, datasets: list[LoadedDataset]) -> dict[str, int]:
    """Examples the adapter was trained on, per dataset (``adapters``): refused (before
    anything is written) unless ``allow_overlap``, then recorded in the manifest."""
    if not config.adapter:
        return {}
    from confalign.adapters import check_overlap

    examples = {ds.name: ds.examples for ds in datasets}
    return check_overlap(config.adapter, examples, allow=config.allow_overlap)


def check_grading(run_dir: Path, grading: Mapping[str, Any]) -> Mapping[str, Any]:
    """Refuse to resume a run that holds results graded by another grader; returns the
    manifest's ``grading`` to keep (a regraded run's history included)."""
    if not (run_dir / MANIFEST_NAME).exists():
        return grading
    try:
        with RunStore.open(run_dir) as store:
            stored = store.count()
            previous = stored_grading(store.manifest)
    except RunStoreError:
        return grading  # RunStore.create says what is wrong with the directory
    if not stored:
        return grading
    if any(previous.get(k) != grading.get(k) for k in GRADING_FIELDS):
        raise ConfigError(
            f"{run_dir} holds results graded with {_describe(previous)}, not "
            f"{_describe(grading)}: resume it with the same grader, or run `confalign regrade "
            f"{run_dir} --grader {grading['grader']}` first"
        )
    return previous


def _describe(grading: Mapping[str, object]) -> str:
    model = grading.get("judge_model")
    return f"grader {grading.get('grader')!r}" + (f" (judge {model})" if model else "")


@dataclass(frozen=True)
class _Grading:
    grader: RowGrader
    examples: Mapping[ExampleKey, QAExample]


def _grader(config: EvalConfig, backend: Backend) -> RowGrader:
    """The run's grader; a judge that is the evaluated model (same backend, no adapter) uses
    the loaded ``backend`` instead of loading it twice."""
    grading = config.grading()
    same = (grading.judge_model, grading.judge_backend) == (config.model, config.backend)
    if same and config.adapter is None:
        return RowGrader(grading, judge_backend=lambda: backend)
    settings = {"dtype": config.dtype, "device": config.device, "threads": config.threads}
    return RowGrader(grading, judge_backend=lambda: load_judge_backend(grading, **settings))


def _finish_after_error(store: RunStore, status: Status) -> None:
    """Record ``status`` if the manifest can still be written: after a failed write (a full
    disk, the directory removed) it may not be, and the error to report is the first one."""
    with suppress(RunStoreError, OSError):
        store.finish(status)


@dataclass
class DatasetWork:
    """A dataset's pending batches per extractor, and its unit counts (example × extractor)."""

    dataset: LoadedDataset
    batches: list[tuple[Extractor, list[Batch]]]
    total: int
    left: int


def _plan(
    store: RunStore, ds: LoadedDataset, extractors: list[Extractor], size: int
) -> DatasetWork:
    done = store.done(ds.name)
    planned = [(e, plan_batches(ds.examples, e, size)) for e in extractors]
    total = sum(len(b) for _, batches in planned for b in batches)
    pending = [(e, [p for b in batches if (p := _pending(b, e, done))]) for e, batches in planned]
    left = sum(len(b) for _, batches in pending for b in batches)
    return DatasetWork(ds, pending, total, left)


def _check_backend(backend: Backend, work: Sequence[DatasetWork]) -> None:
    """Let extractors that can say so refuse the backend before any batch runs."""
    for w in work:
        for extractor, batches in w.batches:
            check = getattr(extractor, "check_backend", None)
            if batches and callable(check):
                check(backend, [x for b in batches for _, x in b])


def _run(
    store: RunStore,
    backend: Backend,
    work: Sequence[DatasetWork],
    keys: dict[str, str],
    progress: bool,
    grading: _Grading,
) -> None:
    with stop_on_signals() as stop, EvalProgress(enabled=progress) as bars:
        for w in work:
            bars.start(w.dataset.name, total=w.total, done=w.total - w.left)
            for extractor, batches in w.batches:
                bars.describe(extractor.name)
                key = keys[extractor_id(extractor)]
                for batch in batches:
                    if stop.requested:  # set during the previous batch, which is stored
                        raise EvalInterrupted(store.run_dir, store.count())
                    records = extractor.extract(backend, [x for _, x in batch])
                    rows = to_rows(records, batch, extractor, w.dataset.name, key)
                    store.write(grading.grader.grade(rows, grading.examples, store))
                    bars.advance(len(batch))


def _extractors(
    config: EvalConfig, ds: LoadedDataset, given: Sequence[Extractor] | None
) -> list[Extractor]:
    candidates = build_extractors_for(config, ds.examples) if given is None else list(given)
    chosen = [e for e in candidates if any(e.accepts(x) for x in ds.examples)]
    seen: dict[str, str] = {}
    for e in chosen:
        for key in e.method_keys():
            if key in seen:
                raise ExtractorContractError(
                    f"extractors {seen[key]!r} and {extractor_id(e)!r} both produce {key!r}"
                )
            seen[key] = extractor_id(e)
    return chosen


def plan_batches(examples: Sequence[QAExample], extractor: Extractor, size: int) -> list[Batch]:
    """The examples ``extractor`` accepts, longest prompt first (ties: dataset order), in
    chunks of ``size``."""
    chosen = [(i, x) for i, x in enumerate(examples) if extractor.accepts(x)]
    chosen.sort(key=lambda item: (-prompt_length(item[1]), item[0]))
    return [chosen[i : i + size] for i in range(0, len(chosen), size)]


def _pending(batch: Batch, extractor: Extractor, done: set[tuple[str, str]]) -> Batch:
    keys = extractor.method_keys()
    return [(i, x) for i, x in batch if not all((x.id, k) in done for k in keys)]


def to_rows(
    records: Sequence[ConfidenceRecord],
    batch: Batch,
    extractor: Extractor,
    dataset: str,
    config_key: str,
) -> list[ResultRow]:
    """Wrap a batch's records as store rows, checking them against the extractor's contract:
    exactly one record per (example of the batch, method key), failures included."""
    by_id = {x.id: (i, x) for i, x in batch}
    expected = {(x.id, k) for _, x in batch for k in extractor.method_keys()}
    got = [(r.example_id, r.key) for r in records]
    if len(set(got)) != len(got) or set(got) != expected:
        missing = sorted(expected - set(got))[:3]
        extra = sorted(set(got) - expected)[:3]
        raise ExtractorContractError(
            f"extractor {extractor_id(extractor)!r} returned {len(got)} records for "
            f"{len(expected)} (example, method) pairs; missing {missing}, unexpected {extra}"
        )
    return [
        row_from_record(
            r,
            dataset=dataset,
            example_order=by_id[r.example_id][0],
            subject=by_id[r.example_id][1].subject,
            config_key=config_key,
            gold=_gold(by_id[r.example_id][1]),
        )
        for r in records
    ]


def _gold(example: QAExample) -> str:
    return example.gold_letter if example.is_multiple_choice else example.gold_text
