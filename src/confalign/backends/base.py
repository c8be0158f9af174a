"""The one protocol every model backend implements.

A backend turns strings into log-probabilities and text, nothing more (like lm-eval's ``LM``):
it knows nothing of questions, confidences or metrics. Three operations, all batched:

- ``score``: per-token log-probabilities of given continuations after a prompt, and the
  next-token probability of given candidate strings at the end of the prompt;
- ``generate``: text plus per-token log-probabilities (and top-k alternatives), n samples;
- ``next_token_logprobs``: a convenience over ``score`` for the candidates alone;
- ``chain``: several reads of one prompt as it grows (candidates at its end, then text written
  after them, then continuations and a greedy generation after that), by default composed of
  ``score`` and ``generate`` calls; a backend with the ``"chain"`` capability runs each
  request on one key-value cache, computing its prompt once.

Prompts are ``Prompt`` values; a backend applies the model's chat template when it has one
(and ``chat`` is not turned off) and appends ``assistant_prefix`` after the assistant header,
which is what the ``prefill`` elicitation mode needs. Without a chat template (a base model)
the text is ``plain_text(prompt)``: the prompt's own ``plain`` layout when it has one (the
extractors give lm-eval's templates there), else the turns joined by newlines.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np

Capability = Literal["score", "candidates", "generate", "prefill", "chat", "top_logprobs", "chain"]


class CapabilityError(RuntimeError):
    """A backend cannot do what an extractor or mode needs; says which, and why."""

    def __init__(self, backend: str, needed_by: str, reason: str) -> None:
        super().__init__(f"backend {backend!r} cannot serve {needed_by}: {reason}")
        self.backend, self.needed_by, self.reason = backend, needed_by, reason


@dataclass(frozen=True)
class Prompt:
    """What the model is conditioned on.

    ``user`` is the user turn, ``system`` an optional system turn, ``assistant_prefix`` text
    written for the model at the start of its own turn (after the chat template's assistant
    header). ``plain``: the whole text for a model without a chat template (a base model),
    laid out as a completion prompt; None: ``plain_text``'s default layout.
    """

    user: str
    system: str | None = None
    assistant_prefix: str = ""
    plain: str | None = None


def plain_text(prompt: Prompt) -> str:
    """The text a model without a chat template sees: ``prompt.plain`` when set, else
    ``system + "\n\n" + user``, then ``assistant_prefix`` on a line of its own (so a base
    model reads ``...(A, B, C or D).\nAnswer:``, never ``...D).Answer:``)."""
    if prompt.plain is not None:
        return prompt.plain
    head = f"{prompt.system}\n\n" if prompt.system else ""
    text = head + prompt.user
    if prompt.assistant_prefix and text and not text.endswith("\n"):
        text += "\n"
    return text + prompt.assistant_prefix


@dataclass(frozen=True, eq=False)
class ScoreRequest:
    """Score ``continuations`` after ``prompt`` and the next-token mass of ``candidates``.

    A candidate is a short string such as an option letter; its probability is the summed
    probability of its single-token forms with and without a leading space (``"A"``, ``" A"``).
    """

    prompt: Prompt
    continuations: tuple[str, ...] = ()
    candidates: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class ScoreResult:
    """``continuation_logprobs[k]``: natural-log probability of each token of continuation k,
    shape ``(n_tokens_k,)``, float64. ``candidate_logprobs``: log of each candidate's
    next-token probability mass, shape ``(n_candidates,)``, not renormalised.
    ``prompt_tokens``: tokens in the rendered prompt."""

    continuation_logprobs: tuple[np.ndarray, ...]
    candidate_logprobs: np.ndarray
    prompt_tokens: int


@dataclass(frozen=True)
class GenerateRequest:
    """Generate up to ``max_new_tokens`` after ``prompt``; ``temperature`` 0 means greedy.

    ``stop``: strings that end a generation (removed from the returned text).
    ``top_logprobs``: how many alternatives to return per generated token (0 = none).
    ``seed``: makes sampling repeatable where the backend allows it.
    """

    prompt: Prompt
    max_new_tokens: int = 32
    temperature: float = 0.0
    top_p: float = 1.0
    n: int = 1
    stop: tuple[str, ...] = ()
    top_logprobs: int = 0
    seed: int | None = None


@dataclass(frozen=True, eq=False)
class Generation:
    """One generated sample. ``token_logprobs``: log-probability of each generated token under
    the model's own (temperature 1) distribution, shape ``(len(tokens),)``."""

    text: str
    tokens: tuple[str, ...]
    token_logprobs: np.ndarray
    top_logprobs: tuple[dict[str, float], ...] = ()
    finish_reason: Literal["stop", "length"] = "stop"


