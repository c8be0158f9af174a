"""The ``openai`` backend: any OpenAI-compatible server with log-probabilities (extra ``[openai]``).

Configuration (``BackendConfig.options``, see ``OpenAIOptions``): ``base_url`` (e.g. a vLLM or
llama.cpp server's ``http://127.0.0.1:8000/v1``; None: the client's default), the model name
in ``BackendConfig.model`` (``"default"``: the first model the server lists), and the API key,
read only from the environment variable named by ``api_key_env`` (``OPENAI_API_KEY``): it is
never logged, never in ``describe()``, and scrubbed from error messages. Without the variable
a local server gets a placeholder key; OpenAI's own service needs it.

Two endpoints (``endpoint``):

- ``"completions"`` (default): the client renders the prompt. With a chat template, taken
  from ``chat_template`` (jinja text) or ``tokenizer`` (a ``.gguf`` file or a transformers
  tokenizer folder), rendered as transformers does (``_gguf.ChatTemplate``), so prefill works
  and prompts equal the ``hf`` backend's; without one, prompts are plain text
  (``base.plain_text(prompt)``, ``chat`` off). Continuations are scored
  with ``echo=True, logprobs=1, max_tokens=echo_max_tokens`` (1 by default: OpenAI accepts 0,
  but llama-cpp-python reads 0 as "no limit") on prompt+continuation. The server tokenises
  the text as a whole; the continuation's tokens are found by text offsets counted back from
  the end of the echoed prompt (servers that leave special tokens out of the offsets are
  right there too). A token that begins inside the prompt and reaches into the continuation
  counts as the continuation's first token (``stats["straddling_tokens"]``). A server that
  refuses echo with logprobs (or ``echo=False``) cannot score continuations: ``score`` then
  raises ``CapabilityError``, so the ``distribution`` mode and the continuation methods cannot
  run, while ``choice`` can.
  Known server bug: llama-cpp-python's server (0.3.36) pairs echoed tokens with the wrong
  logits row unless the prompt starts with the BOS token, which chat-templated SmolLM2 prompts
  do (its BOS is ``<|im_start|>``) and plain ones do not: score plain prompts elsewhere.
- ``"chat"``: chat completions; the server applies its template. Generation and candidates
  only: no continuation scoring (no echo) and no prefill (the server cannot continue an
  assistant turn), both raise ``CapabilityError``.

Candidates: one request with ``max_tokens=1`` and ``logprobs=top_logprobs`` (20): the first
position's top-k alternatives, summed over ``"c"`` and ``" c"`` where present. The mass
outside the top k is not returned by the API. A candidate with neither form in the top k gets
``-inf`` (``missing_candidate="-inf"``, counted in ``stats["candidates_outside_top_k"]`` and
warned with ``TopKTruncationWarning``), or raises (``"error"``). -inf says "less likely than
the k-th token" (rare for letters with k=20); if all miss, the extractor gets all -inf.

Transport: requests of a call run in a thread pool of ``concurrency`` workers; each has a
``timeout`` and is retried ``max_retries`` times with exponential backoff and jitter on
connection errors, timeouts, 429 and 5xx. ``extra_body`` is sent with every request (e.g.
``{"top_k": 0, "min_p": 0, "repeat_penalty": 1}`` for llama-cpp-python servers, whose own
sampling defaults differ from the plain distribution).
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from confalign.backends import register_backend
from confalign.backends._gguf import ChatTemplate
from confalign.backends.base import (
    Backend,
    BackendConfig,
    Capability,
    CapabilityError,
    GenerateRequest,
    Generation,
    Prompt,
    ScoreRequest,
    ScoreResult,
    parse_options,
    plain_text,
)

INSTALL_HINT = "pip install 'confalign[openai]'"
_TRAILING_SPACE = " \t"
_PLACEHOLDER_KEY = "sk-no-key-needed"
T = TypeVar("T")


class TopKTruncationWarning(UserWarning):
    """A candidate was outside the server's top-k log-probabilities and got -inf."""


