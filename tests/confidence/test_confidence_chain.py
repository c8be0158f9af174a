"""The verbalized ``prefill``/``distribution`` modes through ``Backend.chain``: the ``hf``
backend's one-pass chain (one key-value cache per request) against the composed path (the
``score`` and ``generate`` calls the extractor made before ``chain``; ``hf`` with option
``chain=False``): the same records, values to 1e-5 and the same greedy text. The backend-level
comparison is ``tests/backends/test_hf_chain.py``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from conf_doubles import RecordingBackend

from confalign.backends import BackendConfig, load_backend
from confalign.backends.base import Backend, ChainRequest, ChainResult
from confalign.confidence import ConfidenceRecord, VerbalizedConfig, VerbalizedExtractor
from confalign.data.example import QAExample

TOL = 1e-5
MODES = ("prefill", "distribution")
MC = [
    QAExample(
        "m1", "Which gas do plants absorb?", ("Oxygen", "Carbon dioxide", "Helium", "Neon"), 1
    ),
    QAExample("m2", "What is 3 + 4?", ("5", "6", "7"), 2),
]
OPEN = [
    QAExample("o1", "What is the capital of France?", gold="Paris"),
    QAExample("o2", "How many legs has a spider?", gold="8"),
]


class ChainRecorder(RecordingBackend):
    """``RecordingBackend`` that records ``chain`` calls too and hands them to the real
    backend when it has the capability (else the default composition's calls are recorded)."""

    def chain(self, requests: Sequence[ChainRequest]) -> list[ChainResult]:
        if "chain" not in self.capabilities:
            return super().chain(requests)
        self.calls.append(("chain", len(requests)))
        return self.inner.chain(requests)


@pytest.mark.parametrize("modes", [MODES, ("prefill",), ("distribution",)], ids="+".join)
def test_verbalized_one_pass_equals_composed(
    tiny_backend: Backend, tiny_composed_backend: Backend, modes: tuple[str, ...]
) -> None:
    """The extractor's records through one chain call per format equal those of the
    composed path (the score and generate calls the extractor made before ``chain``)."""
    config = VerbalizedConfig(
        formats=("score_letter", "probability"), modes=modes, answer_max_new_tokens=6
    )
    examples = [MC[0], OPEN[0], MC[1], OPEN[1]]
    backend = ChainRecorder(tiny_backend)
    new = VerbalizedExtractor(config).extract(backend, examples)
    # the open answers (one generate for every format), then one chain call per format
    assert backend.calls == [("generate", 2), ("chain", 4), ("chain", 4)]
    composed = ChainRecorder(tiny_composed_backend)
    old = VerbalizedExtractor(config).extract(composed, examples)
    # the composed path: MC letters, then the prefill generation, then the levels, per format
    per_format = [("score", 2)]
    per_format += [("generate", 4)] if "prefill" in modes else []
    per_format += [("score", 4)] if "distribution" in modes else []
    assert composed.calls == [("generate", 2), *per_format, *per_format]
    assert len(new) == len(examples) * len(config.formats) * len(modes)
    assert_same_records(new, old)


def assert_same_records(new: Sequence[ConfidenceRecord], old: Sequence[ConfidenceRecord]) -> None:
    assert len(new) == len(old)
    for n, o in zip(new, old, strict=True):
        assert (n.example_id, n.key, n.prediction, n.correct) == (
            o.example_id,
            o.key,
            o.prediction,
            o.correct,
        )
        assert (n.raw_text, n.parse_failed, n.ambiguous, n.generated_tokens) == (
            o.raw_text,
            o.parse_failed,
            o.ambiguous,
            o.generated_tokens,
        )
        assert n.confidence == pytest.approx(o.confidence, abs=TOL)
        if o.probs is None:
            assert n.probs is None
        else:
            assert n.probs == pytest.approx(o.probs, abs=TOL)
        assert n.extra.keys() == o.extra.keys()
        for key, value in o.extra.items():
            if isinstance(value, float):
                assert n.extra[key] == pytest.approx(value, abs=TOL)
            else:
                assert n.extra[key] == value


@pytest.mark.slow
def test_default_model_one_pass_equals_composed(
    default_backend: Backend, default_model_dir: Path
) -> None:
    """The embedded SmolLM2-135M-Instruct: real text, real near-ties."""
    config = VerbalizedConfig(
        formats=("score_letter", "score_number"),
        modes=MODES,
        value_max_new_tokens=4,
        answer_max_new_tokens=8,
    )
    extractor = VerbalizedExtractor(config)
    composed = BackendConfig(model=str(default_model_dir), options={"chain": False})
    examples = [MC[1], OPEN[0]]
    assert_same_records(
        extractor.extract(default_backend, examples),
        extractor.extract(load_backend("hf", composed), examples),
    )
