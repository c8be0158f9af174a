"""``load_benchmark``: a registered benchmark or a local file -> filtered, sampled examples."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from confalign.data.benchmarks import BENCHMARKS, subject_matches
from confalign.data.files import SUFFIXES, ColumnMap, load_file
from confalign.data.rows import LoadResult
from confalign.data.sampling import sample


def is_path(name_or_path: str) -> bool:
    """Whether ``name_or_path`` means a file: a known suffix, a path separator, or it exists."""
    if name_or_path in BENCHMARKS:
        return False
    p = Path(name_or_path)
    return p.suffix.lower() in SUFFIXES or "/" in name_or_path or "\\" in name_or_path or p.exists()


def parse_spec(name: str) -> list[tuple[str, str | None]] | None:
    """The parts of a combined benchmark name, or None for a plain name or a path.

    ``NAME:SPLIT`` names one registered benchmark's split (``world_facts_mc:geography_all``), so
    tasks with different splits can sit in one list; ``A+B`` (each part ``NAME`` or
    ``NAME:SPLIT``) is the union of the parts' examples (``world_facts:elements_all+
    calibrated_math:train``). ``ValueError`` names an unknown part."""
    if name in BENCHMARKS or ("+" not in name and ":" not in name) or "/" in name:
        return None
    parts: list[tuple[str, str | None]] = []
    for part in name.split("+"):
        bench, _, split = part.strip().partition(":")
        if bench not in BENCHMARKS:
            raise KeyError(f"{name}: part {part!r}: {BENCHMARKS.unknown_message(bench)}")
        parts.append((bench, split or None))
    return parts


def _load_parts(name: str, parts: list[tuple[str, str | None]], split: str | None) -> LoadResult:
    """The union of ``parts`` (``parse_spec``); a ``split`` argument fills parts without one
    and must agree with those that name one."""
    results = []
    for bench, own in parts:
        if own and split and own != split:
            raise ValueError(f"{name}: {bench} names split {own!r} but split {split!r} was asked")
        results.append(BENCHMARKS.get(bench).load(split=own or split, subjects=None))
    examples = [ex for r in results for ex in r.examples]
    seen: set[str] = set()
    for ex in examples:
        if ex.id in seen:
            raise ValueError(f"{name}: example id {ex.id!r} occurs in two parts")
        seen.add(ex.id)
    return LoadResult(
        name=name,
        source=" + ".join(r.source for r in results),
        split="+".join(r.split for r in results),
        examples=examples,
        skipped=[s for r in results for s in r.skipped],
        n_available=len(examples),
    )


def _filter_subjects(result: LoadResult, subjects: tuple[str, ...]) -> LoadResult:
    kept = [ex for ex in result.examples if subject_matches(ex.subject, subjects)]
    if not kept:
        found = sorted({ex.subject for ex in result.examples})
        shown = ", ".join(found[:20]) + (", ..." if len(found) > 20 else "")
        raise ValueError(
            f"{result.name}: no examples with subject(s) {list(subjects)}; "
            f"its subjects: {shown or '(none: the data has no subject field)'}"
        )
    return replace(result, examples=kept, n_available=len(kept))


def load_benchmark(
    name_or_path: str,
    *,
    split: str | None = None,
    limit: int | None = None,
    seed: int = 0,
    stratify: bool = False,
    subjects: Sequence[str] | str | None = None,
    column_map: ColumnMap | None = None,
) -> LoadResult:
    """Load a benchmark by registry name, or a local JSONL/JSON/CSV/TSV/Parquet file.

    Parameters
    ----------
    name_or_path : a name of ``BENCHMARKS`` (``confalign datasets list``), such a name with a
        split (``NAME:SPLIT``), a union of those (``A+B``; ``parse_spec``), or a file path.
    split : the split; default the benchmark's evaluation split (files: all rows, or the rows
        whose ``split`` column has this value).
    limit : keep a seeded subset of this many examples (``confalign.data.sampling``).
    seed : the subset's seed.
    stratify : allocate ``limit`` across subjects in proportion.
    subjects : keep these subjects (a subject also takes its ``subject/...`` children).
    column_map : files only: our field -> your column (``confalign.data.files``).

    Returns
    -------
    LoadResult with ``examples`` (in dataset order), ``skipped`` (rows that are not questions,
    with reasons), ``source`` and ``n_available`` (the examples sampled from).

    Raises ``KeyError`` for an unknown name (with the known ones), ``DataError`` for malformed
    rows, ``DatasetUnavailableError`` (an ``OSError``) when the data cannot be read here,
    ``ValueError`` for bad arguments.
    """
    wanted = (subjects,) if isinstance(subjects, str) else subjects
    wanted_t = tuple(wanted) if wanted is not None else None
    parts = parse_spec(name_or_path)
    if parts is not None:
        if column_map:
            raise ValueError("column_map applies to local files, not to registered benchmarks")
        result = _load_parts(name_or_path, parts, split)
    elif name_or_path in BENCHMARKS:
        if column_map:
            raise ValueError("column_map applies to local files, not to registered benchmarks")
        result = BENCHMARKS.get(name_or_path).load(split=split, subjects=wanted_t)
    elif is_path(name_or_path):
        result = load_file(name_or_path, column_map=column_map, split=split)
    else:
        message = BENCHMARKS.unknown_message(name_or_path)
        raise KeyError(f"{message}; or give a path to a {'/'.join(SUFFIXES)} file")
    if wanted_t is not None:
        result = _filter_subjects(result, wanted_t)
    examples = sample(result.examples, limit=limit, seed=seed, stratify=stratify)
    return replace(result, examples=examples)
