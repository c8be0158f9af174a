"""The ``hf`` backend: any transformers causal LM (the embedded default model included).

Loading: ``BackendConfig.model`` is a Hub id or a local folder for ``from_pretrained``, or
``"default"`` for the embedded SmolLM2-135M-Instruct, or ``"gemma-3-270m"`` for the embedded
Gemma-3-270M base model (each converted once, see ``default_model``).
``adapter`` is a LoRA folder loaded with peft (merged into the weights unless
``options={"merge_adapter": False}``). ``device="auto"`` is CUDA when available, else CPU;
``dtype="auto"`` is float32 on CPU and the checkpoint's own dtype on a GPU. Remote code runs
only with ``trust_remote_code=True``.

Prompts: with a chat template (and ``chat`` not False) system and user turns go through
``apply_chat_template(..., add_generation_prompt=True)`` and ``assistant_prefix`` follows the
assistant header; without one the text is ``base.plain_text(prompt)`` (the prompt's lm-eval
layout for the internal methods; the turns joined by newlines otherwise).
A rendered chat prompt is encoded without adding special tokens (the template has them), a
plain one with them (BOS for the models that want it).

Continuations are tokenized as lm-eval does: ``context + continuation`` is encoded as one text
and the continuation's tokens are those after the context's own token count. Encoding a
continuation apart from its context is exact for byte-level BPE but not for tokenizers that
add a dummy prefix (SentencePiece Llama-2, Mistral v0.1-0.3): ``" Paris"`` alone becomes
``▁ ▁Paris``, inside ``"Answer: Paris"`` it is ``▁Paris``. As in lm-eval, trailing whitespace
of the prompt moves to the start of each continuation, so that ``"Answer: " + "Paris"`` is
scored as ``"Answer:" + " Paris"``, the tokenisation the model knows; unlike lm-eval only
spaces and tabs move, not newlines, because BPE vocabularies do not merge a newline into the
next word, and moving the newline that ends a chat template's assistant header would add a
near-certain token to every continuation.

Candidates: the ids of the single-token forms ``c`` and ``" " + c`` of each candidate, found
the same way after the request's own context (a form counts when ``context + form`` encodes
as the context's tokens plus exactly one token), and their probabilities are summed; so a
dummy-prefix tokenizer's ``A`` (no space) and ``▁A`` are both counted. A candidate with
neither form as one token is an error. When spaces moved off the prompt, candidates are read
after those spaces, their forms encoded alone.

Sampling: a request's ``seed`` seeds a generator of its own, so its samples are the same
whichever requests share its batch (``_hf_generate``); unseeded requests draw from torch's
global RNG, which loading the backend seeds with ``BackendConfig.seed``, so they are repeatable
for the same sequence of calls.

Options (``BackendConfig.options``): ``share_prompt`` (default True: compute the prompt once
per request, see ``_hf_scoring``; False: one plain row per continuation, the reference
layout), ``pack`` (True: short requests fill the padding of long ones), ``merge_adapter``
(True), ``attn_implementation`` ("sdpa"), ``revision`` (None), ``generate_batch_tokens``
(4096: prompt + new tokens of all sample rows in one ``generate`` call, i.e. the key-value
cache; larger than ``batch_tokens`` because a decode step over few rows is bound by reading the
weights, smaller than it could be because long greedy prompts slow down in larger batches; the
sweep is in ``docs/performance.md``), ``chain`` (True: ``Backend.chain`` runs each request on
one key-value cache, ``_hf_chain``, the ``"chain"`` capability; False, or an attention that takes
no custom mask: the protocol's composition of ``score`` and ``generate`` calls).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from confalign.backends import register_backend
from confalign.backends._hf_chain import Chainer
from confalign.backends._hf_generate import Generator
from confalign.backends._hf_scoring import Scorer
from confalign.backends.base import (
    Backend,
    BackendConfig,
    Capability,
    ChainRequest,
    ChainResult,
    GenerateRequest,
    Generation,
    Prompt,
    ScoreRequest,
    ScoreResult,
    parse_options,
    plain_text,
)
from confalign.backends.default_model import resolve_model
from confalign.backends.devices import check_device
from confalign.backends.packed import Row, plain_row, shared_row
from confalign.backends.peft_compat import peft_wrapping

_TRAILING_SPACE = " \t"
GREEDY_CACHE = 8192  # greedy generations kept per backend (a few kB each)


@dataclass(frozen=True)
class HFOptions:
    """``BackendConfig.options`` understood by the ``hf`` backend."""

    share_prompt: bool = True  # one forward pass per request for all its continuations
    pack: bool = True  # several short requests per batch line instead of padding
    merge_adapter: bool = True  # merge LoRA weights: same results, no adapter overhead
    attn_implementation: str = "sdpa"  # sdpa/eager take the prompt-sharing mask
    revision: str | None = None  # Hub revision of model (and adapter)
    generate_batch_tokens: int = 4096  # key-value cache tokens per generate call
    chain: bool = True  # Backend.chain on one key-value cache (False: score + generate calls)

    def __post_init__(self) -> None:
        if self.generate_batch_tokens < 1:
            raise ValueError(
                f"hf option generate_batch_tokens must be >= 1, not {self.generate_batch_tokens}"
            )

    @classmethod
    def parse(cls, options: dict[str, Any]) -> HFOptions:
        return parse_options(cls, "hf", options)


@register_backend("hf")
class HFBackend(Backend):
    """transformers + torch; see the module docstring for the exact conventions."""

    name: ClassVar[str] = "hf"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {"score", "candidates", "generate", "prefill", "chat", "top_logprobs", "chain"}
    )

    def __init__(self, config: BackendConfig) -> None:
        super().__init__(config)
        self.options = HFOptions.parse(dict(config.options))
        if config.threads:
            torch.set_num_threads(config.threads)
        torch.manual_seed(config.seed)
        self.model_path = resolve_model(config.model)
        self.device = _pick_device(config.device)
        self.tokenizer = _load_tokenizer(self.model_path, config, self.options)
        self.model = _load_model(self.model_path, config, self.options, self.device)
        has_template = getattr(self.tokenizer, "chat_template", None) is not None
        if config.chat and not has_template:
            raise ValueError(
                f"chat=True but the tokenizer of {config.model!r} has no chat template"
            )
        self.chat = has_template and config.chat is not False
        self.eos_ids = _eos_ids(self.model, self.tokenizer)
        self.pad_id = self.tokenizer.pad_token_id
        if self.pad_id is None:
            self.pad_id = self.eos_ids[0]
        self._scorer = Scorer(self.model, self.pad_id)
        # Prompt sharing and packing need a custom attention mask (sdpa or eager attention).
        self._shared = self.options.share_prompt and self._scorer.supports_tree_mask
        self._generator = Generator(self.model, self.tokenizer, self.eos_ids)
        self._chainer = Chainer(self._scorer, self._generator, self.pad_id)
        self._greedy: OrderedDict[GenerateRequest, list[Generation]] = OrderedDict()
        self._encoded: OrderedDict[tuple[str, bool], list[int]] = OrderedDict()
        self._candidates: dict[str, list[int]] = {}
        if not self.chat:
            self.capabilities = self.capabilities - {"chat"}
        if not (self.options.chain and self._scorer.supports_tree_mask):
            self.capabilities = self.capabilities - {"chain"}

    # -- prompts and tokens --------------------------------------------------------------

    def render(self, prompt: Prompt) -> str:
        if not self.chat:
            return plain_text(prompt)
        messages = [{"role": "user", "content": prompt.user}]
        if prompt.system:
            messages.insert(0, {"role": "system", "content": prompt.system})
        try:
            text = self.tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=False
            )
        except Exception as error:  # jinja2 TemplateError: a template without a system role
            if not prompt.system:
                raise
            merged = [{"role": "user", "content": f"{prompt.system}\n\n{prompt.user}"}]
            try:
                text = self.tokenizer.apply_chat_template(
                    merged, add_generation_prompt=True, tokenize=False
                )
            except Exception:
                raise error from None
        return text + prompt.assistant_prefix

    def encode(self, texts: Sequence[str], *, special: bool = False) -> list[list[int]]:
        """Token ids of each text (cached: prompts and options repeat across requests)."""
        missing = list(dict.fromkeys(t for t in texts if (t, special) not in self._encoded))
        if missing:
            ids = self.tokenizer(missing, add_special_tokens=special)["input_ids"]
            for text, row in zip(missing, ids, strict=True):
                self._encoded[(text, special)] = list(row)
            while len(self._encoded) > 100_000:
                self._encoded.popitem(last=False)
        return [self._encoded[(t, special)] for t in texts]

    def encode_prompt(self, prompt: Prompt | str) -> tuple[list[int], str]:
        """(ids of the rendered prompt less trailing spaces, those spaces) (module doc)."""
        text = prompt if isinstance(prompt, str) else self.render(prompt)
        context = text.rstrip(_TRAILING_SPACE)
        (ids,) = self.encode([context], special=not self.chat)
        if not ids:  # nothing to condition on: start from BOS (EOS without one), as lm-eval
            bos = self.tokenizer.bos_token_id
            ids = [bos if bos is not None else self.eos_ids[0]]
        return ids, text[len(context) :]

    def split_prompt(self, text: str) -> tuple[list[int], str, str]:
        """``encode_prompt`` of a rendered ``text`` and the text its ids encode: (ids, the
        trailing spaces, the text before them)."""
        ids, space = self.encode_prompt(text)
        return ids, space, text[: len(text) - len(space)]

    def generation_ids(self, prompt: Prompt | str) -> list[int]:
        """The ids a generation after ``prompt`` (or its rendered text) starts from: the
        prompt's, then its trailing spaces encoded in context."""
        text = prompt if isinstance(prompt, str) else self.render(prompt)
        ids, space, context = self.split_prompt(text)
        return ids + (self.split_encode(context, ids, [space])[0] if space else [])

    def candidate_ids(self, candidate: str) -> list[int]:
        """Ids of the single-token forms of ``candidate`` encoded alone: ``c`` and ``" " + c``
        (the forms read after moved trailing spaces; see ``context_candidate_ids``)."""
        if candidate not in self._candidates:
            forms = self.encode([candidate, " " + candidate]) if candidate else []
            self._candidates[candidate] = self._single_tokens(candidate, forms)
        return self._candidates[candidate]

    def context_candidate_ids(self, context: str, ids: list[int], candidate: str) -> list[int]:
        """Ids of the forms ``c`` and ``" " + c`` that are one token right after ``context``
        (encoded as ``ids``), found by encoding ``context + form`` jointly."""
        if not context or not candidate:
            return self.candidate_ids(candidate)
        wholes = self.encode(
            [context + candidate, context + " " + candidate], special=not self.chat
        )
        n = len(ids)
        forms = [w[n:] for w in wholes if len(w) == n + 1 and w[:n] == ids]
        return self._single_tokens(candidate, forms)

    def _single_tokens(self, candidate: str, forms: Sequence[Sequence[int]]) -> list[int]:
        ids = list(dict.fromkeys(f[0] for f in forms if len(f) == 1))
        if not ids:
            raise ValueError(
                f"candidate {candidate!r} is not a single token for {self.config.model!r}, "
                "neither alone nor after a space; score it as a continuation instead"
            )
        return ids

    def split_encode(
        self, context: str, ids: list[int], continuations: Sequence[str]
    ) -> list[list[int]]:
        """Each continuation's tokens after ``context`` (encoded as ``ids``), split as lm-eval
        does: ``context + continuation`` encoded together, less the first ``len(ids)`` tokens.
        With no context (``ids`` is then a lone BOS/EOS) each is encoded alone."""
        if not context:
            return self.encode(list(continuations))
        wholes = self.encode([context + c for c in continuations], special=not self.chat)
        return [w[len(ids) :] for w in wholes]

    # -- the protocol ----------------------------------------------------------------------

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        texts = [self.render(r.prompt) for r in requests]
        self._encode_all(texts, requests)
        rows: list[Row] = []
        plans = [self._plan(t, r, rows) for t, r in zip(texts, requests, strict=True)]
        pack = self._shared and self.options.pack
        results = self._scorer.run(rows, self.config.batch_tokens, pack=pack)
        out = []
        for n_prompt, conts, cand_row in plans:
            lps = tuple(results[row].token_logprobs[sl].copy() for row, sl in conts)
            cands = results[cand_row].cand_logprobs if cand_row >= 0 else np.zeros(0)
            out.append(ScoreResult(lps, np.asarray(cands, dtype=np.float64), n_prompt))
        return out

    def _encode_all(self, texts: list[str], requests: Sequence[ScoreRequest]) -> None:
        """Fill the encoding cache with two batched tokenizer calls instead of many."""
        contexts = [t.rstrip(_TRAILING_SPACE) for t in texts]
        self.encode(contexts, special=not self.chat)
        joint = []
        for text, context, r in zip(texts, contexts, requests, strict=True):
            if not context:
                continue
            space = text[len(context) :]
            joint.extend(context + space + c for c in r.continuations)
            if not space:
                joint.extend(context + f for c in r.candidates for f in (c, " " + c))
        self.encode(joint, special=not self.chat)

    def _plan(
        self, text: str, request: ScoreRequest, rows: list[Row]
    ) -> tuple[int, list[tuple[int, slice]], int]:
        """Append the rows that ``request`` (rendered as ``text``) needs; return (prompt
        tokens, per continuation (row index, slice of its reads), candidate row or -1)."""
        ids, space, context = self.split_prompt(text)
        conts = self.split_encode(context, ids, [space + c for c in request.continuations])
        if space:  # candidates are read after the moved spaces, their forms encoded alone
            cand_ids = [self.candidate_ids(c) for c in request.candidates]
        else:
            cand_ids = [self.context_candidate_ids(context, ids, c) for c in request.candidates]
        space_ids = self.split_encode(context, ids, [space])[0] if space else []
        cand_branch = space_ids if cand_ids else []
        n_prompt = len(ids) + len(space_ids)
        if not conts and not cand_ids:
            return n_prompt, [], -1
        if self._shared:
            row, slices = shared_row(ids, conts, cand_branch, cand_ids)
            rows.append(row)
            index = len(rows) - 1
            return n_prompt, [(index, sl) for sl in slices], index if cand_ids else -1
        spans = []
        for cont in conts:
            rows.append(plain_row(ids, cont))
            spans.append((len(rows) - 1, slice(0, len(cont))))
        cand_row = -1
        if cand_ids:
            rows.append(plain_row(ids, cand_branch, cand_ids))
            cand_row = len(rows) - 1
        return n_prompt, spans, cand_row

    def generate(self, requests: Sequence[GenerateRequest]) -> list[list[Generation]]:
        for r in requests:
            _check_generate_request(r)
        # A greedy generation is a function of its request and the weights, which do not change
        # in a backend's life: a repeated one is served from memory. An eval run asks the same
        # greedy open answer twice (``answer_prob``'s, and the verbalized modes' own answer).
        out: list[list[Generation] | None] = [
            self._greedy.get(r) if r.temperature == 0 else None for r in requests
        ]
        todo = [i for i, o in enumerate(out) if o is None]
        if todo:
            fresh = self._generator.run(
                [requests[i] for i in todo],
                [self.generation_ids(requests[i].prompt) for i in todo],
                self.options.generate_batch_tokens,
            )
            for i, generations in zip(todo, fresh, strict=True):
                out[i] = generations
                if requests[i].temperature == 0:
                    self._greedy[requests[i]] = generations
                    if len(self._greedy) > GREEDY_CACHE:
                        self._greedy.popitem(last=False)
        return [o for o in out if o is not None]

    def chain(self, requests: Sequence[ChainRequest]) -> list[ChainResult]:
        """With the ``"chain"`` capability each request's prompt is computed once, on one
        key-value cache (``_hf_chain``); without it (option ``chain=False``, or attention that
        takes no custom mask) the protocol's composition of ``score`` and ``generate``."""
        if "chain" not in self.capabilities or not requests:
            return super().chain(requests)
        return self._chainer.run(self, requests)

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info.update(
            model_path=str(self.model_path),
            dtype=str(self.model.dtype).removeprefix("torch."),
            device=str(self.device),
            chat=self.chat,
            revision=self.options.revision,
        )
        return info

    def close(self) -> None:
        del self.model, self._scorer, self._generator, self._chainer
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def _check_generate_request(r: GenerateRequest) -> None:
    if r.max_new_tokens < 1 or r.n < 1 or r.top_logprobs < 0:
        raise ValueError(f"max_new_tokens and n must be >= 1, top_logprobs >= 0: {r}")
    if r.temperature < 0 or not 0 < r.top_p <= 1:
        raise ValueError(f"temperature must be >= 0 and top_p in (0, 1]: {r}")


