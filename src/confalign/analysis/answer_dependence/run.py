"""Run the four answer-dependence analyses over datasets and store one record per question.

Layout inside the output run directory (a confalign run: ``manifest.json`` with this
analysis' identity, so ``confalign report``/``compare`` open it)::

    answer_dependence/records.jsonl   one JSON line per (dataset, format, analysis, example)
    answer_dependence/summary.json    the per dataset × format summary (``summary.py``)

Per dataset and format, in this order (rollout and IG use the own answer found first):

1. ``distribution``: chunks of questions; the model's own answer (``VerbalizedExtractor``'s
   own-answer step), then one scoring call for the level distributions given the correct
   answer, the wrong ones, the own answer and a blank: JSD and masking (``distributions``).
2. ``rollout`` on a seeded subset: attention rollout from the confidence position.
3. ``ig`` on a seeded subset: integrated gradients of the expected confidence.

Each record is appended (and synced to disk) as soon as it is computed; a rerun with the same
settings skips what is stored, after dropping a last line a kill cut short (said in one line).
``seconds`` in a record is its own wall time (a chunk's time split evenly).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from confalign.analysis.answer_dependence.attribution import integrated_gradients
from confalign.analysis.answer_dependence.config import AnswerDependenceConfig
from confalign.analysis.answer_dependence.distributions import (
    BLANK,
    answer_jsd,
    candidate_answers,
    expected_value,
    level_distributions,
)
from confalign.analysis.answer_dependence.rollout import rollout_row
from confalign.analysis.answer_dependence.segments import (
    segment_counts,
    segment_spans,
    segment_sums,
    token_segments,
)
from confalign.analysis.answer_dependence.summary import summarize
from confalign.analysis.answer_dependence.target import (
    LevelTarget,
    hf_parts,
    level_target,
    token_prompt,
)
from confalign.backends import Backend, BackendConfig, load_backend
from confalign.confidence._common import is_correct
from confalign.confidence.formats import ConfidenceFormat, get_format
from confalign.confidence.verbalized import VerbalizedExtractor
from confalign.data import load_benchmark
from confalign.data.example import QAExample
from confalign.data.sampling import sample
from confalign.runs import RunStore, atomic_write, jsonl_appender

DIR = "answer_dependence"
RECORDS = "records.jsonl"
SUMMARY = "summary.json"
Log = Callable[[str], None]


def run_answer_dependence(
    config: AnswerDependenceConfig, *, backend: Backend | None = None, log: Log = print
) -> Path:
    """Run the analyses of ``config`` (module doc); return the summary file's path.
    ``backend``: an already loaded model to use instead of loading ``config.model``.

    A ``KeyboardInterrupt`` (Ctrl-C) summarises the stored records, marks the run
    ``interrupted`` and is raised again."""
    datasets = {
        name: load_benchmark(
            name, limit=config.limit, seed=config.seed, stratify=config.stratify
        ).examples
        for name in config.datasets
    }
    formats = [get_format(f) for f in config.formats]
    with RunStore.create(config.output, config.identity()) as store:
        folder = Path(config.output) / DIR
        folder.mkdir(exist_ok=True)
        records_path = folder / RECORDS
        done = {_key(r) for r in read_records(records_path)}
        owned = backend is None
        status = "failed"
        try:
            if backend is None:
                backend = load_backend(config.backend, _backend_config(config))
            targets = _targets(backend, formats, config)
            with jsonl_appender(records_path) as append:
                for name, examples in datasets.items():
                    for fmt in formats:
                        work = _Work(backend, config, name, fmt, targets.get(fmt.name), done)
                        for record in work.run(list(examples), log):
                            append(json.dumps(record, allow_nan=True))
                            done.add(_key(record))
            status = "complete"
        except KeyboardInterrupt:
            status = "interrupted"
            log(f"interrupted: the stored records are summarised; rerun to resume ({folder})")
            raise  # the caller decides (the CLI exits 130); what is stored is kept
        finally:
            if owned and backend is not None:
                backend.close()
            # Whatever is stored is summarised, also after an interruption.
            summary = summarize(read_records(records_path), config)
            summary["status"] = status
            atomic_write(folder / SUMMARY, json.dumps(summary, indent=2, allow_nan=True) + "\n")
            store.finish(status)
    return folder / SUMMARY


def read_records(path: Path) -> list[dict[str, Any]]:
    """The stored records (a line cut short by a kill is ignored)."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def _key(record: dict[str, Any]) -> tuple[str, str, str, str]:
    return record["dataset"], record["format"], record["analysis"], record["example_id"]


def _backend_config(config: AnswerDependenceConfig) -> BackendConfig:
    return BackendConfig(
        model=config.model,
        adapter=config.adapter,
        dtype=config.dtype,  # type: ignore[arg-type]  # validated by BackendConfig
        device=config.device,
        threads=config.threads,
        seed=config.seed,
    )


def _targets(
    backend: Backend, formats: Sequence[ConfidenceFormat], config: AnswerDependenceConfig
) -> dict[str, LevelTarget]:
    """The confidence position of each format, checked before any question is computed."""
    if config.rollout_limit == 0 and config.ig_limit == 0:
        return {}
    return {fmt.name: level_target(backend, fmt) for fmt in formats}


