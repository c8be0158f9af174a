"""What a registered benchmark is: where its rows come from and how one row becomes a
``QAExample``. Each benchmark module defines its ``SPEC`` (``arc`` and ``calibrated_math`` two);
``benchmarks/__init__.py`` registers them, one line each.

A Hugging Face benchmark reads ``datasets.load_dataset(hub_id, config, split=split)``; its
converter maps one row of that real schema. ``Benchmark.from_rows`` runs the same mapping
over rows given by the caller, so the mapping is testable without the Hub.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from confalign.data.example import QAExample
from confalign.data.rows import Converter, LoadResult, convert_rows
from confalign.registry import unknown_name_message

RowConverter = Callable[[Mapping[str, Any], int, str], QAExample]
ConverterFactory = Callable[[str], Converter]


def per_row(convert: RowConverter) -> ConverterFactory:
    """A converter factory for a mapping that needs no state across rows."""
    return lambda split: lambda row, number: convert(row, number, split)


class DatasetUnavailableError(OSError):
    """A benchmark's rows cannot be read here (no network, a package not installed)."""


def hub_rows(hub_id: str, config: str | None, split: str, *, hint: str = "") -> Iterator[Any]:
    """The rows of one Hugging Face split; ``DatasetUnavailableError`` when they cannot load."""
    try:
        from datasets import load_dataset
    except ImportError as exc:
        raise DatasetUnavailableError(f"{hub_id} needs the 'datasets' package: {exc}") from exc
    hub_logger = logging.getLogger("huggingface_hub")
    level = hub_logger.level
    hub_logger.setLevel(logging.ERROR)  # its retry warnings; the failure is reported below
    try:
        dataset = load_dataset(hub_id, config, split=split)
    except Exception as exc:  # network, auth, cache and schema failures all end up here
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        where = f"{hub_id} ({config or 'default'}, split {split})"
        raise DatasetUnavailableError(
            f"could not load {where} from the Hugging Face Hub: {first}. It needs the network "
            f"(or a local Hugging Face cache){'; ' + hint if hint else ''}"
        ) from exc
    finally:
        hub_logger.setLevel(level)
    return iter(dataset)


@dataclass(frozen=True)
class Benchmark:
    """A registered benchmark.

    ``converter(split)`` returns a function ``(row, row_number) -> QAExample`` for one load
    (``per_row`` wraps a stateless mapping); ``None`` when ``read`` yields ``QAExample``s
    already (generated data). ``read(split, subjects)`` yields ``(row number, raw row)``
    pairs; the default reads the Hub. ``splits`` are the splits with gold labels, ``sizes``
    their row counts when known, ``subjects`` the known subject names (checked before loading).
    """

    name: str
    description: str
    splits: tuple[str, ...]
    default_split: str
    converter: ConverterFactory | None
    hub_id: str | None = None
    config: str | None = None
    sizes: Mapping[str, int] = field(default_factory=dict)
    subjects: tuple[str, ...] = ()
    read: Callable[[str, tuple[str, ...] | None], Iterable[tuple[int, Any]]] | None = None
    source_label: Callable[[str], str] | None = None
    offline: Callable[[], str] | None = None
    hint: str = ""
    unlabeled_splits: tuple[str, ...] = ()

    @property
    def needs_network(self) -> bool:
        return self.offline is None

    def availability(self) -> str:
        """``built in``, ``installed``, ``missing: <how to install>`` or ``network``."""
        return self.offline() if self.offline else "network"

    def source(self, split: str) -> str:
        if self.source_label:
            return self.source_label(split)
        return f"{self.hub_id} ({self.config or 'default'}, {split})"

    def check_split(self, split: str | None) -> str:
        split = split or self.default_split
        if split in self.splits:
            return split
        extra = ""
        if split in self.unlabeled_splits:
            extra = f" ({split!r} exists but its answers are not public)"
        raise ValueError(
            f"benchmark {self.name!r} has no split {split!r}{extra}; "
            f"splits with answers: {', '.join(self.splits)}"
        )

    def check_subjects(self, subjects: Sequence[str] | None) -> tuple[str, ...] | None:
        if subjects is None or not self.subjects:
            return tuple(subjects) if subjects is not None else None
        unknown = [w for w in subjects if not any(subject_matches(s, (w,)) for s in self.subjects)]
        if unknown:
            raise ValueError(
                unknown_name_message(f"{self.name} subject", unknown[0], self.subjects)
            )
        return tuple(subjects)

    def raw_rows(self, split: str, subjects: tuple[str, ...] | None) -> Iterable[tuple[int, Any]]:
        if self.read is not None:
            return self.read(split, subjects)
        assert self.hub_id is not None, f"{self.name}: a Hub benchmark needs hub_id"
        return enumerate(hub_rows(self.hub_id, self.config, split, hint=self.hint), start=1)

    def from_rows(self, rows: Iterable[Any], *, split: str | None = None) -> LoadResult:
        """Map ``rows`` (raw rows in this benchmark's schema, in order) to examples."""
        split = self.check_split(split)
        return self._convert(enumerate(rows, start=1), split, self.source(split))

    def load(
        self, *, split: str | None = None, subjects: Sequence[str] | None = None
    ) -> LoadResult:
        """Every example of ``split`` (default: the evaluation split), optionally by subject."""
        split = self.check_split(split)
        wanted = self.check_subjects(subjects)
        return self._convert(self.raw_rows(split, wanted), split, self.source(split))

    def _convert(self, rows: Iterable[tuple[int, Any]], split: str, source: str) -> LoadResult:
        convert = self.converter(split) if self.converter else _passthrough
        return convert_rows(rows, convert, name=self.name, source=source, split=split)


def subject_matches(subject: str, wanted: Iterable[str]) -> bool:
    """``subject`` is one of ``wanted`` or under one of them (``multiplication`` takes
    ``multiplication/2``)."""
    return any(subject == w or subject.startswith(w + "/") for w in wanted)


def _passthrough(row: Any, number: int) -> QAExample:
    if not isinstance(row, QAExample):
        raise TypeError(f"row {number}: expected a QAExample, got {type(row).__name__}")
    return row
