"""``confalign train <method>`` end to end, the same steps for every method (``train.methods``):
claim the folder, make the splits, build the data, prepare, fit, save, evaluate before/after,
report, write the card.

Output folder (every step is stored and skipped when done, so the same command resumes):

- ``<method>.json``: the settings that determine the results; another run's folder is refused;
- ``splits.json``: each split's size and seed, and the overlap of every pair (all 0);
- ``answers-run/``: the untrained model's verbalized answers on the training split (the
  formats and modes the method asks for; resumable like any eval run); ``own-answers-run/``:
  its greedy open answers (``answer_prob``), for methods that ask (DPO alignment);
- ``data.jsonl`` (one record per line: DCA's pairs in TRL's prompt/chosen/rejected format,
  ADVICE's triplets, ...) and ``data_stats.json`` (kept, dropped and why), checksummed
  (``.sha256``): a damaged one is rebuilt;
- ``prepared.pt``: the method's preparation (DCA: the reference log-probabilities);
- ``checkpoints/``: the Trainer's, each sealed once complete (a killed run continues from the
  newest complete one);
- ``adapter/``: the peft adapter naming its base model's Hub id, ``training_examples.json``,
  ``README.md`` (model card), ``training_config.json``;
- ``eval-*``, ``ood-*``, ``valid-*`` (``base`` and ``<method>``): the before/after eval runs,
  and the kind's own measurements (``pipelines.evaluations``);
- ``report/``: ``<method>.md``/``.json`` and the runs' comparison.

Under ``accelerate launch`` the main process prepares the data first (the others then find it
stored), every process trains, and the main process saves and evaluates.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from confalign.backends.lazy import LazyBackend
from confalign.data.example import QAExample
from confalign.pipelines._steps import (
    TrainingResult,
    backend_of,
    claim_output,
    load_training_policy,
    process_state,
    run_evals,
    save_training,
    store_stats,
    stored_data,
    stored_tensor,
)
from confalign.pipelines.card import model_card, write_card
from confalign.pipelines.evaluations import KINDS, eval_runs, write_report
from confalign.pipelines.settings import TrainingConfig, file_hash
from confalign.pipelines.splits import Splits, counts, make_splits
from confalign.runs import atomic_write
from confalign.train.core import ADAPTER
from confalign.train.methods.base import TrainingRunError

DATA, STATS, SPLITS = "data.jsonl", "data_stats.json", "splits.json"


def run_training(config: TrainingConfig, *, progress: bool = True) -> TrainingResult:
    """Run (or resume) every step of ``config``; see the module docstring."""
    s, kind = config.settings, KINDS[config.spec.evaluation]
    state = process_state(s.device)
    with state.main_process_first():
        splits = make_splits(s)  # refuses overlapping splits before anything is written
        split_counts = counts(splits, s)
        if state.is_main_process:
            claim_output(
                s.output,
                config.identity(),
                marker=f"{config.method}.json",
                kind=config.method,
                defaults=config.default_identity(),
            )
            atomic_write(s.output / SPLITS, json.dumps(split_counts, indent=2) + "\n")
        backend = backend_of(s)
        data_path, stats = _data(config, splits, backend, progress)
        if s.evaluate and state.is_main_process:
            run_evals(eval_runs(config, splits, None), backend, progress=progress)
            if kind.measure is not None:
                kind.measure(config, splits, backend, "base")
        backend.close()
    adapter = s.output / ADAPTER
    if not (adapter / "adapter_model.safetensors").exists():
        _train(config, data_path, splits, stats, split_counts)
    report = None
    if state.is_main_process and s.evaluate:
        run_evals(eval_runs(config, splits, adapter), None, progress=progress)
        if kind.measure is not None:
            tuned = backend_of(s, adapter)
            kind.measure(config, splits, tuned, config.method)
            tuned.close()
        report = write_report(config, stats, split_counts)
        results = report.read_text().split("\n", 1)[1]
        write_card(config, model_card(config, stats, split_counts, results))
    return TrainingResult(s.output, adapter, stats.get("kept", 0), stats, report)


class _Context:
    """A method's ``DataContext``: the training split, the untrained model's stored answers
    on it (one eval run, ``answers-run/``, made on first use) and its prompt rendering."""

    def __init__(
        self, config: TrainingConfig, train: list[QAExample], backend: LazyBackend, progress: bool
    ) -> None:
        self.config, self.examples, self.backend, self.progress = config, train, backend, progress
        self.dataset, self.seed = config.settings.dataset, config.settings.seed

    def answers(self, fmt: str, mode: str) -> list[Any]:
        formats, modes = self.config.spec.answers(self.config.options)
        run = self._stored_run("answers-run", ("verbalized",), formats=formats, modes=modes)
        return self._rows(run, f"verbalized/{fmt}/{mode}")

    def own_answers(self) -> list[Any]:
        return self._rows(self._stored_run("own-answers-run", ("answer_prob",)), "answer_prob")

    def _stored_run(self, folder: str, methods: tuple[str, ...], **options: Any) -> Path:
        """The untrained model's eval run on the training split in ``output/folder``, made
        on first use (resumable like any eval run)."""
        from confalign.evaluate import EvalConfig

        s = self.config.settings
        run = EvalConfig(
            datasets=(s.dataset,), model=s.model, methods=methods, seed=s.seed,
            output=s.output / folder, device=s.device, threads=s.threads, **options,
        )  # fmt: skip
        run_evals([(run, {s.dataset: self.examples})], self.backend, progress=self.progress)
        return s.output / folder

    def _rows(self, run: Path, method_key: str) -> list[Any]:
        from confalign.runs import RunStore

        with RunStore.open(run) as store:
            return list(store.rows(self.config.settings.dataset, method_key))

    def render(self, prompt: Any) -> str:
        return self.backend.get().render(prompt)


def _data(
    config: TrainingConfig, splits: Splits, backend: LazyBackend, progress: bool
) -> tuple[Path, dict[str, int]]:
    """The method's training data (stored: ``data.jsonl``, ``data_stats.json``)."""
    from confalign.train.jsonl import write_records

    out = config.settings.output
    path, stats_path = out / DATA, out / STATS
    stored = stored_data(path, stats_path)  # both whole (checksummed), or both recomputed
    if stored is not None:
        return path, stored
    spec = config.spec
    records, found = spec.build(_Context(config, splits.train, backend, progress), config.options)
    stats = {"examples": len(splits.train), **found}
    if not records:
        hint = f" ({spec.hint})" if spec.hint else ""
        raise TrainingRunError(
            f"no training data from {len(splits.train)} examples: {dict(found)}{hint}"
        )
    write_records(records, path)
    store_stats(stats_path, stats)
    return path, stats


def _train(
    config: TrainingConfig,
    data_path: Path,
    splits: Splits,
    stats: dict[str, Any],
    split_counts: dict[str, Any],
) -> None:
    """Layout, preparation, fit and save: the same for every method."""
    from confalign.train.core import fit
    from confalign.train.jsonl import read_records

    s, spec, options = config.settings, config.spec, config.options
    policy = load_training_policy(s)
    data = read_records(data_path, spec.record)
    items = spec.layout(policy, data, options)
    prepared = None
    if spec.prepare is not None:
        key = {"data": file_hash(data_path), "model": s.model}
        prepared = stored_tensor(
            s.output / "prepared.pt", key, lambda: spec.prepare(policy, items, options)
        )
    records, settings = spec.records(items, data, prepared, options, s.train)
    loss = spec.loss(policy.scorer, options)
    history = fit(policy.model, records, loss, settings, s.output, device=policy.device)
    card = model_card(config, stats, split_counts, None)
    save_training(config, policy, history, card=card, train_ids=[ex.id for ex in splits.train])