class _Work:
    """The three steps for one dataset and format."""

    def __init__(
        self,
        backend: Backend,
        config: AnswerDependenceConfig,
        dataset: str,
        fmt: ConfidenceFormat,
        target: LevelTarget | None,
        done: set[tuple[str, str, str, str]],
    ) -> None:
        self.backend, self.config, self.dataset, self.fmt = backend, config, dataset, fmt
        self.target, self.done = target, done
        self.own: dict[str, str] = {}

    def run(self, examples: list[QAExample], log: Log) -> Iterator[dict[str, Any]]:
        pending = [ex for ex in examples if not self._done("distribution", ex)]
        log(f"{self.dataset} / {self.fmt.name}: distribution on {len(pending)} questions")
        for start in range(0, len(pending), self.config.chunk):
            yield from self._distribution(pending[start : start + self.config.chunk])
        for step, fn in (("rollout", self._rollout), ("ig", self._ig)):
            chosen = self._subset(examples, step)
            todo = [ex for ex in chosen if not self._done(step, ex)]
            log(f"{self.dataset} / {self.fmt.name}: {step} on {len(todo)} questions")
            for ex in todo:
                yield fn(ex)

    def _done(self, step: str, ex: QAExample) -> bool:
        return (self.dataset, self.fmt.name, step, ex.id) in self.done

    def _subset(self, examples: list[QAExample], step: str) -> list[QAExample]:
        k = self.config.sub_limit(step, len(examples))
        if k == 0:
            return []
        # Unstratified: the seeded hash order, so a larger limit takes a superset.
        return sample(examples, limit=k, seed=self.config.seed, stratify=False)

    def _base(self, ex: QAExample, step: str) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "format": self.fmt.name,
            "analysis": step,
            "example_id": ex.id,
            "subject": ex.subject,
        }

    def _distribution(self, chunk: list[QAExample]) -> Iterator[dict[str, Any]]:
        t0 = time.perf_counter()
        opened = [ex for ex in chunk if not ex.is_multiple_choice]
        generated = VerbalizedExtractor().own_answers(self.backend, opened, self.fmt)
        own_open = {ex.id: a.text for ex, a in zip(opened, generated, strict=True)}
        cands = candidate_answers(chunk, seed=self.config.seed)
        groups = [
            (c.correct, *c.wrong, *([own_open[ex.id]] if ex.id in own_open else []), BLANK)
            for ex, c in zip(chunk, cands, strict=True)
        ]
        scores = level_distributions(self.backend, chunk, self.fmt, groups)
        seconds = (time.perf_counter() - t0) / len(chunk)
        for ex, c, group, sc in zip(chunk, cands, groups, scores, strict=True):
            own = own_open.get(ex.id, sc.own)
            # Multiple choice: the own letter is one of the scored options.
            p_own = sc.p[len(group) - 2] if ex.id in own_open else sc.p[group.index(own)]
            p_wrong = sc.p[1 : 1 + len(c.wrong)]
            self.own[ex.id] = own
            yield self._base(ex, "distribution") | {
                "correct_answer": c.correct,
                "wrong_answers": list(c.wrong),
                "own_answer": own,
                "own_correct": is_correct(own, ex),
                "p_correct": sc.p[0].tolist(),
                "p_wrong": p_wrong.tolist(),
                "p_own": p_own.tolist(),
                "p_blank": sc.p[-1].tolist(),
                "jsd": answer_jsd(sc.p[0], p_wrong),
                "cv_correct": expected_value(sc.p[0], self.fmt),
                "cv_wrong": float(np.mean([expected_value(p, self.fmt) for p in p_wrong])),
                "cv_own": expected_value(p_own, self.fmt),
                "cv_blank": expected_value(sc.p[-1], self.fmt),
                "seconds": seconds,
            }

    def _prompt(self, ex: QAExample) -> tuple[list[int], list[str]]:
        """The own-answer prompt's ids (with the level prefix) and each token's segment."""
        assert self.target is not None
        answer = self._own_answer(ex)
        tp = token_prompt(self.backend, ex, self.fmt, answer, self.target)
        labels = token_segments(tp.offsets, segment_spans(tp.text, ex, self.fmt, answer))
        return list(tp.ids), labels

    def _own_answer(self, ex: QAExample) -> str:
        """The own answer the ``distribution`` step stored (read back after a resume)."""
        if ex.id not in self.own:
            for r in read_records(Path(self.config.output) / DIR / RECORDS):
                step = (r["dataset"], r["format"], r["analysis"])
                if step == (self.dataset, self.fmt.name, "distribution"):
                    self.own[r["example_id"]] = r["own_answer"]
        return self.own[ex.id]

    def _rollout(self, ex: QAExample) -> dict[str, Any]:
        t0 = time.perf_counter()
        model, _ = hf_parts(self.backend)
        ids, labels = self._prompt(ex)
        row = rollout_row(model, ids)
        return self._base(ex, "rollout") | {
            "answer": self._own_answer(ex),
            "shares": segment_sums(row, labels),
            "tokens": segment_counts(labels),
            # Within "other": the first token (the usual attention sink) and the confidence
            # position itself (the residual identity keeps much of it there).
            "first_token_share": float(row[0]),
            "last_token_share": float(row[-1]),
            "seconds": time.perf_counter() - t0,
        }

    def _ig(self, ex: QAExample) -> dict[str, Any]:
        assert self.target is not None
        t0 = time.perf_counter()
        model, _ = hf_parts(self.backend)
        ids, labels = self._prompt(ex)
        attr = integrated_gradients(
            model,
            ids,
            labels,
            self.target,
            self.backend.pad_id,  # type: ignore[attr-defined]
            n_steps=self.config.ig_steps,
            internal_batch_size=self.config.ig_batch,
        )
        return self._base(ex, "ig") | {
            "answer": self._own_answer(ex),
            "attribution": segment_sums(attr.per_token, labels),
            "abs_attribution": segment_sums(abs(attr.per_token), labels),
            "tokens": segment_counts(labels),
            "output": attr.output,
            "baseline_output": attr.baseline_output,
            "delta": attr.delta,
            "relative_gap": attr.relative_gap,
            "steps": self.config.ig_steps,
            "seconds": time.perf_counter() - t0,
        }
