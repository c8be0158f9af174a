"""Batched generation for the ``hf`` backend, with per-token log-probabilities.

Requests with the same sampling settings are generated together (left-padded, sorted by
prompt length, at most ``batch_tokens`` tokens of prompt + new tokens per batch, counting the
``n`` samples). Log-probabilities come from the raw logits of each step (``output_logits``),
log_softmax'ed in float32: the model's own temperature-1 distribution, not the one that
temperature/top-p reshaped for sampling. The ``n`` samples of a request share one pass over its
prompt: its key-value cache is expanded to the ``n`` rows, as ``generate`` expands its inputs.

Sampling is ours, not ``generate``'s: ``generate`` draws every row from one global RNG, so a
request's samples would depend on which requests share its batch. ``_RowSampler`` draws each
request's rows from that request's own ``torch.Generator`` (seeded with ``seed``), which lets
requests with different seeds share a batch (a consistency run: one seed per example) and keeps
each sample set independent of batch composition. Unseeded requests draw from torch's global RNG.

A stop string ends a sample: the text is cut before its first occurrence, and the returned
tokens are those that begin before the cut (a token that straddles the cut is kept). An EOS
token ends a sample and is not returned. ``finish_reason`` is ``"stop"`` for both and
``"length"`` when ``max_new_tokens`` ran out. Greedy requests with ``n > 1`` return ``n``
copies of the one greedy sample.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from transformers import (
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    TemperatureLogitsWarper,
    TopPLogitsWarper,
)

from confalign.backends._hf_scoring import cache_argument
from confalign.backends.base import GenerateRequest, Generation


@dataclass(frozen=True)
class _Settings:
    """The part of a request that must be equal for requests to share a ``generate`` call
    (the seed is not: each request samples from its own generator)."""

    max_new_tokens: int
    temperature: float
    top_p: float
    n: int
    stop: tuple[str, ...]
    top_logprobs: int

    @classmethod
    def of(cls, r: GenerateRequest) -> _Settings:
        return cls(r.max_new_tokens, r.temperature, r.top_p, r.n, r.stop, r.top_logprobs)

    @property
    def sampling(self) -> bool:
        return self.temperature > 0


class Generator:
    """Generates for ``GenerateRequest``s whose prompts are already tokenised."""

    def __init__(
        self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, eos_ids: list[int]
    ) -> None:
        self.model, self.tokenizer, self.eos_ids = model, tokenizer, eos_ids
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_ids[0]
        self.device = next(model.parameters()).device
        self.cache_arg = cache_argument(model)

    def run(
        self,
        requests: Sequence[GenerateRequest],
        prompt_ids: Sequence[list[int]],
        batch_tokens: int,
    ) -> list[list[Generation]]:
        groups: dict[_Settings, list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault(_Settings.of(r), []).append(i)
        out: list[list[Generation]] = [[] for _ in requests]
        for settings, members in groups.items():
            for batch in _batches(members, prompt_ids, settings, batch_tokens):
                seeds = [requests[i].seed for i in batch]
                gens = self._generate([prompt_ids[i] for i in batch], settings, seeds)
                for i, g in zip(batch, gens, strict=True):
                    out[i] = g
        return out

    @torch.inference_mode()
    def _generate(
        self, prompts: list[list[int]], s: _Settings, seeds: list[int | None]
    ) -> list[list[Generation]]:
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(prompts), width), dtype=torch.long)
        for b, p in enumerate(prompts):  # left padding: every prompt ends at the same column
            ids[b, width - len(p) :] = torch.tensor(p)
            attention[b, width - len(p) :] = 1
        samples = s.n if s.sampling else 1
        # Greedy decoding throughout: when sampling, _RowSampler leaves one finite score per
        # row (its draw), which greedy then picks.
        config = GenerationConfig(
            max_new_tokens=s.max_new_tokens,
            do_sample=False,
            num_return_sequences=1,
            return_dict_in_generate=True,
            output_logits=True,
            stop_strings=list(s.stop) or None,
            eos_token_id=self.eos_ids,
            pad_token_id=self.pad_id,
        )
        ids, attention = ids.to(self.device), attention.to(self.device)
        extra: dict[str, Any] = {}
        if samples > 1 and width > 1:
            # Computing the prompt once for its n rows: its key-value cache, expanded to the
            # rows the way generate() expands inputs (repeat_interleave).
            extra[self.cache_arg] = self._prompt_cache(ids[:, :-1], attention[:, :-1], samples)
        if samples > 1:
            ids = ids.repeat_interleave(samples, dim=0)
            attention = attention.repeat_interleave(samples, dim=0)
        if s.sampling:
            sampler = _RowSampler(s.temperature, s.top_p, seeds, samples)
            extra["logits_processor"] = LogitsProcessorList([sampler])
        result = self.model.generate(
            input_ids=ids,
            attention_mask=attention,
            generation_config=config,
            tokenizer=self.tokenizer if s.stop else None,
            **extra,
        )
        new = result.sequences[:, width:]
        chosen, top = self._step_logprobs(result.logits, new, s.top_logprobs)
        gens = [
            self.finish(new[r].tolist(), chosen[r], top[r] if top else None, s.stop)
            for r in range(new.shape[0])
        ]
        if not s.sampling:
            return [[gens[b]] * s.n for b in range(len(prompts))]
        return [gens[b * samples : (b + 1) * samples] for b in range(len(prompts))]

    def _prompt_cache(self, ids: torch.Tensor, attention: torch.Tensor, n: int) -> Any:
        """Key-value cache of the left-padded prompts ``ids``, each row repeated ``n`` times;
        position ids as generate() derives them from the attention mask."""
        from transformers import DynamicCache

        positions = attention.long().cumsum(-1) - 1
        positions.masked_fill_(attention == 0, 1)
        out = self.model(
            input_ids=ids,
            attention_mask=attention,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
        )
        cache = out.cache if self.cache_arg == "cache" else out.past_key_values
        kv = [
            (layer.keys.repeat_interleave(n, dim=0), layer.values.repeat_interleave(n, dim=0))
            for layer in cache.layers
        ]
        return DynamicCache(ddp_cache_data=kv)

    def _step_logprobs(
        self, logits: Sequence[torch.Tensor], new: torch.Tensor, k: int
    ) -> tuple[np.ndarray, list[list[tuple[np.ndarray, np.ndarray]]]]:
        """Log-probability of each chosen token and the top-k alternatives, per step."""
        chosen = np.zeros(new.shape, dtype=np.float64)
        top_steps: list[tuple[np.ndarray, np.ndarray]] = []
        for t, step in enumerate(logits):  # one vectorised step per generated position
            lp = torch.log_softmax(step.float(), dim=-1)
            chosen[:, t] = lp.gather(1, new[:, t : t + 1])[:, 0].double().cpu().numpy()
            if k > 0:
                values, indices = lp.topk(k, dim=-1)
                top_steps.append((values.double().cpu().numpy(), indices.cpu().numpy()))
        if k == 0:
            return chosen, []
        per_row = [[(v[r], i[r]) for v, i in top_steps] for r in range(new.shape[0])]
        return chosen, per_row

    def finish(
        self,
        ids: list[int],
        logprobs: np.ndarray,
        top: list[tuple[np.ndarray, np.ndarray]] | None,
        stop: tuple[str, ...],
    ) -> Generation:
        """Cut one sample (new token ids, their log-probabilities, top alternatives or None)
        at EOS or the first stop string and build its ``Generation``."""
        n = next((i for i, t in enumerate(ids) if t in self.eos_ids), len(ids))
        reason = "stop" if n < len(ids) else "length"
        ids = ids[:n]
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        cut = min((i for i in (text.find(x) for x in stop) if i >= 0), default=-1)
        if cut >= 0:
            text, reason = text[:cut], "stop"
            ids = ids[: self._tokens_before(ids, cut)]
        pieces = self.tokenizer.batch_decode([[t] for t in ids]) if ids else []
        alternatives: tuple[dict[str, float], ...] = ()
        if top is not None:
            alternatives = tuple(self._top_dict(v, i) for v, i in top[: len(ids)])
        return Generation(
            text=text,
            tokens=tuple(pieces),
            token_logprobs=logprobs[: len(ids)].copy(),
            top_logprobs=alternatives,
            finish_reason=reason,
        )

    def _tokens_before(self, ids: list[int], cut: int) -> int:
        """How many of ``ids`` start before character ``cut`` of their decoded text."""
        prefixes = self.tokenizer.batch_decode(
            [ids[:i] for i in range(len(ids))], skip_special_tokens=True
        )
        return sum(1 for p in prefixes if len(p) < cut)

    def _top_dict(self, values: np.ndarray, indices: np.ndarray) -> dict[str, float]:
        """{token text: logprob}, best first; tokens decoding to the same text keep the best."""
        out: dict[str, float] = {}
        for text, value in zip(
            self.tokenizer.batch_decode(indices[:, None].tolist()), values, strict=True
        ):
            out.setdefault(text, float(value))
        return out


def _batches(
    members: list[int], prompt_ids: Sequence[list[int]], s: _Settings, batch_tokens: int
) -> Iterator[list[int]]:
    """Members sorted by prompt length (longest first), grouped within the token budget."""
    order = sorted(members, key=lambda i: -len(prompt_ids[i]))
    per_row = s.n if s.sampling else 1
    batch: list[int] = []
    for i in order:
        width = len(prompt_ids[batch[0]]) if batch else len(prompt_ids[i])
        if batch and (len(batch) + 1) * per_row * (width + s.max_new_tokens) > batch_tokens:
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


class _RowSampler(LogitsProcessor):
    """Draws each row's next token from softmax(logits / temperature), nucleus ``top_p``, by
    inverse CDF with one uniform per row from its request's generator (``n`` rows per request,
    in request order); returns scores that are 0 at the draw and -inf elsewhere."""

    def __init__(
        self, temperature: float, top_p: float, seeds: Sequence[int | None], n: int
    ) -> None:
        self.warpers: list[LogitsProcessor] = [TemperatureLogitsWarper(temperature)]
        if top_p < 1:
            self.warpers.append(TopPLogitsWarper(top_p))
        self.generators = [
            None if seed is None else torch.Generator().manual_seed(seed) for seed in seeds
        ]
        self.n = n

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.Tensor:
        for warp in self.warpers:
            scores = warp(input_ids, scores)
        # float64 CDF: a float32 running sum over a 50k vocabulary drifts by more than a
        # rare token's probability, which would move draws between neighbouring ids.
        cdf = torch.softmax(scores.float(), dim=-1).double().cumsum(dim=-1)
        # Every request draws n uniforms per step, finished rows included, so its t-th step
        # reads the same draws whichever requests share the batch.
        u = torch.cat([torch.rand(self.n, generator=g) for g in self.generators])
        u = u.to(cdf.device, torch.float64)[:, None] * cdf[:, -1:]  # the mass cdf actually reaches
        # right=True: the first index whose cdf exceeds u, so zero-probability tokens never win.
        token = torch.searchsorted(cdf, u, right=True).clamp_(max=cdf.shape[-1] - 1)
        out = torch.full_like(scores, -float("inf"))
        return out.scatter_(1, token, 0.0)
