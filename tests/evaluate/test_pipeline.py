"""The eval pipeline's mechanics with protocol-level doubles: batching, storing, resuming,
stopping on SIGINT, refusing a changed configuration, and keeping failures."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from eval_doubles import EchoVerbalized, FakeBackend, HashExtractor, HashSettings, install_loader

from confalign.backends.base import Backend, CapabilityError
from confalign.confidence.base import ConfidenceRecord
from confalign.data.example import QAExample
from confalign.evaluate import EvalConfig, EvalInterrupted, ExtractorContractError, run_eval
from confalign.evaluate.catalog import prompt_length
from confalign.runs import ConfigMismatchError, RunStore


@pytest.fixture(autouse=True)
def toy_data(monkeypatch: pytest.MonkeyPatch) -> None:
    install_loader(monkeypatch, {"toy": 12, "other": 5})


def config(tmp_path: Path, **kw: object) -> EvalConfig:
    return EvalConfig(**{"datasets": ("toy",), "output": tmp_path / "run", "batch_size": 3, **kw})


def rows(run: Path) -> list[dict]:
    with RunStore.open(run) as store:
        return [r.to_dict() for r in store.rows()]


def test_complete_run_stores_every_record_including_failures(tmp_path: Path) -> None:
    hashx, echo, backend = HashExtractor(), EchoVerbalized(), FakeBackend()
    cfg = config(tmp_path, datasets=("toy", "other"))
    run = run_eval(cfg, progress=False, backend=backend, extractors=[hashx, echo])
    assert run == tmp_path / "run" and not backend.closed  # a lent backend is not closed
    with RunStore.open(run) as store:
        assert store.count("toy", "hash_choice") == 8  # the multiple-choice two thirds
        assert store.count("toy", "echo/probability/prefill") == 12
        assert store.count("other") == 4 + 5
        failed = [r for r in store.rows("toy") if r.parse_failed]
        assert len(failed) == 3 and all(r.confidence is None for r in failed)
        manifest = store.manifest
    assert manifest["status"] == "complete" and manifest["ended_at"]
    assert manifest["backend"]["backend"] == "fake"
    ds = {d["name"]: d for d in manifest["identity"]["datasets"]}
    assert ds["toy"]["size"] == 12 and ds["toy"]["skipped"] == 1 and ds["other"]["size"] == 5
    names = [e["name"] for e in manifest["identity"]["extractors"]]
    assert names == ["hash_choice", "echo_verbalized:echo/probability/prefill"]
    assert manifest["identity"]["extractors"][0]["settings"] == {"settings": {"temperature": 1.0}}
    assert "mc_question@1" in manifest["identity"]["prompts"]
    toy = [r for r in rows(run) if r["dataset"] == "toy"]
    assert {r["subject"] for r in toy} == {"s0", "s1", "open"}
    gold = {r["example_id"]: r["gold"] for r in toy}
    assert gold["toy-0"] == "A" and gold["toy-1"] == "B" and gold["toy-2"] == "ans2"
    assert len({r["config_key"] for r in toy}) == 2  # one per extractor


def test_batches_are_length_sorted_and_bounded(tmp_path: Path) -> None:
    hashx = HashExtractor()
    run_eval(config(tmp_path), progress=False, backend=FakeBackend(), extractors=[hashx])
    from eval_doubles import make_examples

    by_id = {x.id: x for x in make_examples(12, "toy")}
    order = [i for batch in hashx.batches for i in batch]
    lengths = [prompt_length(by_id[i]) for i in order]
    assert lengths == sorted(lengths, reverse=True)
    assert [len(b) for b in hashx.batches] == [3, 3, 2]


def crash_on(n: int) -> Callable[[int], None]:
    """A hook that raises on batch ``n``, like a process dying mid-batch."""

    def hook(batch: int) -> None:
        if batch == n:
            raise RuntimeError("boom")

    return hook


def sigint_on(n: int) -> Callable[[int], None]:
    """A hook that sends this process SIGINT during batch ``n``, as Ctrl-C would."""

    def hook(batch: int) -> None:
        if batch == n:
            os.kill(os.getpid(), signal.SIGINT)

    return hook


def test_resume_skips_what_is_stored_and_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    reference = run_eval(
        config(tmp_path, output=tmp_path / "ref"),
        progress=False,
        backend=FakeBackend(),
        extractors=[HashExtractor(), EchoVerbalized()],
    )
    crashing = HashExtractor(hook=crash_on(3))
    with pytest.raises(RuntimeError, match="boom"):
        run_eval(
            config(tmp_path),
            progress=False,
            backend=FakeBackend(),
            extractors=[crashing, EchoVerbalized()],
        )
    run = tmp_path / "run"
    assert RunStore.open(run).manifest["status"] == "failed"
    assert len(rows(run)) == 6  # two committed batches of three
    again, echo = HashExtractor(), EchoVerbalized()
    run_eval(config(tmp_path), progress=False, backend=FakeBackend(), extractors=[again, echo])
    assert [len(b) for b in again.batches] == [2]  # only the batch that had not been stored
    assert sum(len(b) for b in echo.batches) == 12
    assert rows(run) == rows(reference)
    manifest = RunStore.open(run).manifest
    assert manifest["status"] == "complete" and len(manifest["resumed"]) == 1
    # a third run finds everything stored and computes nothing
    idle = HashExtractor()
    run_eval(config(tmp_path), progress=False, backend=FakeBackend(), extractors=[idle, echo])
    assert idle.batches == [] and rows(run) == rows(reference)


def test_sigint_stops_after_the_current_batch(tmp_path: Path) -> None:
    previous = signal.getsignal(signal.SIGINT)
    with pytest.raises(EvalInterrupted) as info:
        run_eval(
            config(tmp_path),
            progress=False,
            backend=FakeBackend(),
            extractors=[HashExtractor(hook=sigint_on(2)), EchoVerbalized()],
        )
    assert signal.getsignal(signal.SIGINT) is previous  # handlers restored
    run = tmp_path / "run"
    assert len(rows(run)) == 6  # the batch in flight was finished and stored
    assert info.value.stored == 6 and "run the same command again" in str(info.value)
    assert RunStore.open(run).manifest["status"] == "interrupted"
    run_eval(
        config(tmp_path),
        progress=False,
        backend=FakeBackend(),
        extractors=[HashExtractor(), EchoVerbalized()],
    )
    assert len(rows(run)) == 8 + 12


def test_changed_configuration_is_refused_before_anything_runs(tmp_path: Path) -> None:
    run_eval(
        config(tmp_path, limit=6),
        progress=False,
        backend=FakeBackend(),
        extractors=[HashExtractor()],
    )
    before = rows(tmp_path / "run")
    hashx = HashExtractor(HashSettings(temperature=2.0))
    with pytest.raises(ConfigMismatchError) as info:
        run_eval(
            config(tmp_path, limit=8), progress=False, backend=FakeBackend(), extractors=[hashx]
        )
    message = str(info.value)
    assert "datasets[toy].limit: 6 → 8" in message and "datasets[toy].size: 6 → 8" in message
    assert "extractors[hash_choice].settings.settings.temperature: 1.0 → 2.0" in message
    assert hashx.batches == [] and rows(tmp_path / "run") == before


class DropsOne(HashExtractor):
    def extract(self, backend: Backend, examples: Sequence[QAExample]) -> list[ConfidenceRecord]:
        return super().extract(backend, examples)[1:]


def test_an_extractor_that_drops_a_record_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ExtractorContractError, match=r"returned 2 records for 3 .* missing"):
        run_eval(config(tmp_path), progress=False, backend=FakeBackend(), extractors=[DropsOne()])
    assert rows(tmp_path / "run") == []


def test_a_complete_run_is_not_recomputed_and_loads_no_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_eval(config(tmp_path), progress=False, backend=FakeBackend(), extractors=[HashExtractor()])
    before = rows(tmp_path / "run")

    def no_load(*args: object) -> Backend:
        raise AssertionError("the model must not load when everything is stored")

    monkeypatch.setattr("confalign.evaluate.pipeline.load_backend", no_load)
    idle = HashExtractor()
    run_eval(config(tmp_path), progress=False, extractors=[idle])
    assert idle.batches == [] and rows(tmp_path / "run") == before


class NeedsScores(HashExtractor):
    def check_backend(self, backend: Backend, examples: Sequence[QAExample]) -> None:
        backend.require("top_logprobs", "needs-scores extractor")


def test_an_unfit_backend_is_refused_before_any_batch(tmp_path: Path) -> None:
    extractor = NeedsScores()
    with pytest.raises(CapabilityError, match="'top_logprobs'"):
        run_eval(config(tmp_path), progress=False, backend=FakeBackend(), extractors=[extractor])
    assert extractor.batches == [] and rows(tmp_path / "run") == []
    assert RunStore.open(tmp_path / "run").manifest["status"] == "failed"


def test_no_secret_reaches_the_run_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-live-5f2b9c0d1e7a"
    monkeypatch.setenv("MY_SERVER_API_KEY", secret)
    cfg = config(tmp_path, backend_options={"api_key": secret, "base_url": "http://127.0.0.1:1"})
    run = run_eval(cfg, progress=False, backend=FakeBackend(), extractors=[HashExtractor()])
    for path in run.iterdir():
        assert secret.encode() not in path.read_bytes(), path.name
    identity = RunStore.open(run).manifest["identity"]
    assert identity["backend_options"] == {
        "api_key": "<redacted>",
        "base_url": "http://127.0.0.1:1",
    }