def _pick_device(device: str) -> torch.device:
    # Checked before the tokenizer and weights load: an absent device is one line naming
    # the ones present (DeviceError), not torch's error after the load.
    return torch.device(check_device(device))


def _torch_dtype(dtype: str, device: torch.device) -> torch.dtype | str:
    if dtype == "auto":
        # CPU kernels are fastest and exact in float32; on a GPU keep the checkpoint's dtype.
        return torch.float32 if device.type == "cpu" else "auto"
    return getattr(torch, dtype)


def _load_tokenizer(path: str, config: BackendConfig, options: HFOptions) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(
        path, trust_remote_code=config.trust_remote_code, revision=options.revision
    )


def _load_model(path: str, config: BackendConfig, options: HFOptions, device: torch.device) -> Any:
    from transformers import AutoModelForCausalLM, GenerationConfig

    model = AutoModelForCausalLM.from_pretrained(
        path,
        dtype=_torch_dtype(config.dtype, device),
        trust_remote_code=config.trust_remote_code,
        revision=options.revision,
        attn_implementation=options.attn_implementation,
        device_map=str(device) if device.type != "cpu" else None,
    )
    # Keep only the special-token ids of the checkpoint's generation defaults: a Hub
    # generation_config.json (temperature 0.6, repetition_penalty...) must not silently
    # change what generate() samples from. (Before peft wraps the model, so it applies.)
    old = model.generation_config
    model.generation_config = GenerationConfig(
        bos_token_id=old.bos_token_id, eos_token_id=old.eos_token_id, pad_token_id=old.pad_token_id
    )
    if config.adapter:
        from peft import PeftModel

        with peft_wrapping():
            model = PeftModel.from_pretrained(model, config.adapter, revision=options.revision)
        if options.merge_adapter:
            model = model.merge_and_unload()
    model.to(device)
    model.eval()
    return model


def _eos_ids(model: Any, tokenizer: Any) -> list[int]:
    """End-of-sequence ids: the generation config's, plus the tokenizer's EOS."""
    eos = model.generation_config.eos_token_id
    ids = [eos] if isinstance(eos, int) else list(eos or [])
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    if not ids:
        raise ValueError("the model defines no end-of-sequence token")
    return ids
