"""The ``openai`` backend: response mapping and transport against a local HTTP stub (the real
openai client, real replies and errors), then the real protocol against a llama.cpp server
on 127.0.0.1 (``llama_server`` fixture)."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from confalign.backends import BackendConfig, GenerateRequest, Prompt, ScoreRequest, load_backend
from confalign.backends.base import CapabilityError

openai = pytest.importorskip(
    "openai", reason="openai not installed (pip install 'confalign[openai]')"
)

from confalign.backends.openai import (  # noqa: E402
    TopKTruncationWarning,
    candidate_masses,
    continuation_slice,
    to_generation,
)

# Sampling settings that make llama-cpp-python's server sample from the plain distribution.
PLAIN = {"top_k": 0, "min_p": 0.0, "repeat_penalty": 1.0}


# -- pure mapping -----------------------------------------------------------------------------


def test_continuation_slice_counts_from_the_end() -> None:
    # The echo of "<s>Q: x\nA: Paris" by a server that leaves the special token out of offsets.
    tokens = ["Q", ":", " x", "\n", "A", ":", " Paris"]
    offsets = [0, 1, 2, 4, 5, 6, 7]
    assert continuation_slice(tokens, offsets, len(" Paris")) == ([6], 0)
    assert continuation_slice(tokens, offsets, len(":" + " Paris")) == ([5, 6], 0)
    assert continuation_slice(tokens, offsets, len("aris")) == ([6], 1)  # straddles
    assert continuation_slice(tokens, offsets, 0) == ([], 0)
    assert continuation_slice([], [], 3) == ([], 0)


def test_candidate_masses() -> None:
    top = {" A": np.log(0.5), "A": np.log(0.25), " B": np.log(0.1)}
    masses, missing = candidate_masses(top, ["A", "B", "C"])
    np.testing.assert_allclose(np.exp(masses[:2]), [0.75, 0.1])
    assert masses[2] == -np.inf and missing == ["C"]


def test_to_generation_drops_what_follows_the_text() -> None:
    tops = [{"Hi": -0.1, "Yo": -2.0, "Hey": -3.0}, {",": -0.5}, {" there": -0.2}]
    g = to_generation("Hi,", ["Hi", ",", " there"], [-0.1, -0.5, -0.2], tops, 2, "stop")
    assert g.tokens == ("Hi", ",") and g.text == "Hi,"
    np.testing.assert_array_equal(g.token_logprobs, [-0.1, -0.5])
    assert g.top_logprobs[0] == {"Hi": -0.1, "Yo": -2.0} and g.finish_reason == "stop"
    empty = to_generation("", ["<eos>"], [-0.1], [{}], 0, "stop")
    assert empty.tokens == () and empty.top_logprobs == ()
    assert to_generation("ab", ["a", "b"], [-1, -2], [], 0, "length").finish_reason == "length"


# -- a local HTTP server ------------------------------------------------------------------------


Reply = dict[str, Any] | tuple[int, dict[str, Any]] | None


class _HTTPStub:
    """A server on 127.0.0.1 that answers each POST with ``handler(request JSON)``: a JSON body
    (status 200), (status, body), or None to drop the connection unanswered. The backend talks
    to it through its real openai client, so every reply and error object is built by openai
    from a real HTTP exchange: no stand-in that a new release can reject."""

    def __init__(self) -> None:
        self.handler: Callable[[dict[str, Any]], Reply] = lambda body: None
        self.calls: list[dict[str, Any]] = []
        self.paths: list[str] = []
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.paths.append(self.path)
                stub.calls.append(request)
                reply = stub.handler(request)
                if reply is None:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                status, body = reply if isinstance(reply, tuple) else (200, reply)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def backend(self, monkeypatch: pytest.MonkeyPatch, **options: Any) -> Any:
        monkeypatch.setenv("CONFALIGN_TEST_KEY", "sk-test-SECRET-123456")
        options = {"base_url": self.url, "api_key_env": "CONFALIGN_TEST_KEY", **options}
        return load_backend("openai", BackendConfig(model="m", options=options))


@pytest.fixture
def stub() -> Iterator[_HTTPStub]:
    server = _HTTPStub()
    yield server
    server.server.shutdown()
    server.server.server_close()


def _completion(text: str, logprobs: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "x", "object": "text_completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "text": text, "logprobs": logprobs, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }  # fmt: skip


def _echo(text: str, tokens: list[str], logprobs: list[float | None]) -> dict[str, Any]:
    offsets = [int(x) for x in np.cumsum([0, *map(len, tokens)])[:-1]]
    lp = {"tokens": tokens, "text_offset": offsets, "token_logprobs": logprobs}
    return _completion(text, {**lp, "top_logprobs": None})


def test_score_continuation_from_echo(monkeypatch: pytest.MonkeyPatch, stub: _HTTPStub) -> None:
    def handler(kw: dict[str, Any]) -> Reply:
        assert kw["echo"] is True and kw["max_tokens"] == 1 and kw["logprobs"] == 1
        assert kw["prompt"] == "Q: x\nA: Paris"  # the trailing space moved into the continuation
        return _echo(kw["prompt"] + " is", ["Q", ":", " x", "\n", "A", ":", " Par", "is", " is"],
                     [None, -1, -2, -3, -4, -5, -6, -7, -8])  # fmt: skip

    stub.handler = handler
    backend = stub.backend(monkeypatch)
    (res,) = backend.score([ScoreRequest(Prompt("Q: x\nA: "), continuations=("Paris",))])
    np.testing.assert_array_equal(res.continuation_logprobs[0], [-6, -7])
    assert stub.paths == ["/v1/completions"]
    # without a chat template the assistant prefix starts a line of its own
    assert backend.render(Prompt("u", system="s", assistant_prefix="p")) == "s\n\nu\np"
    assert "chat" not in backend.capabilities and "prefill" in backend.capabilities


def test_echo_refused_is_a_capability_error(
    monkeypatch: pytest.MonkeyPatch, stub: _HTTPStub
) -> None:
    stub.handler = lambda kw: (400, {"error": {"message": "echo is not supported", "type": "x"}})
    backend = stub.backend(monkeypatch)
    with pytest.raises(CapabilityError, match="continuation scoring"):
        backend.score([ScoreRequest(Prompt("q"), continuations=("a",))])
    no_echo = stub.backend(monkeypatch, echo=False)
    assert "score" not in no_echo.capabilities
    with pytest.raises(CapabilityError, match="distribution mode"):
        no_echo.score([ScoreRequest(Prompt("q"), continuations=("a",))])
    assert len(stub.calls) == 1  # the second backend refuses without asking the server


def test_candidates_outside_top_k(monkeypatch: pytest.MonkeyPatch, stub: _HTTPStub) -> None:
    top = {" A": -0.5, "B": -1.0}
    lp = {"tokens": [" A"], "token_logprobs": [-0.5], "top_logprobs": [top], "text_offset": [0]}
    stub.handler = lambda kw: _completion(" A", lp)
    backend = stub.backend(monkeypatch, top_logprobs=5)
    with pytest.warns(TopKTruncationWarning, match="C"):
        (res,) = backend.score([ScoreRequest(Prompt("q"), candidates=("A", "B", "C"))])
    np.testing.assert_array_equal(res.candidate_logprobs, [-0.5, -1.0, -np.inf])
    assert backend.stats["candidates_outside_top_k"] == 1
    assert stub.calls[0]["logprobs"] == 5 and stub.calls[0]["max_tokens"] == 1
    strict = stub.backend(monkeypatch, missing_candidate="error")
    with pytest.raises(RuntimeError, match="outside the server's top"):
        strict.score([ScoreRequest(Prompt("q"), candidates=("C",))])


def test_retries_then_success(monkeypatch: pytest.MonkeyPatch, stub: _HTTPStub) -> None:
    # A dropped connection (APIConnectionError), a 503 (InternalServerError), then the reply.
    replies: list[Reply] = [
        None,
        (503, {"error": {"message": "busy"}}),
        _echo("abc", ["a", "b", "c"], [None, -1.0, -2.0]),
    ]
    stub.handler = lambda kw: replies.pop(0)
    backend = stub.backend(monkeypatch, backoff=0.001)
    (res,) = backend.score([ScoreRequest(Prompt("a"), continuations=("b",))])
    np.testing.assert_array_equal(res.continuation_logprobs[0], [-1.0])
    assert backend.stats["retries"] == 2 and len(stub.calls) == 3


def test_key_stays_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real connection failure (nothing listens on the port): the key is in no message."""
    monkeypatch.setenv("CONFALIGN_TEST_KEY", "sk-test-SECRET-123456")
    options = {"base_url": "http://u:pw@127.0.0.1:9/v1", "api_key_env": "CONFALIGN_TEST_KEY",
               "max_retries": 1, "backoff": 0.001, "timeout": 2.0}  # fmt: skip
    backend = load_backend("openai", BackendConfig(model="m", options=options))
    with pytest.raises(RuntimeError) as error:
        backend.generate([GenerateRequest(Prompt("x"))])
    assert "SECRET" not in str(error.value) and "SECRET" not in repr(backend.describe())
    assert backend.describe()["base_url"] == "http://127.0.0.1:9/v1"  # credentials left out
    assert backend.stats["retries"] == 1
    monkeypatch.delenv("CONFALIGN_TEST_KEY")
    with pytest.raises(ValueError, match="CONFALIGN_TEST_KEY"):
        load_backend(
            "openai", BackendConfig(model="m", options={"api_key_env": "CONFALIGN_TEST_KEY"})
        )


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown openai options"):
        load_backend("openai", BackendConfig(model="m", options={"api_key": "no"}))
    with pytest.raises(ValueError, match="endpoint"):
        load_backend("openai", BackendConfig(model="m", options={"endpoint": "embeddings"}))