@dataclass(frozen=True)
class OpenAIOptions:
    """``BackendConfig.options`` understood by the ``openai`` backend (see module doc)."""

    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"  # the name of the variable, never the key
    endpoint: Literal["completions", "chat"] = "completions"
    chat_template: str | None = None  # jinja text of the model's chat template
    tokenizer: str | None = None  # a .gguf file or tokenizer folder holding the template
    echo: bool = True  # the server supports echo=True with logprobs
    echo_max_tokens: int = 1
    top_logprobs: int = 20
    missing_candidate: Literal["-inf", "error"] = "-inf"
    timeout: float = 60.0  # seconds per request
    max_retries: int = 4
    backoff: float = 0.5  # seconds before the first retry, doubled each time
    concurrency: int = 4
    extra_body: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, options: dict[str, Any]) -> OpenAIOptions:
        o = parse_options(cls, "openai", options)
        if o.endpoint not in ("completions", "chat") or o.missing_candidate not in (
            "-inf",
            "error",
        ):
            raise ValueError(f"endpoint: completions|chat, missing_candidate: -inf|error: {o}")
        if o.top_logprobs < 1 or o.concurrency < 1 or o.max_retries < 0 or o.timeout <= 0:
            raise ValueError("top_logprobs, concurrency >= 1; max_retries >= 0; timeout > 0")
        if o.echo_max_tokens not in (0, 1):
            raise ValueError("echo_max_tokens must be 0 or 1")
        if o.chat_template and o.tokenizer:
            raise ValueError("give chat_template or tokenizer, not both")
        return o