@dataclass(frozen=True, eq=False)
class ChainRequest:
    """Reads of one prompt as it grows, in order (``Backend.chain``):

    1. ``candidates``: the next-token mass of each candidate at the end of ``prompt``, as in a
       ``ScoreRequest``;
    2. ``then``: the text written next, appended to the prompt's ``assistant_prefix``; a
       function of step 1's candidate log-masses (None: nothing is appended);
    3. ``continuations``: scored after the grown prompt, as in a ``ScoreRequest``;
    4. ``max_new_tokens`` > 0: a greedy generation after the grown prompt, as a
       ``GenerateRequest`` with ``temperature`` 0, ``n`` 1 and ``stop``.
    """

    prompt: Prompt
    candidates: tuple[str, ...] = ()
    then: Callable[[np.ndarray], str] | None = None
    continuations: tuple[str, ...] = ()
    max_new_tokens: int = 0
    stop: tuple[str, ...] = ()

    def grown(self, candidate_logprobs: np.ndarray) -> Prompt:
        """The prompt after step 2."""
        if self.then is None:
            return self.prompt
        text = self.then(candidate_logprobs)
        return replace(self.prompt, assistant_prefix=self.prompt.assistant_prefix + text)

    def generate_request(self, prompt: Prompt) -> GenerateRequest:
        """Step 4 as the ``GenerateRequest`` it stands for, after ``prompt``."""
        return GenerateRequest(prompt, self.max_new_tokens, temperature=0.0, stop=self.stop)


@dataclass(frozen=True, eq=False)
class ChainResult:
    """``prompt``: the grown prompt. ``candidate_logprobs``: step 1 (shape ``(n_candidates,)``),
    ``continuation_logprobs``: step 3 (as ``ScoreResult``'s), ``generation``: step 4 (None when
    ``max_new_tokens`` is 0)."""

    prompt: Prompt
    candidate_logprobs: np.ndarray
    continuation_logprobs: tuple[np.ndarray, ...]
    generation: Generation | None


@dataclass(frozen=True)
class BackendConfig:
    """How to load a model. ``model``: a Hub id, a local path, ``"default"`` (the embedded
    SmolLM2-135M-Instruct) or ``"gemma-3-270m"`` (the embedded Gemma-3-270M base model).
    ``adapter``: a LoRA adapter folder (peft). ``chat``: apply the chat
    template (None: when the tokenizer has one). ``options``: backend-specific settings (e.g.
    ``base_url`` for ``openai``); never secrets, which come from environment variables."""

    model: str = "default"
    adapter: str | None = None
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    device: str = "auto"
    trust_remote_code: bool = False
    chat: bool | None = None
    # Tokens per forward batch. 2048 is the fastest on 2 CPU cores (benchmarks/vs_lm_eval.py
    # sweep: 6.3 questions/s against 3.9 at 4096); on a GPU raise it to 16k or more.
    batch_tokens: int = 2048
    threads: int | None = None
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Checked here, before any model loads (a typo should not cost a 20 s load).
        if not self.model:
            raise ValueError("model must be a Hub id, a local path or 'default'")
        if self.dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise ValueError(
                f"dtype must be auto, float32, bfloat16 or float16, not {self.dtype!r}"
            )
        if self.batch_tokens < 1:
            raise ValueError(f"batch_tokens must be >= 1, not {self.batch_tokens}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1 or None, not {self.threads}")
        if self.chat not in (None, True, False):
            raise ValueError(f"chat must be True, False or None, not {self.chat!r}")


