"""Protocol-level test doubles for the eval pipeline (imported by name; also a script).

``HashExtractor`` and ``EchoVerbalized`` compute deterministic records from each example alone
(a hash of its id), so any batching gives the same results; they record the batches they were
given. ``FakeBackend`` implements the backend protocol trivially. ``install_loader`` replaces
``confalign.data.load_benchmark`` with one that serves ``make_examples``.

``patch_pipeline`` makes ``run_eval`` load ``FakeBackend`` and build the two doubles, so the
CLI can be driven end to end without a model.

As a script (the SIGKILL/SIGINT tests run it in a subprocess)::

    python eval_doubles.py RUN_DIR N_EXAMPLES BATCH_SIZE DELAY_SECONDS
    python eval_doubles.py cli N_EXAMPLES DELAY_SECONDS -- eval --datasets toy ...
    python eval_doubles.py realcli N_EXAMPLES -- eval --datasets toy --model DIR ...

With ``CONFALIGN_TEST_FSIZE=BYTES`` in the environment the process may not grow any file past
BYTES (``RLIMIT_FSIZE``: a write past it fails with EFBIG, as on a full, size-limited disk).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from confalign.backends.base import (
    Backend,
    BackendConfig,
    GenerateRequest,
    Generation,
    Prompt,
    ScoreRequest,
    ScoreResult,
)
from confalign.confidence.base import ConfidenceRecord, Extractor
from confalign.data.example import LETTERS, QAExample


def make_examples(n: int, name: str = "toy") -> list[QAExample]:
    """``n`` examples of varied length: two thirds multiple choice, one third open."""
    out = []
    for i in range(n):
        question = f"Question {i} " + "pad " * ((i * 7) % 11)
        if i % 3 == 2:
            out.append(QAExample(f"{name}-{i}", question, gold=f"ans{i}", subject="open"))
        else:
            choices = tuple(f"option {k} of {i}" for k in range(4))
            out.append(QAExample(f"{name}-{i}", question, choices, gold=i % 4, subject=f"s{i % 2}"))
    return out


def install_loader(target: Any, sizes: dict[str, int] | None = None) -> None:
    """Make ``confalign.data.load_benchmark`` serve toy datasets (``target``: a monkeypatch, or
    None to patch directly). ``sizes``: examples per dataset name (default 12)."""
    import confalign.data

    def load_benchmark(name: str, **kwargs: Any) -> tuple[list[QAExample], int]:
        examples = make_examples((sizes or {}).get(name, 12), name=Path(name).stem)
        limit = kwargs.get("limit")
        return (examples[:limit] if limit else examples), 1

    if target is None:
        confalign.data.load_benchmark = load_benchmark  # type: ignore[attr-defined]
    else:
        target.setattr(confalign.data, "load_benchmark", load_benchmark, raising=False)


def _unit(example_id: str, salt: str = "") -> float:
    digest = hashlib.sha256((salt + example_id).encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


@dataclass(frozen=True)
class HashSettings:
    temperature: float = 1.0


class HashExtractor(Extractor):
    """Multiple choice: option probabilities from a hash of the id (keys ``hash_choice``)."""

    name: ClassVar[str] = "hash_choice"
    kind = "internal"
    applies_to = "multiple_choice"

    def __init__(
        self,
        settings: HashSettings | None = None,
        delay: float = 0.0,
        hook: Callable[[int], None] | None = None,
    ) -> None:
        self.settings = settings or HashSettings()
        self.delay = delay
        self.hook = hook  # called with the batch number (1-based) before each batch
        self.batches: list[list[str]] = []

    def method_keys(self) -> list[str]:
        return ["hash_choice"]

    def extract(self, backend: Backend, examples: Sequence[QAExample]) -> list[ConfidenceRecord]:
        if self.hook is not None:
            self.hook(len(self.batches) + 1)
        self.batches.append([x.id for x in examples])
        time.sleep(self.delay)
        out = []
        for x in examples:
            raw = np.array([_unit(x.id, str(k)) for k in range(len(x.choices))])
            p = np.exp(raw / self.settings.temperature)
            p /= p.sum()
            k = int(p.argmax())
            out.append(
                ConfidenceRecord(
                    x.id,
                    "hash_choice",
                    "internal",
                    LETTERS[k],
                    k == x.gold,
                    float(p[k]),
                    probs=tuple(p.tolist()),
                    extra={"rendered": backend.render(Prompt(x.question))},
                )
            )
        return out


class EchoVerbalized(Extractor):
    """Both kinds: a fake verbalized confidence; every fourth example fails to parse."""

    name: ClassVar[str] = "echo_verbalized"
    kind = "verbalized"

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.batches: list[list[str]] = []

    def method_keys(self) -> list[str]:
        return ["echo/probability/prefill"]

    def extract(self, backend: Backend, examples: Sequence[QAExample]) -> list[ConfidenceRecord]:
        self.batches.append([x.id for x in examples])
        time.sleep(self.delay)
        out = []
        for x in examples:
            u = _unit(x.id, "v")
            failed = int(x.id.rsplit("-", 1)[1]) % 4 == 0
            out.append(
                ConfidenceRecord(
                    x.id,
                    "echo",
                    "verbalized",
                    "A",
                    u > 0.5,
                    None if failed else round(u, 2),
                    format="probability",
                    mode="prefill",
                    raw_text=f"Probability: {u:.0%}",
                    parse_failed=failed,
                    generated_tokens=3,
                )
            )
        return out


class FakeBackend(Backend):
    name: ClassVar[str] = "fake"
    capabilities = frozenset({"score", "generate"})

    def __init__(self, config: BackendConfig | None = None) -> None:
        super().__init__(config or BackendConfig())
        self.closed = False

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        return [ScoreResult((), np.zeros(len(r.candidates)), 1) for r in requests]

    def generate(self, requests: Sequence[GenerateRequest]) -> list[list[Generation]]:
        return [[Generation("A", ("A",), np.zeros(1))] * r.n for r in requests]

    def render(self, prompt: Prompt) -> str:
        return f"<user>{prompt.user}</user>{prompt.assistant_prefix}"

    def close(self) -> None:
        self.closed = True


def patch_pipeline(target: Any, delay: float = 0.0) -> None:
    """Make ``run_eval`` load ``FakeBackend`` and build ``HashExtractor`` + ``EchoVerbalized``
    (``target``: a monkeypatch, or None to patch directly)."""
    import confalign.evaluate.pipeline as pipeline

    def build(config: Any, examples: Sequence[QAExample]) -> list[Extractor]:
        return [HashExtractor(delay=delay), EchoVerbalized(delay=delay)]

    def load(name: str, config: BackendConfig) -> FakeBackend:
        return FakeBackend(config)

    for attr, value in (("build_extractors_for", build), ("load_backend", load)):
        if target is None:
            setattr(pipeline, attr, value)
        else:
            target.setattr(pipeline, attr, value)


def stored_count(run: Path) -> int:
    """Rows in a run's database, read the way a second process would (0 before it exists)."""
    try:
        with sqlite3.connect(f"{(run / 'results.sqlite').as_uri()}?mode=ro", uri=True) as conn:
            return conn.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    except sqlite3.Error:
        return 0