@register_backend("openai")
class OpenAIBackend(Backend):
    """An OpenAI-compatible HTTP server; see the module docstring."""

    name: ClassVar[str] = "openai"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {"score", "candidates", "generate", "prefill", "chat", "top_logprobs"}
    )

    def __init__(self, config: BackendConfig) -> None:
        super().__init__(config)
        self.options = o = OpenAIOptions.parse(dict(config.options))
        try:
            import openai
        except ImportError as error:
            raise ImportError(
                f"the openai backend needs the openai client: {INSTALL_HINT}"
            ) from error
        self._openai = openai
        self._key = os.environ.get(o.api_key_env) or None
        if self._key is None and o.base_url is None:
            raise ValueError(f"set the environment variable {o.api_key_env} (the API key)")
        self.client = openai.OpenAI(
            api_key=self._key or _PLACEHOLDER_KEY,
            base_url=o.base_url,
            timeout=o.timeout,
            max_retries=0,  # retried here, with the errors scrubbed
        )
        self.template = self._load_template()
        if config.chat and self.template is None and o.endpoint == "completions":
            raise ValueError(
                "chat=True on the completions endpoint needs chat_template or tokenizer"
            )
        self.chat = o.endpoint == "chat" or (self.template is not None and config.chat is not False)
        self.capabilities = _capabilities(o, self.chat)
        self.stats: Counter[str] = Counter()  # retries, straddling tokens, candidates missed
        self._stats_lock = threading.Lock()
        self.model = config.model if config.model != "default" else self._first_model()
        self._seeds = random.Random(config.seed)

    def _load_template(self) -> ChatTemplate | None:
        o = self.options
        if o.chat_template:
            return ChatTemplate(o.chat_template)
        return ChatTemplate.load(o.tokenizer) if o.tokenizer else None

    def _first_model(self) -> str:
        models = self._call(lambda: self.client.models.list().data)
        if not models:
            raise RuntimeError("the server lists no model; name one in BackendConfig.model")
        return models[0].id

    # -- transport -------------------------------------------------------------------------

    def _call(self, fn: Callable[[], T]) -> T:
        """``fn()`` with retries on transient errors; errors come back with the key scrubbed."""
        oa = self._openai
        transient = (
            oa.APIConnectionError,
            oa.APITimeoutError,
            oa.RateLimitError,
            oa.InternalServerError,
        )
        for attempt in range(self.options.max_retries + 1):
            try:
                return fn()
            except transient as error:
                if attempt == self.options.max_retries:
                    raise RuntimeError(self._scrub(f"{type(error).__name__}: {error}")) from None
                self._count("retries")
                time.sleep(self.options.backoff * 2**attempt * (0.5 + random.random()))
            except oa.APIStatusError as error:
                raise _StatusError(error.status_code, self._scrub(str(error))) from None
        raise AssertionError("unreachable")

    def _count(self, what: str, n: int = 1) -> None:
        with self._stats_lock:
            self.stats[what] += n

    def _scrub(self, text: str) -> str:
        if self._key:
            text = text.replace(self._key, "***")
        return re.sub(r"sk-[A-Za-z0-9_*\-]{6,}", "sk-***", text)

    def _map(self, fn: Callable[[Any], T], items: Sequence[Any]) -> list[T]:
        if len(items) <= 1 or self.options.concurrency == 1:
            return [fn(x) for x in items]
        with ThreadPoolExecutor(min(self.options.concurrency, len(items))) as pool:
            return list(pool.map(fn, items))

    def _complete(self, **kwargs: Any) -> Any:
        extra = self.options.extra_body or None
        return self._call(
            lambda: self.client.completions.create(model=self.model, extra_body=extra, **kwargs)
        )

    def _chat(self, prompt: Prompt, **kwargs: Any) -> Any:
        if prompt.assistant_prefix:
            raise CapabilityError(
                self.name, "prefill", "the chat endpoint cannot continue an assistant turn"
            )
        messages = [{"role": "user", "content": prompt.user}]
        if prompt.system:
            messages.insert(0, {"role": "system", "content": prompt.system})
        extra = self.options.extra_body or None
        return self._call(
            lambda: self.client.chat.completions.create(
                model=self.model, messages=messages, extra_body=extra, **kwargs
            )
        )

    # -- prompts -----------------------------------------------------------------------------

    def render(self, prompt: Prompt) -> str:
        if self.options.endpoint == "chat":
            raise CapabilityError(
                self.name, "render", "the chat endpoint renders prompts on the server"
            )
        if self.template is not None and self.chat:
            return self.template.render(prompt)
        return plain_text(prompt)

    # -- scoring -----------------------------------------------------------------------------

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        if any(r.continuations for r in requests):
            self.require(
                "score", "continuation scoring (the distribution mode, continuation methods)"
            )
        if any(r.candidates for r in requests):
            self.require("candidates", "candidate scoring (the choice method)")
        jobs = [(i, c) for i, r in enumerate(requests) for c in (*r.continuations, None)]
        jobs = [(i, c) for i, c in jobs if c is not None or requests[i].candidates]
        done = self._map(lambda job: self._score_job(requests[job[0]], job[1]), jobs)
        conts: list[list[np.ndarray]] = [[] for _ in requests]
        cands = [np.zeros(0) for _ in requests]
        n_prompt = [-1 for _ in requests]  # the server's usage count (-1: not reported)
        for (i, cont), (value, n) in zip(jobs, done, strict=True):
            if cont is None:  # the candidate request's count is the whole rendered prompt's
                cands[i], n_prompt[i] = value, n
            else:  # the prompt less the trailing spaces that moved into the continuation
                conts[i].append(value)
                n_prompt[i] = n if n_prompt[i] < 0 else n_prompt[i]
        return [ScoreResult(tuple(c), m, n) for c, m, n in zip(conts, cands, n_prompt, strict=True)]

    def _score_job(self, request: ScoreRequest, cont: str | None) -> tuple[np.ndarray, int]:
        """(log-probabilities, prompt tokens by the server's count or -1) of one request."""
        if cont is None:
            return self._candidates(request)
        return self._continuation(request.prompt, cont)

    def _continuation(self, prompt: Prompt, continuation: str) -> tuple[np.ndarray, int]:
        text = self.render(prompt)
        context = text.rstrip(_TRAILING_SPACE)
        tail = text[len(context) :] + continuation
        try:
            n_max = self.options.echo_max_tokens
            response = self._complete(
                prompt=context + tail, echo=True, logprobs=1, max_tokens=n_max, temperature=0.0
            )
        except _StatusError as error:
            if 400 <= error.status < 500 and error.status not in (401, 403, 404, 429):
                raise CapabilityError(
                    self.name, "continuation scoring", f"echo refused: {error}"
                ) from None
            raise
        choice = response.choices[0]
        lp = choice.logprobs
        if lp is None or not lp.tokens or not (choice.text or "").startswith(context + tail):
            raise CapabilityError(
                self.name,
                "continuation scoring",
                "the server did not echo the prompt with logprobs",
            )
        n_generated = _generated_count(response, choice)
        picked, straddles = continuation_slice(
            lp.tokens[: len(lp.tokens) - n_generated],
            lp.text_offset[: len(lp.tokens) - n_generated],
            len(tail),
        )
        self._count("straddling_tokens", straddles)
        values = [lp.token_logprobs[j] for j in picked]
        if any(v is None for v in values):
            raise RuntimeError("the server gave no log-probability for a continuation token")
        return np.asarray(values, dtype=np.float64), _prompt_tokens(response, len(picked))

    def _candidates(self, request: ScoreRequest) -> tuple[np.ndarray, int]:
        k = self.options.top_logprobs
        if self.options.endpoint == "chat":
            response = self._chat(
                request.prompt, max_tokens=1, temperature=0.0, logprobs=True, top_logprobs=k
            )
            content = response.choices[0].logprobs.content if response.choices[0].logprobs else None
            top = {t.token: t.logprob for t in content[0].top_logprobs} if content else None
        else:
            response = self._complete(
                prompt=self.render(request.prompt), max_tokens=1, logprobs=k, temperature=0.0
            )
            lp = response.choices[0].logprobs
            top = lp.top_logprobs[0] if lp is not None and lp.top_logprobs else None
        if not top:
            raise RuntimeError(
                "the server returned no next-token distribution (it may have stopped at once)"
            )
        masses, missing = candidate_masses(top, request.candidates)
        if missing:
            if self.options.missing_candidate == "error":
                raise RuntimeError(f"candidates {missing} are outside the server's top {k}")
            self._count("candidates_outside_top_k", len(missing))
            warnings.warn(
                f"candidates {missing} outside the top {k} log-probabilities: -inf",
                TopKTruncationWarning,
                stacklevel=2,
            )
        return masses, _prompt_tokens(response, 0)

    # -- generation --------------------------------------------------------------------------

    def generate(self, requests: Sequence[GenerateRequest]) -> list[list[Generation]]:
        self.require("generate", "generation")
        jobs: list[tuple[int, int | None]] = []
        for i, r in enumerate(requests):
            if r.max_new_tokens < 1 or r.n < 1 or r.top_logprobs < 0:
                raise ValueError(f"max_new_tokens and n must be >= 1, top_logprobs >= 0: {r}")
            if r.temperature == 0:
                jobs.append((i, r.seed))
            else:
                base = r.seed if r.seed is not None else self._seeds.randrange(2**31)
                jobs += [(i, base + s) for s in range(r.n)]
        done = self._map(lambda job: self._generate_one(requests[job[0]], job[1]), jobs)
        out: list[list[Generation]] = [[] for _ in requests]
        for (i, _), gen in zip(jobs, done, strict=True):
            out[i].append(gen)
        return [g * requests[i].n if requests[i].temperature == 0 else g for i, g in enumerate(out)]

    def _generate_one(self, r: GenerateRequest, seed: int | None) -> Generation:
        args: dict[str, Any] = {"max_tokens": r.max_new_tokens, "temperature": r.temperature}
        if r.temperature > 0:
            args["top_p"] = r.top_p
        if seed is not None:
            args["seed"] = seed
        if r.stop:
            args["stop"] = list(r.stop)
        if self.options.endpoint == "chat":
            response = self._chat(
                r.prompt, logprobs=True, top_logprobs=r.top_logprobs or None, **args
            )
            choice = response.choices[0]
            content = choice.logprobs.content if choice.logprobs else []
            tokens = [t.token for t in content or []]
            lps = [t.logprob for t in content or []]
            tops = [{a.token: a.logprob for a in t.top_logprobs or []} for t in content or []]
        else:
            response = self._complete(
                prompt=self.render(r.prompt), logprobs=max(r.top_logprobs, 1), **args
            )
            choice = response.choices[0]
            lp = choice.logprobs
            tokens = list(lp.tokens) if lp else []
            lps = list(lp.token_logprobs) if lp else []
            tops = [dict(t or {}) for t in lp.top_logprobs] if lp and lp.top_logprobs else []
        text = choice.text if self.options.endpoint == "completions" else choice.message.content
        return to_generation(text or "", tokens, lps, tops, r.top_logprobs, choice.finish_reason)

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info.update(
            model=self.model,
            base_url=_without_userinfo(self.options.base_url),
            endpoint=self.options.endpoint,
            chat=self.chat,
        )
        return info

    def close(self) -> None:
        self.client.close()


