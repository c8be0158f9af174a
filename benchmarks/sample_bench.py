"""Consistency-sampling speed: n samples per question through the ``hf`` backend vs transformers.

The default model samples ``--n`` answers at temperature 1 for ``--questions`` seeded
CalibratedMath questions (the consistency extractor's requests: the library's answer prompt,
stop at a newline, at most 16 new tokens). Rows, each timed after an untimed warm-up on other
questions:

- ``confalign``: ``HFBackend.generate`` as shipped: questions with different seeds in one
  batch (per-request generators), each prompt computed once for its n rows;
- ``confalign, one call per question``: the same backend called once per question;
- ``transformers batched``: the peer a user would write, ``model.generate(do_sample=True,
  num_return_sequences=n, stop_strings=...)`` on left-padded batches of as many questions as
  confalign's first batch holds (so both run the same rows per step);
- ``transformers per question``: the same call, one question at a time.

Draws differ between rows (different RNG streams); the ``answer right`` column (share of samples
equal to the gold answer) shows they sample the same distribution. Ratios: questions/s of
``confalign`` over each row's.

Usage: ``python benchmarks/sample_bench.py --questions 40 --n 20 --threads 2`` on an idle machine.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def peer_generate(backend: Any, requests: Sequence[Any], per_call: int) -> list[list[str]]:
    """Plain ``model.generate`` sampling, ``per_call`` questions per call; texts cut at ``\\n``."""
    tok, model = backend.tokenizer, backend.model
    eos = backend._generator.eos_ids
    pad = backend._generator.pad_id
    out: list[list[str]] = []
    with torch.inference_mode():
        for start in range(0, len(requests), per_call):
            chunk = requests[start : start + per_call]
            rows = [backend.generation_ids(r.prompt) for r in chunk]
            width = max(map(len, rows))
            ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows])
            mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
            r0 = chunk[0]
            result = model.generate(
                input_ids=ids,
                attention_mask=mask,
                do_sample=True,
                temperature=r0.temperature,
                top_p=r0.top_p,
                top_k=0,
                num_return_sequences=r0.n,
                max_new_tokens=r0.max_new_tokens,
                stop_strings=list(r0.stop),
                tokenizer=tok,
                eos_token_id=eos,
                pad_token_id=pad,
            )
            texts = tok.batch_decode(result[:, width:], skip_special_tokens=True)
            texts = [t.split("\n", 1)[0] for t in texts]
            out += [texts[b * r0.n : (b + 1) * r0.n] for b in range(len(chunk))]
    return out


def share_right(examples: Sequence[Any], texts: Sequence[Sequence[str]]) -> float:
    from confalign.data import is_correct

    hits = [is_correct(t, ex) for ex, ts in zip(examples, texts, strict=True) for t in ts]
    return sum(hits) / len(hits)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--questions", type=int, default=40, help="timed questions (default 40)")
    p.add_argument("--n", type=int, default=20, help="samples per question (default 20)")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--seed", type=int, default=0, help="seed of the question sample")
    args = p.parse_args(argv)

    from confalign.backends import BackendConfig, load_backend
    from confalign.backends._hf_generate import _batches, _Settings
    from confalign.confidence.consistency import ConsistencyConfig, ConsistencyExtractor
    from confalign.data import load_benchmark

    warm = 4
    loaded = load_benchmark(
        "calibrated_math", limit=args.questions + warm, seed=args.seed, stratify=True
    ).examples
    examples, tune = loaded[:-warm], loaded[-warm:]
    extractor = ConsistencyExtractor(ConsistencyConfig(n=args.n))
    backend = load_backend("hf", BackendConfig(model="default", threads=args.threads))
    requests, tune_requests = extractor.requests(examples), extractor.requests(tune)
    # The peer's batch: as many questions as the backend's own first batch holds.
    prompt_ids = [backend.generation_ids(r.prompt) for r in requests]
    first = next(
        _batches(
            list(range(len(requests))),
            prompt_ids,
            _Settings.of(requests[0]),
            backend.options.generate_batch_tokens,
        )
    )
    per_call = len(first)

    def ours(reqs: Sequence[Any]) -> list[list[str]]:
        return [[g.text for g in gens] for gens in backend.generate(reqs)]

    def ours_each(reqs: Sequence[Any]) -> list[list[str]]:
        return [ours([r])[0] for r in reqs]

    def peer(reqs: Sequence[Any]) -> list[list[str]]:
        return peer_generate(backend, reqs, per_call)

    def peer_each(reqs: Sequence[Any]) -> list[list[str]]:
        return peer_generate(backend, reqs, 1)

    rows: list[tuple[str, Callable[[Sequence[Any]], list[list[str]]]]] = [
        ("confalign", ours),
        ("confalign, one call per question", ours_each),
        (f"transformers batched ({per_call} q/call)", peer),
        ("transformers per question", peer_each),
    ]
    results = []
    for name, fn in rows:
        fn(tune_requests)  # warm-up
        seconds, texts = timed(lambda fn=fn: fn(requests))
        results.append((name, seconds, share_right(examples, texts)))
        print(f"{name}: {seconds:.1f} s", flush=True)

    base = len(examples) / results[0][1]
    print(f"\n{len(examples)} questions x {args.n} samples, {args.threads} threads\n")
    print("| row | questions/s | samples/s | confalign speedup | answer right |")
    print("| --- | --- | --- | --- | --- |")
    for name, seconds, right in results:
        qps = len(examples) / seconds
        print(f"| {name} | {qps:.2f} | {qps * args.n:.1f} | {base / qps:.2f}x | {right:.3f} |")


if __name__ == "__main__":
    main()