def test_chat_endpoint_limits(monkeypatch: pytest.MonkeyPatch, stub: _HTTPStub) -> None:
    backend = stub.backend(monkeypatch, endpoint="chat")
    assert backend.capabilities == {"candidates", "generate", "chat", "top_logprobs"}
    with pytest.raises(CapabilityError, match="continuation scoring"):
        backend.score([ScoreRequest(Prompt("q"), continuations=("a",))])
    with pytest.raises(CapabilityError, match="prefill"):
        backend.generate([GenerateRequest(Prompt("q", assistant_prefix="Answer:"))])


# -- against a real llama.cpp server on 127.0.0.1 ------------------------------------------------


@pytest.fixture(scope="module")
def server_backend(llama_server: str, default_gguf: Path) -> Any:
    # The server decodes on one thread; on a loaded machine an echo request can queue past the
    # 60 s default, and a retry would only queue behind it. A long timeout, no retries.
    options = {"base_url": llama_server, "tokenizer": str(default_gguf), "extra_body": PLAIN,
               "api_key_env": "CONFALIGN_NO_SUCH_VARIABLE", "timeout": 600.0,
               "max_retries": 0}  # fmt: skip
    backend = load_backend("openai", BackendConfig(model="default", options=options))
    yield backend
    backend.close()


