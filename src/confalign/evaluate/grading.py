"""Grade result rows with a run's grader; every row gets its verdict and the rule that made it.

``contains``/``exact`` are ``confalign.data.grading``'s rules. ``judge`` grades open answers
with an LLM (``confalign.evaluate.judge``) and multiple choice by letter; its verdicts are
kept in the run's verdict cache (``RunStore.store_verdicts``: the reply, read again by
``parse_verdict``) as each batch is judged, so a
resumed eval or regrade asks the judge only what it has not answered. ``run_eval`` grades each
batch before writing it; ``confalign regrade`` grades a stored run again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from confalign.backends import Backend, BackendConfig, load_backend
from confalign.data.example import QAExample
from confalign.data.grading import Grade, grade
from confalign.evaluate.config import GradingConfig
from confalign.evaluate.judge import Judge, JudgeItem, judge_key, judge_target, parse_verdict
from confalign.runs import ResultRow, RunStore

JUDGE_EXTRA = "judge"  # the key of a row's ``extra`` that holds the judge's grade
ExampleKey = tuple[str, str]  # (dataset, example id)


class RowGrader:
    """Grades rows of one run under ``config``. ``judge_backend``: a callable that loads the
    judge's backend when it is first needed (not called when every verdict is cached)."""

    def __init__(
        self, config: GradingConfig, judge_backend: Callable[[], Backend] | None = None
    ) -> None:
        self.config = config
        self.key = judge_key(config.describe()) if config.grader == "judge" else ""
        self._load = judge_backend or (lambda: load_judge_backend(config))
        self._judge: Judge | None = None

    def grade(
        self,
        rows: Sequence[ResultRow],
        examples: Mapping[ExampleKey, QAExample],
        store: RunStore,
    ) -> list[ResultRow]:
        """``rows`` with ``correct``, ``rule`` and the judge's grade in ``extra`` set anew."""
        if self.config.grader != "judge":
            rule = self.config.grader
            return [_with(r, grade(r.prediction, _example(examples, r), grader=rule)) for r in rows]
        return self._judge_rows(rows, examples, store)

    def _judge_rows(
        self,
        rows: Sequence[ResultRow],
        examples: Mapping[ExampleKey, QAExample],
        store: RunStore,
    ) -> list[ResultRow]:
        items = {
            i: _item(r, _example(examples, r))
            for i, r in enumerate(rows)
            if r.prediction.strip() and not _example(examples, r).is_multiple_choice
        }
        known = {k: parse_verdict(raw) for k, (_, raw) in store.verdicts(self.key).items()}
        todo = [item for item in items.values() if item.key not in known]
        if todo:
            fresh = self.judge()(todo)
            store.store_verdicts(self.key, {k: (v.grade, v.raw) for k, v in fresh.items()})
            known.update(fresh)
        out = []
        for i, row in enumerate(rows):
            if i not in items:
                out.append(_with(row, grade(row.prediction, _example(examples, row))))
                continue
            verdict = known[items[i].key]
            extra = {**row.extra, JUDGE_EXTRA: {"grade": verdict.grade, "parsed": verdict.parsed}}
            out.append(replace(row, correct=verdict.correct, rule="judge", extra=extra))
        return out

    def judge(self) -> Judge:
        """The judge, its backend loaded on first use."""
        if self._judge is None:
            self._judge = Judge(self._load())
        return self._judge

    def close(self, keep: Backend | None = None) -> None:
        """Close the judge's backend unless it is ``keep`` (the evaluated model, shared)."""
        if self._judge is not None and self._judge.backend is not keep:
            self._judge.backend.close()
        self._judge = None


def load_judge_backend(config: GradingConfig, **settings: object) -> Backend:
    """Load the judge's model on its backend; ``settings``: further ``BackendConfig`` fields
    (device, dtype, threads...)."""
    assert config.judge_model  # GradingConfig checked it
    backend_config = BackendConfig(
        model=config.judge_model,
        options=dict(config.judge_options),
        **settings,  # type: ignore[arg-type]
    )
    return load_backend(config.judge_backend, backend_config)


def _with(row: ResultRow, verdict: Grade) -> ResultRow:
    extra = {k: v for k, v in row.extra.items() if k != JUDGE_EXTRA}
    return replace(row, correct=verdict.correct, rule=verdict.rule, extra=extra)


def _example(examples: Mapping[ExampleKey, QAExample], row: ResultRow) -> QAExample:
    try:
        return examples[(row.dataset, row.example_id)]
    except KeyError:
        raise ValueError(
            f"no example {row.example_id!r} of dataset {row.dataset!r} to grade its answer by"
        ) from None


def _item(row: ResultRow, example: QAExample) -> JudgeItem:
    return JudgeItem(
        example.question, judge_target(example.gold_text, example.answers), row.prediction
    )