def wait_for_rows(proc: subprocess.Popen[Any], run: Path, at_least: int) -> None:
    """Poll until ``run`` holds ``at_least`` rows; fail if ``proc`` ends first or after 60 s."""
    deadline = time.monotonic() + 60
    while stored_count(run) < at_least:
        assert proc.poll() is None, f"the eval ended first: {proc.communicate()}"
        assert time.monotonic() < deadline, "no rows after 60 s"
        time.sleep(0.01)


def subprocess_env() -> dict[str, str]:
    """This environment, with this interpreter's import path (the tests' folders included)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


def cli_group() -> Any:
    """A typer group holding the real ``eval`` command, as ``confalign`` holds it once more
    than one command is registered (a lone command would become the whole app)."""
    import typer

    from confalign.cli.eval import eval_command

    group = typer.Typer(pretty_exceptions_enable=False)
    group.callback()(lambda: None)
    group.command("eval")(eval_command)
    return group


def limit_file_size(limit: int) -> None:
    """Make every write past ``limit`` bytes of a file fail (EFBIG) instead of killing us."""
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def main(argv: list[str]) -> None:
    from confalign.evaluate import EvalConfig, run_eval

    if os.environ.get("CONFALIGN_TEST_FSIZE"):
        limit_file_size(int(os.environ["CONFALIGN_TEST_FSIZE"]))

    if argv[0] in ("cli", "realcli"):  # realcli: the real model and extractors, toy data
        install_loader(None, {"toy": int(argv[1])})
        if argv[0] == "cli":
            patch_pipeline(None, float(argv[2]))
        cli_group()(args=argv[argv.index("--") + 1 :], prog_name="confalign")
        return
    run_dir, n, batch, delay = Path(argv[0]), int(argv[1]), int(argv[2]), float(argv[3])
    install_loader(None, {"toy": n})
    config = EvalConfig(datasets=("toy",), output=run_dir, batch_size=batch)
    extractors = [HashExtractor(delay=delay), EchoVerbalized(delay=delay)]
    run_eval(config, progress=False, backend=FakeBackend(), extractors=extractors)


if __name__ == "__main__":
    main(sys.argv[1:])