_Options = TypeVar("_Options")


def parse_options(cls: type[_Options], backend: str, options: Mapping[str, Any]) -> _Options:
    """``cls(**options)`` for a backend's options dataclass; an unknown key is a ``ValueError``
    that lists the known ones (checked before any model loads)."""
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"unknown {backend} options {unknown}; known: {sorted(known)}")
    return cls(**options)


class Backend(ABC):
    """A loaded model behind the three operations."""

    name: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[Capability]] = frozenset()

    def __init__(self, config: BackendConfig) -> None:
        self.config = config

    @abstractmethod
    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        """One ``ScoreResult`` per request, in order."""

    @abstractmethod
    def generate(self, requests: Sequence[GenerateRequest]) -> list[list[Generation]]:
        """``request.n`` generations per request, in order."""

    @abstractmethod
    def render(self, prompt: Prompt) -> str:
        """The exact text the model sees for ``prompt`` (chat template applied, prefix added)."""

    def next_token_logprobs(
        self, prompts: Sequence[Prompt], candidates: Sequence[str]
    ) -> list[np.ndarray]:
        """Log next-token mass of each candidate after each prompt, shape ``(len(candidates),)``."""
        results = self.score([ScoreRequest(p, candidates=tuple(candidates)) for p in prompts])
        return [r.candidate_logprobs for r in results]

    def chain(self, requests: Sequence[ChainRequest]) -> list[ChainResult]:
        """One ``ChainResult`` per request, in order. This default composes the protocol's
        calls, each over the requests that need it (none when none does): one ``score`` call
        for the candidates, one ``generate`` call, then one ``score`` call for the
        continuations. A backend with the ``"chain"`` capability overrides it to run each
        request on one key-value cache; its results equal these up to floating-point
        rounding (the same greedy text)."""
        n = len(requests)
        candidates = [np.zeros(0)] * n
        firsts = [i for i, r in enumerate(requests) if r.candidates]
        if firsts:
            asked = [
                ScoreRequest(requests[i].prompt, candidates=requests[i].candidates) for i in firsts
            ]
            for i, res in zip(firsts, self.score(asked), strict=True):
                candidates[i] = res.candidate_logprobs
        prompts = [r.grown(c) for r, c in zip(requests, candidates, strict=True)]
        generations: list[Generation | None] = [None] * n
        wanted = [i for i, r in enumerate(requests) if r.max_new_tokens > 0]
        if wanted:
            made = self.generate([requests[i].generate_request(prompts[i]) for i in wanted])
            for i, gens in zip(wanted, made, strict=True):
                generations[i] = gens[0]
        continued: list[tuple[np.ndarray, ...]] = [()] * n
        wanted = [i for i, r in enumerate(requests) if r.continuations]
        if wanted:
            asked = [ScoreRequest(prompts[i], requests[i].continuations) for i in wanted]
            for i, res in zip(wanted, self.score(asked), strict=True):
                continued[i] = res.continuation_logprobs
        return [
            ChainResult(p, c, s, g)
            for p, c, s, g in zip(prompts, candidates, continued, generations, strict=True)
        ]

    def require(self, capability: Capability, needed_by: str) -> None:
        """Raise ``CapabilityError`` unless this backend has ``capability``."""
        if capability not in self.capabilities:
            raise CapabilityError(self.name, needed_by, f"it does not support {capability!r}")

    def describe(self) -> dict[str, Any]:
        """What identifies this model for a run manifest (no secrets)."""
        return {"backend": self.name, "model": self.config.model, "adapter": self.config.adapter}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (servers, GPU memory)."""