SERVER_REQUESTS = [
    ScoreRequest(Prompt("Capital of France?", assistant_prefix="Answer: "),
                 continuations=("Paris", "the city of Lyon"), candidates=("Paris", "A")),
    ScoreRequest(Prompt("2+2=?", system="Be brief."), continuations=("4", " four")),
]  # fmt: skip


@pytest.mark.network
@pytest.mark.filterwarnings("ignore::confalign.backends.openai.TopKTruncationWarning")
def test_server_scores_equal_llamacpp(server_backend: Any, llamacpp_backend: Any) -> None:
    """Same llama.cpp underneath: continuations agree to float32 JSON precision; candidates
    agree where both forms are in the top k, and are never above the full mass."""
    assert server_backend.render(SERVER_REQUESTS[0].prompt) == llamacpp_backend.render(
        SERVER_REQUESTS[0].prompt
    )
    ours = server_backend.score(SERVER_REQUESTS)
    local = llamacpp_backend.score(SERVER_REQUESTS)
    for a, b in zip(ours, local, strict=True):
        assert a.prompt_tokens == b.prompt_tokens  # the server's usage count
        for x, y in zip(a.continuation_logprobs, b.continuation_logprobs, strict=True):
            np.testing.assert_allclose(x, y, atol=1e-4)
        assert np.all(a.candidate_logprobs <= b.candidate_logprobs + 1e-4)
    assert np.isfinite(ours[0].candidate_logprobs[0])  # "Paris" is in the top 20
    assert ours[0].candidate_logprobs[1] == -np.inf  # "A" is not: flagged, not guessed
    assert server_backend.stats["candidates_outside_top_k"] >= 1
    assert server_backend.stats["straddling_tokens"] == 0


