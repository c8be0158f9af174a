"""The one protocol every model backend implements.

A backend turns strings into log-probabilities and text, nothing more (like lm-eval's ``LM``):
it knows nothing of questions, confidences or metrics. Three operations, all batched:

- ``score``: per-token log-probabilities of given continuations after a prompt, and the
  next-token probability of given candidate strings at the end of the prompt;
- ``generate``: text plus per-token log-probabilities (and top-k alternatives), n samples;
- ``next_token_logprobs``: a convenience over ``score`` for the candidates alone.

Prompts are ``Prompt`` values; a backend applies the model's chat template when it has one
(and ``chat`` is not turned off) and appends ``assistant_prefix`` after the assistant header,
which is what the ``prefill`` elicitation mode needs. Without a chat template (a base model)
the text is ``plain_text(prompt)``: the prompt's own ``plain`` layout when it has one (the
extractors give lm-eval's templates there), else the turns joined by newlines.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np

Capability = Literal["score", "candidates", "generate", "prefill", "chat", "top_logprobs"]


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

    def require(self, capability: Capability, needed_by: str) -> None:
        """Raise ``CapabilityError`` unless this backend has ``capability``."""
        if capability not in self.capabilities:
            raise CapabilityError(self.name, needed_by, f"it does not support {capability!r}")

    def describe(self) -> dict[str, Any]:
        """What identifies this model for a run manifest (no secrets)."""
        return {"backend": self.name, "model": self.config.model, "adapter": self.config.adapter}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (servers, GPU memory)."""
