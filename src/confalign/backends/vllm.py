"""The ``vllm`` backend: offline inference with vLLM's ``LLM`` (extra ``[vllm]``, needs a GPU).

Loading: ``LLM(model=..., tokenizer=..., dtype=..., seed=..., tensor_parallel_size=...,
enable_lora=...)`` with ``BackendConfig.model`` (a Hub id or a local folder; ``"default"``
is the embedded SmolLM2-135M-Instruct converted to safetensors by ``default_model``) and
``adapter`` (a peft LoRA folder, sent with every request as ``LoRARequest``).

Several GPUs and nodes are vLLM's own business, configured through ``options``:
``tensor_parallel_size``, ``pipeline_parallel_size``, ``distributed_executor_backend``
(``"ray"`` for several nodes: start a Ray cluster, then run confalign on its head node),
``gpu_memory_utilization``, ``max_model_len``, ``enable_prefix_caching``, ``max_logprobs``,
``max_lora_rank``, ``enforce_eager``; anything else vLLM's ``LLM`` accepts goes in
``options["llm_kwargs"]`` (e.g. ``{"logprobs_mode": "raw_logprobs"}``, vLLM >= 0.10.2's
default: log-probabilities of the raw model distribution, before temperature and top-p).

Prompts and tokens follow the ``hf`` backend exactly (the same transformers tokenizer,
``llm.get_tokenizer()``): the chat template through ``apply_chat_template``, prompts sent as
token ids (``{"prompt_token_ids": ...}``), continuations encoded apart after the prompt's
trailing spaces and tabs moved into them, candidates as the single-token forms ``c`` and
``" " + c``.

Scoring: each prompt+continuation is one request with ``SamplingParams(prompt_logprobs=1,
max_tokens=1)``; the continuation's log-probabilities are read, for the actual token ids, from
``RequestOutput.prompt_logprobs``. Candidates: one request per prompt with ``logprobs=k``
(``options["top_logprobs"]``, default 20) and ``max_tokens=1``; a candidate form missing from
the top k is then scored exactly as a one-token continuation, so candidate masses are never
truncated. Generation: ``SamplingParams(n, temperature, top_p, seed, stop, max_tokens,
logprobs)``; greedy requests run once and return ``n`` copies, as in ``hf``.

The mapping from vLLM's output objects to ``ScoreResult``/``Generation`` is made of plain
functions (``continuation_logprobs``, ``top_candidates``, ``to_generation``) that read only
the documented fields (``RequestOutput.prompt_logprobs``, ``.outputs``;
``CompletionOutput.text``, ``.token_ids``, ``.logprobs``, ``.finish_reason``;
``Logprob.logprob``, ``.rank``, ``.decoded_token``), so they are tested without vLLM.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from confalign.backends import register_backend
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

INSTALL_HINT = "pip install 'confalign[vllm]' on a machine with a CUDA GPU"
_TRAILING_SPACE = " \t"


@dataclass(frozen=True)
class VLLMOptions:
    """``BackendConfig.options`` understood by the ``vllm`` backend (see module doc)."""

    tensor_parallel_size: int = 1
    pipeline_parallel_size: int = 1
    distributed_executor_backend: str | None = None  # "ray" (multi-node) or "mp"
    gpu_memory_utilization: float = 0.9
    max_model_len: int | None = None
    enable_prefix_caching: bool | None = None  # None: vLLM's default
    max_logprobs: int = 20
    max_lora_rank: int = 16
    enforce_eager: bool = False
    top_logprobs: int = 20  # k of the candidate request
    llm_kwargs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, options: dict[str, Any]) -> VLLMOptions:
        parsed = parse_options(cls, "vllm", options)
        if parsed.tensor_parallel_size < 1 or parsed.pipeline_parallel_size < 1:
            raise ValueError("tensor_parallel_size and pipeline_parallel_size must be >= 1")
        if not 0 < parsed.top_logprobs <= parsed.max_logprobs:
            raise ValueError("top_logprobs must be in [1, max_logprobs]")
        return parsed

    def llm_arguments(self, config: BackendConfig, model: str) -> dict[str, Any]:
        """Keyword arguments of ``vllm.LLM``."""
        args: dict[str, Any] = {
            "model": model,
            "dtype": config.dtype,
            "seed": config.seed,
            "trust_remote_code": config.trust_remote_code,
            "tensor_parallel_size": self.tensor_parallel_size,
            "pipeline_parallel_size": self.pipeline_parallel_size,
            "gpu_memory_utilization": self.gpu_memory_utilization,
            "max_logprobs": self.max_logprobs,
            "enforce_eager": self.enforce_eager,
        }
        optional = {
            "distributed_executor_backend": self.distributed_executor_backend,
            "max_model_len": self.max_model_len,
            "enable_prefix_caching": self.enable_prefix_caching,
        }
        args.update({k: v for k, v in optional.items() if v is not None})
        if config.adapter:
            args.update(enable_lora=True, max_lora_rank=self.max_lora_rank)
        args.update(self.llm_kwargs)
        return args


# -- the pure mapping from vLLM outputs (tested without vLLM) ------------------------------


def continuation_logprobs(output: Any, n_prompt: int, continuation: Sequence[int]) -> np.ndarray:
    """Log-probabilities of ``continuation`` (token ids), read from the ``prompt_logprobs`` of
    a request whose prompt was ``prompt ids + continuation`` (``n_prompt`` prompt ids).

    ``output.prompt_logprobs[i]`` maps token ids to ``Logprob`` for position i (None at 0) and
    always holds the actual token, whatever k was asked for."""
    rows = output.prompt_logprobs
    if rows is None or len(rows) < n_prompt + len(continuation):
        raise RuntimeError("vLLM returned no prompt_logprobs (or too few) for a scored prompt")
    out = np.empty(len(continuation), dtype=np.float64)
    for j, token in enumerate(continuation):
        row = rows[n_prompt + j]
        if row is None or token not in row:
            raise RuntimeError(f"prompt_logprobs at {n_prompt + j} lack the prompt token {token}")
        out[j] = row[token].logprob
    return out


def top_candidates(
    output: Any, forms: Sequence[Sequence[int]]
) -> tuple[list[list[float]], list[tuple[int, int]]]:
    """From the first generated position's ``logprobs`` (top k + the sampled token), each
    candidate's form log-probabilities, and the (candidate, form id) pairs that were absent
    (to be scored exactly)."""
    first: Mapping[int, Any] = output.outputs[0].logprobs[0] if output.outputs[0].logprobs else {}
    found: list[list[float]] = []
    missing: list[tuple[int, int]] = []
    for c, ids in enumerate(forms):
        found.append([first[t].logprob for t in ids if t in first])
        missing.extend((c, t) for t in ids if t not in first)
    return found, missing


def to_generation(
    completion: Any,
    top_k: int,
    decode: Callable[[Sequence[int]], str],
) -> Generation:
    """A ``CompletionOutput`` as a ``Generation``.

    vLLM has cut ``text`` before a stop string and left out EOS; the tokens kept are those
    that begin before the end of that text (``decode``: ids -> text, special tokens skipped),
    so EOS and tokens after a stop string are dropped as in the ``hf`` backend."""
    ids = list(completion.token_ids)
    text = completion.text
    keep = sum(1 for i in range(len(ids)) if len(decode(ids[:i])) < len(text)) if ids else 0
    ids = ids[:keep]
    steps = list(completion.logprobs or [])[:keep]
    chosen = np.array([step[t].logprob for step, t in zip(steps, ids, strict=True)])
    tops: tuple[dict[str, float], ...] = ()
    if top_k:
        tops = tuple(_top_dict(step, top_k) for step in steps)
    pieces = tuple(_piece(step, t) for step, t in zip(steps, ids, strict=True))
    reason = "length" if completion.finish_reason == "length" else "stop"
    return Generation(
        text=text,
        tokens=pieces,
        token_logprobs=chosen.astype(np.float64),
        top_logprobs=tops,
        finish_reason=reason,
    )


def _top_dict(step: Mapping[int, Any], k: int) -> dict[str, float]:
    """{token text: logprob} of the top k, best first (the sampled token only if in the top k);
    tokens decoding to the same text keep the best."""
    ranked = sorted(step.items(), key=lambda kv: -kv[1].logprob)
    ranked = [kv for kv in ranked if kv[1].rank is None or kv[1].rank <= k][:k]
    out: dict[str, float] = {}
    for token, lp in ranked:
        out.setdefault(_piece(step, token), float(lp.logprob))
    return out


def _piece(step: Mapping[int, Any], token: int) -> str:
    text = step[token].decoded_token
    return text if text is not None else ""


# -- the backend ---------------------------------------------------------------------------


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as error:
        raise ImportError(f"the vllm backend needs vLLM: {INSTALL_HINT}") from error
    return vllm


@register_backend("vllm")
class VLLMBackend(Backend):
    """vLLM's offline ``LLM``; see the module docstring."""

    name: ClassVar[str] = "vllm"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {"score", "candidates", "generate", "prefill", "chat", "top_logprobs"}
    )

    def __init__(self, config: BackendConfig) -> None:
        super().__init__(config)
        self.options = VLLMOptions.parse(dict(config.options))
        self._vllm = _import_vllm()
        model = config.model
        from confalign.backends.default_model import ensure_embedded_model, is_embedded

        if is_embedded(model):
            model = str(ensure_embedded_model(model))
        self.model_path = model
        self.llm = self._vllm.LLM(**self.options.llm_arguments(config, model))
        self.tokenizer = self.llm.get_tokenizer()
        has_template = getattr(self.tokenizer, "chat_template", None) is not None
        if config.chat and not has_template:
            raise ValueError(f"chat=True but the tokenizer of {model!r} has no chat template")
        self.chat = has_template and config.chat is not False
        if not self.chat:
            self.capabilities = self.capabilities - {"chat"}
        self._lora = None
        if config.adapter:
            from vllm.lora.request import LoRARequest

            self._lora = LoRARequest("adapter", 1, config.adapter)
        self._candidates: dict[str, list[int]] = {}

    # -- prompts and tokens (as the hf backend) --------------------------------------------

    def render(self, prompt: Prompt) -> str:
        if not self.chat:
            return plain_text(prompt)
        messages = [{"role": "user", "content": prompt.user}]
        if prompt.system:
            messages.insert(0, {"role": "system", "content": prompt.system})
        try:
            text = self._template(messages)
        except Exception as error:  # a template without a system role
            if not prompt.system:
                raise
            try:
                text = self._template(
                    [{"role": "user", "content": f"{prompt.system}\n\n{prompt.user}"}]
                )
            except Exception:
                raise error from None
        return text + prompt.assistant_prefix

    def _template(self, messages: list[dict[str, str]]) -> str:
        return self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=False
        )

    def encode(self, text: str, *, special: bool = False) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=special)["input_ids"]) if text else []

    def encode_prompt(self, prompt: Prompt) -> tuple[list[int], str]:
        text = self.render(prompt)
        context = text.rstrip(_TRAILING_SPACE)
        ids = self.encode(context, special=not self.chat)
        if not ids:
            bos = self.tokenizer.bos_token_id
            ids = [bos if bos is not None else self.tokenizer.eos_token_id]
        return ids, text[len(context) :]

    def candidate_ids(self, candidate: str) -> list[int]:
        if candidate not in self._candidates:
            forms = [self.encode(candidate), self.encode(" " + candidate)] if candidate else []
            ids = list(dict.fromkeys(f[0] for f in forms if len(f) == 1))
            if not ids:
                raise ValueError(
                    f"candidate {candidate!r} is not a single token for {self.model_path!r}"
                )
            self._candidates[candidate] = ids
        return self._candidates[candidate]

    # -- the protocol ------------------------------------------------------------------------

    def _run(self, prompts: list[list[int]], params: list[Any]) -> list[Any]:
        if not prompts:
            return []
        return self.llm.generate(
            [{"prompt_token_ids": p} for p in prompts],
            sampling_params=params,
            lora_request=self._lora,
            use_tqdm=False,
        )

    def _score_params(self) -> Any:
        return self._vllm.SamplingParams(prompt_logprobs=1, max_tokens=1, temperature=0.0)

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        plans = []
        seqs: list[list[int]] = []  # prompt + continuation, one request each
        cand_prompts: list[list[int]] = []
        for r in requests:
            ids, space = self.encode_prompt(r.prompt)
            conts = [self.encode(space + c) for c in r.continuations]
            forms = [self.candidate_ids(c) for c in r.candidates]
            head = ids + self.encode(space)
            plans.append((ids, conts, head, forms, len(seqs), len(cand_prompts)))
            seqs.extend(ids + c for c in conts)
            if forms:
                cand_prompts.append(head)
        scored = self._run(seqs, [self._score_params()] * len(seqs))
        k = self.options.top_logprobs
        top_params = self._vllm.SamplingParams(logprobs=k, max_tokens=1, temperature=0.0)
        tops = self._run(cand_prompts, [top_params] * len(cand_prompts))
        out = []
        for ids, conts, head, forms, first_seq, cand_index in plans:
            lps = tuple(
                continuation_logprobs(scored[first_seq + j], len(ids), c)
                for j, c in enumerate(conts)
            )
            cands = np.zeros(0)
            if forms:
                cands = self._candidate_mass(tops[cand_index], head, forms)
            out.append(ScoreResult(lps, cands, len(head)))
        return out

    def _candidate_mass(self, output: Any, head: list[int], forms: list[list[int]]) -> np.ndarray:
        found, missing = top_candidates(output, forms)
        if missing:  # exact log-probabilities of the forms outside the top k
            extra = self._run(
                [[*head, t] for _, t in missing], [self._score_params()] * len(missing)
            )
            for (c, t), res in zip(missing, extra, strict=True):
                found[c].append(float(continuation_logprobs(res, len(head), [t])[0]))
        return np.array([np.logaddexp.reduce(np.array(v)) for v in found], dtype=np.float64)

    def generate(self, requests: Sequence[GenerateRequest]) -> list[list[Generation]]:
        prompts, params = [], []
        for r in requests:
            if r.max_new_tokens < 1 or r.n < 1 or r.top_logprobs < 0:
                raise ValueError(f"max_new_tokens and n must be >= 1, top_logprobs >= 0: {r}")
            ids, space = self.encode_prompt(r.prompt)
            prompts.append(ids + self.encode(space))
            greedy = r.temperature == 0
            params.append(
                self._vllm.SamplingParams(
                    n=1 if greedy else r.n,
                    temperature=r.temperature,
                    top_p=1.0 if greedy else r.top_p,
                    seed=r.seed,
                    stop=list(r.stop) or None,
                    max_tokens=r.max_new_tokens,
                    logprobs=max(r.top_logprobs, 1),
                )
            )
        outputs = self._run(prompts, params)
        result = []
        for r, output in zip(requests, outputs, strict=True):
            gens = [to_generation(c, r.top_logprobs, self._decode) for c in output.outputs]
            result.append(gens * r.n if r.temperature == 0 else gens)
        return result

    def _decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info.update(
            model_path=self.model_path,
            chat=self.chat,
            vllm=getattr(self._vllm, "__version__", "?"),
            tensor_parallel_size=self.options.tensor_parallel_size,
            pipeline_parallel_size=self.options.pipeline_parallel_size,
        )
        return info

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is not None:
            del self.llm