@pytest.mark.network
def test_server_generation_equals_llamacpp(server_backend: Any, llamacpp_backend: Any) -> None:
    request = GenerateRequest(
        Prompt("What is 2+2?"), max_new_tokens=12, top_logprobs=3, stop=(".",)
    )
    (ours,) = server_backend.generate([request])
    (local,) = llamacpp_backend.generate([request])
    assert ours[0].text == local[0].text and ours[0].tokens == local[0].tokens
    np.testing.assert_allclose(ours[0].token_logprobs, local[0].token_logprobs, atol=1e-4)
    assert list(ours[0].top_logprobs[0]) == list(local[0].top_logprobs[0])
    sampled = server_backend.generate(
        [GenerateRequest(Prompt("Tell a story."), max_new_tokens=6, temperature=1.0, n=2, seed=3)]
    )[0]
    assert len(sampled) == 2 and all(len(g.tokens) == len(g.token_logprobs) for g in sampled)


@pytest.mark.network
def test_server_chat_endpoint(llama_server: str) -> None:
    options = {"base_url": llama_server, "endpoint": "chat", "extra_body": PLAIN, "timeout": 600.0}
    backend = load_backend("openai", BackendConfig(model="default", options=options))
    try:
        (gens,) = backend.generate(
            [GenerateRequest(Prompt("Say hello."), max_new_tokens=8, top_logprobs=2, n=2)]
        )
        assert len(gens) == 2 and gens[0].text == gens[1].text and gens[0].tokens
        assert len(gens[0].top_logprobs[0]) == 2
        (res,) = backend.score([ScoreRequest(Prompt("Say hello."), candidates=("Hello",))])
        assert np.isfinite(res.candidate_logprobs[0])
    finally:
        backend.close()


@pytest.mark.slow
@pytest.mark.network
def test_server_mmlu_agrees_with_hf(
    server_backend: Any, llamacpp_backend: Any, default_backend: Any, mmlu_requests: list[Any]
) -> None:
    """Option log-likelihoods through the server equal llamacpp's (the same Q4_1 kernels) and
    are as close to hf as llamacpp is (see test_llamacpp)."""
    requests = [ScoreRequest(r.prompt, continuations=r.continuations) for r in mmlu_requests[:3]]
    ours = server_backend.score(requests)
    local = llamacpp_backend.score(requests)
    reference = default_backend.score(requests)
    to_hf = 0.0
    for a, b, c in zip(ours, local, reference, strict=True):
        for x, y, z in zip(
            a.continuation_logprobs, b.continuation_logprobs, c.continuation_logprobs, strict=True
        ):
            np.testing.assert_allclose(x, y, atol=1e-4)
            to_hf = max(to_hf, abs(x.sum() - z.sum()))
    print(f"openai(llama.cpp server) vs hf: options max {to_hf:.3f}")
    assert to_hf < 1.5