class _StatusError(RuntimeError):
    """A non-transient HTTP error from the server (message scrubbed of the key)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


def _capabilities(o: OpenAIOptions, chat: bool) -> frozenset[Capability]:
    if o.endpoint == "chat":
        return frozenset({"candidates", "generate", "chat", "top_logprobs"})
    caps: set[Capability] = {"candidates", "generate", "prefill", "top_logprobs"}
    if o.echo:
        caps.add("score")
    if chat:
        caps.add("chat")
    return frozenset(caps)


def _generated_count(response: Any, choice: Any) -> int:
    usage = getattr(response, "usage", None)
    n = getattr(usage, "completion_tokens", None)
    return int(n) if n is not None else (1 if choice.finish_reason == "length" else 0)


def _prompt_tokens(response: Any, n_continuation: int) -> int:
    n = getattr(getattr(response, "usage", None), "prompt_tokens", None)
    return int(n) - n_continuation if isinstance(n, int) else -1


def _without_userinfo(url: str | None) -> str | None:
    if not url:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


# -- pure mapping from responses (tested without a server) ---------------------------------


def continuation_slice(
    tokens: Sequence[str], offsets: Sequence[int], n_chars: int
) -> tuple[list[int], int]:
    """Indices of the prompt tokens covering the last ``n_chars`` characters, and 1 when the
    first of them begins before that text (a straddling token), else 0.

    Positions are counted back from the end of the echoed prompt (the last token's offset
    plus its length), so offsets that skip special tokens earlier in the prompt do no harm."""
    if not tokens:
        return [], 0
    start = offsets[-1] + len(tokens[-1]) - n_chars
    picked = [j for j, (t, o) in enumerate(zip(tokens, offsets, strict=True)) if o + len(t) > start]
    return picked, int(bool(picked) and offsets[picked[0]] < start)


def candidate_masses(
    top: dict[str, float], candidates: Sequence[str]
) -> tuple[np.ndarray, list[str]]:
    """log(P("c") + P(" c")) from a top-k dict {token text: logprob}; -inf (and listed as
    missing) where neither form is in it."""
    out = np.full(len(candidates), -np.inf)
    missing = []
    for k, c in enumerate(candidates):
        forms = [top[f] for f in dict.fromkeys((c, " " + c)) if f in top]
        if forms:
            out[k] = float(np.logaddexp.reduce(np.asarray(forms, dtype=np.float64)))
        else:
            missing.append(c)
    return out, missing


def to_generation(
    text: str,
    tokens: Sequence[str],
    logprobs: Sequence[float | None],
    tops: Sequence[dict[str, float]],
    top_k: int,
    finish_reason: str | None,
) -> Generation:
    """A response choice as a ``Generation``: tokens that begin at or past the end of ``text``
    (a stop string the server removed, EOS) are dropped; top dicts are cut to the best k."""
    starts = np.cumsum([0, *(len(t) for t in tokens)])[: len(tokens)]
    keep = int(np.sum(starts < len(text)))
    chosen = np.asarray([v if v is not None else np.nan for v in logprobs[:keep]], dtype=np.float64)
    best = ()
    if top_k:
        best = tuple(dict(sorted(t.items(), key=lambda kv: -kv[1])[:top_k]) for t in tops[:keep])
    return Generation(
        text=text,
        tokens=tuple(tokens[:keep]),
        token_logprobs=chosen,
        top_logprobs=best,
        finish_reason="length" if finish_reason == "length" else "stop",
    )
