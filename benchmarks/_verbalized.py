"""``extract_bench.py --workload verbalized``: verbalized ``prefill`` + ``distribution``
extraction, the composed path against the one-pass chain (issue 29).

Both paths run ``VerbalizedExtractor`` with modes ``prefill`` and ``distribution`` on the
embedded SmolLM2-135M-Instruct (fp32, CPU), each on its own ``hf`` backend: ``old`` with
option ``chain=False`` (``Backend.chain`` composed of ``score`` and ``generate`` calls: the
letters on the prompt up to ``"Answer:"``, the prefill generation and the level scoring, each
computing the prompt again), ``new`` as shipped (one key-value cache per request:
``backends/_hf_chain.py``). Workloads: ``--items`` seeded questions of MMLU (``mmlu_offline``,
multiple choice) and of CalibratedMath (``calibrated_math``, open QA, whose own answer is one
greedy generation per question for every format), each with 2 formats (``score_letter``,
``score_number``) and with all 6.

Interleaved: the timed questions are cut into ``--chunks`` chunks and the two paths alternate
chunk by chunk (old-new, new-old, ...), so a drift of the machine falls on both; each path
gets an untimed warm-up on ``--tune-items`` other questions first. Agreement: the largest
difference of any level probability or confidence between the paths, and whether every
record has the same answer and the same generated text.

The least-work GEMM bound (``_roofline``): per question and format, the grown prompt
(``"...Answer: <its answer>\\n<cue>"``) once, every distinct proper token prefix of the levels
once (a trie), the generated value's tokens but the last; plus, for open QA, the answer
prompt and the answer's tokens once per question. Through the vocabulary projection: the
letters' position (multiple choice), the prompt's last position, every trie node and every
fed generated token (the open answer: each of its tokens). A token that stopped generation
(the newline, cut from the text) is counted as generated when a value is shorter than its
limit. ``% bound`` = the bound's seconds for that work over the measured seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Sequence
from typing import Any

import _roofline as rl
import numpy as np

from confalign.confidence.formats import FORMAT_NAMES

DATASETS = ("mmlu_offline", "calibrated_math")
FORMAT_SETS = {"2": ("score_letter", "score_number"), "6": FORMAT_NAMES}
MODES = ("prefill", "distribution")
PATHS = ("old", "new")


@dataclasses.dataclass
class Timed:
    """One path on one workload: seconds, records and tokens fed to the decoder (padded)."""

    seconds: float = 0.0
    records: list[Any] = dataclasses.field(default_factory=list)
    fed: int = 0


def interleaved(
    extractor: Any, backends: dict[str, Any], examples: list, tune: list, chunks: int
) -> dict[str, Timed]:
    """Warm up both paths, then time them chunk by chunk in alternating order."""
    probes = {p: rl.ForwardProbe(b.model) for p, b in backends.items()}
    for b in backends.values():
        extractor.extract(b, tune)
    out = {p: Timed() for p in backends}
    size = -(-len(examples) // chunks)
    for c, start in enumerate(range(0, len(examples), size)):
        part = examples[start : start + size]
        for p in PATHS if c % 2 == 0 else PATHS[::-1]:
            probes[p].reset()
            t0 = time.perf_counter()
            records = extractor.extract(backends[p], part)
            out[p].seconds += time.perf_counter() - t0
            out[p].records += records
            out[p].fed += probes[p].tokens
    return out


def agreement(new: Sequence[Any], old: Sequence[Any]) -> tuple[float, bool]:
    """(largest |difference| of a level probability or confidence, same answers and text)."""
    diff, same = 0.0, True
    for n, o in zip(new, old, strict=True):
        same &= (n.key, n.prediction, n.raw_text) == (o.key, o.prediction, o.raw_text)
        if n.confidence is not None and o.confidence is not None:
            diff = max(diff, abs(n.confidence - o.confidence))
        if n.probs and o.probs:
            diff = max(diff, float(np.max(np.abs(np.subtract(n.probs, o.probs)))))
    return diff, same


def least_work(
    backend: Any, config: Any, examples: Sequence[Any], records: Sequence[Any]
) -> tuple[int, int]:
    """(tokens, vocabulary-projection reads) of the least work (module doc), from the records
    of one run (answers, generated token counts) and the hf tokenisation."""
    from confalign.confidence import get_format
    from confalign.confidence.prompts import answer_prompt, prefill_prompt

    by = {(r.example_id, r.format, r.mode): r for r in records}
    tokens = reads = 0
    for ex in examples:
        answer_tokens = 0
        for name in config.formats:
            fmt = get_format(name)
            prefill, dist = by[ex.id, name, "prefill"], by[ex.id, name, "distribution"]
            answer_tokens = dist.generated_tokens
            text = backend.render(prefill_prompt(ex, fmt, dist.prediction))
            ids, space = backend.encode_prompt(text)
            levels = [space + fmt.continuation(level) for level in fmt.level_strings]
            conts = backend.split_encode(text[: len(text) - len(space)], ids, levels)
            trie = len({tuple(c[:j]) for c in conts for j in range(1, len(c))})
            value = prefill.generated_tokens - answer_tokens
            value += value < config.value_max_new_tokens  # the stop token
            tokens += len(ids) + trie + max(value - 1, 0)
            reads += 1 + trie + max(value - 1, 0) + ex.is_multiple_choice
        if not ex.is_multiple_choice:
            answer_tokens += answer_tokens < config.answer_max_new_tokens
            tokens += len(backend.encode_prompt(answer_prompt(ex))[0]) + max(answer_tokens - 1, 0)
            reads += max(answer_tokens, 1)
    return tokens, reads


def table_rows(
    dataset: str, n_formats: str, n: int, timed: dict[str, Timed], bound_s: float
) -> list[list[str]]:
    diff, same = agreement(timed["new"].records, timed["old"].records)
    speed = {p: n / t.seconds for p, t in timed.items()}
    return [
        [
            dataset,
            n_formats,
            str(n),
            path,
            f"{speed[path]:.3f}",
            f"{speed[path] / speed['old']:.2f}x",
            f"{100 * bound_s / timed[path].seconds:.0f}",
            str(timed[path].fed),
            "" if path == "old" else f"{diff:.1e}",
            "" if path == "old" else ("yes" if same else "NO"),
        ]
        for path in PATHS
    ]


HEADERS = [
    "dataset",
    "formats",
    "items",
    "path",
    "items/s",
    "vs old",
    "% least-work GEMM bound",
    "tokens fed (padded)",
    "max abs diff (probs, Cv)",
    "same answers and text",
]


def main(args: argparse.Namespace) -> None:
    import torch

    from confalign.backends import BackendConfig, load_backend
    from confalign.confidence import VerbalizedConfig, VerbalizedExtractor
    from confalign.data import load_benchmark

    torch.set_num_threads(args.threads)
    first = rl.measure_roofline(threads=args.threads, tokens=args.gemm_tokens)
    batch = {"batch_tokens": args.batch_tokens} if args.batch_tokens else {}
    backends = {
        "old": load_backend(
            "hf", BackendConfig(threads=args.threads, options={"chain": False}, **batch)
        ),
        "new": load_backend("hf", BackendConfig(threads=args.threads, **batch)),
    }
    assert "chain" in backends["new"].capabilities
    assert "chain" not in backends["old"].capabilities
    done: list[tuple[str, str, int, dict[str, Timed], tuple[int, int]]] = []
    start = time.perf_counter()
    for dataset in DATASETS:
        loaded = load_benchmark(dataset, limit=args.items + args.tune_items, seed=args.seed)
        tune, examples = loaded.examples[: args.tune_items], loaded.examples[args.tune_items :]
        for n_formats in args.format_sets:
            config = VerbalizedConfig(formats=FORMAT_SETS[n_formats], modes=MODES)
            timed = interleaved(VerbalizedExtractor(config), backends, examples, tune, args.chunks)
            work = least_work(backends["new"], config, examples, timed["new"].records)
            done.append((dataset, n_formats, len(examples), timed, work))
            # the table prints at the end (its bound needs the last GEMM measurement): say
            # how far a long run has got
            seconds = ", ".join(f"{p} {t.seconds:.0f} s" for p, t in timed.items())
            print(f"{dataset}, {n_formats} formats: {seconds}", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - start
    # GEMM speed before and after the workloads; the faster one sets the bound (on a shared
    # machine the slower one would flatter every % column).
    last = rl.measure_roofline(threads=args.threads, tokens=args.gemm_tokens)
    roof = min(first, last, key=lambda r: r.t_body + r.t_head)
    rows, notes = [], []
    for dataset, n_formats, n, timed, (tokens, reads) in done:
        bound_s = tokens * roof.t_body + reads * roof.t_head
        rows += table_rows(dataset, n_formats, n, timed, bound_s)
        notes.append(
            f"{dataset}, {n_formats} formats: least work {tokens} tokens, {reads} reads "
            f"-> {bound_s:.1f} s at the GEMM bound"
        )
    print(rl.markdown_table(HEADERS, rows))
    print("\n" + "\n".join(notes))
    print(f"\n{rl.roofline_table(roof)}")
    print(
        f"GEMM speed (FLOP-weighted) before the workloads {first.effective_gflops:.0f}, after "
        f"{last.effective_gflops:.0f} GFLOP/s; the faster sets the bound"
    )
    print(
        f"\ntorch {torch.__version__}, {args.threads} threads, fp32, CPU; "
        f"{elapsed:.0f} s for the timed workloads and their warm-ups"
    )
