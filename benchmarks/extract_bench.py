"""Internal-confidence extraction speed: questions/s and tokens/s per backend and scoring layout.

The default model (the embedded SmolLM2-135M-Instruct) answers ``--questions`` seeded offline
MMLU questions through confalign's multiple-choice extractor (``ChoiceExtractor``: choice,
continuation_sum, continuation_sum_norm and continuation_min from one request per question, on
the library's own prompt with the chat template). Rows:

- ``hf shared``: the ``hf`` backend as shipped (the prompt computed once per question, tree
  attention over the options, ``lm_head`` only where a log-probability is read);
- ``hf plain``: the same backend with ``share_prompt=False`` (one row per prompt + option);
- ``naive``: an independent reference written here with plain transformers calls: one full
  sequence per prompt + option, full logits at every position, no sharing. Its scores are the
  yardstick of the agreement column;
- ``llamacpp`` / ``openai``: when their backend modules and packages are installed (``openai``
  also needs ``--openai-base-url`` of a running server); skipped with a note otherwise. They run
  the GGUF or a server's model, so their agreement column is not expected to be ~0.

Every row gets an untimed warm-up on ``--tune-questions`` other questions. Tokens: ``unique``
(tool-independent: per question the prompt once plus every option's tokens, in the hf
tokenisation) and ``computed`` (input tokens the layout runs through the model, padding
excluded; unknown for llamacpp/openai). The GEMM-bound fractions use ``_roofline.py``, measured
in the same run. ``--profile`` adds a torch.profiler table of the ``hf shared`` pass.

Usage: ``python benchmarks/extract_bench.py --questions 200 --seed 0 --threads 2``.

``--workload verbalized`` times the verbalized ``prefill`` + ``distribution`` extraction
instead, the composed path against the one-pass chain (``_verbalized.py``): ``python
benchmarks/extract_bench.py --workload verbalized --items 20 --threads 1``.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib.util
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _roofline as rl

from confalign.backends.default_model import gguf_path

METHODS = ("choice", "continuation_sum", "continuation_sum_norm", "continuation_min")


@dataclasses.dataclass
class Outcome:
    """One row of the table: a timed extraction and what it computed."""

    name: str
    seconds: float
    records: list[Any]
    computed_tokens: int | None = None
    padded_tokens: int | None = None
    head_reads: int | None = None  # rows through lm_head (None: every computed token)
    note: str = ""
    questions: int | None = None  # timed on the first this many questions (None: all)
    unique_tokens: int | None = None  # of those questions


def to_examples(sample: Sequence[dict[str, Any]]) -> list[Any]:
    from confalign.data.example import QAExample

    return [
        QAExample(d["id"], d["question"], tuple(d["choices"]), d["answer"], d["subject"])
        for d in sample
    ]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


# -- the naive reference: one full sequence per option, plain transformers -------------------


def naive_extract(
    model: Any, tokenizer: Any, backend: Any, examples: Sequence[Any], batch: int
) -> tuple[list[Any], int]:
    """Records of the four methods computed from plain ``model(input_ids).logits`` calls.

    The prompt text comes from ``backend.render`` (the string is the protocol's contract); the
    tokenisation and the scoring are independent of the backend: ``prompt + " " + option`` ids
    as one sequence (on the continuation prompt), the letters read after the choice prompt,
    right-padded batches of ``batch`` sequences sorted by length.
    """
    import torch

    from confalign.confidence.internal import ChoiceExtractor

    # Per question: the letters on the choice prompt, then the options on their own prompt.
    requests = ChoiceExtractor().requests(examples)
    letter_reqs, option_reqs = requests[0::2], requests[1::2]
    special = not backend.chat
    seqs, owners = [], []  # (prompt ids, option ids); (question, option or -1 for the letters)
    for q, (letters, options) in enumerate(zip(letter_reqs, option_reqs, strict=True)):
        (ctx,) = tokenizer([backend.render(letters.prompt)], add_special_tokens=special)[
            "input_ids"
        ]
        seqs.append((list(ctx), []))
        owners.append((q, -1))
        (ctx,) = tokenizer([backend.render(options.prompt)], add_special_tokens=special)[
            "input_ids"
        ]
        for k, cont in enumerate(
            tokenizer(list(options.continuations), add_special_tokens=False)["input_ids"]
        ):
            seqs.append((list(ctx), list(cont)))
            owners.append((q, k))
    scores = [[None] * len(r.continuations) for r in option_reqs]
    letter_lp = [None] * len(letter_reqs)
    order = sorted(range(len(seqs)), key=lambda i: -sum(map(len, seqs[i])))
    with torch.inference_mode():
        for start in range(0, len(order), batch):
            chunk = order[start : start + batch]
            width = max(sum(map(len, seqs[i])) for i in chunk)
            ids = torch.full((len(chunk), width), tokenizer.pad_token_id or 0)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for b, i in enumerate(chunk):
                row = seqs[i][0] + seqs[i][1]
                ids[b, : len(row)], mask[b, : len(row)] = torch.tensor(row), 1
            logprobs = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits, -1)
            for b, i in enumerate(chunk):
                ctx, cont = seqs[i]
                q, k = owners[i]
                if k < 0:
                    letter_lp[q] = logprobs[b, len(ctx) - 1].double()
                    continue
                pos = torch.arange(len(ctx) - 1, len(ctx) + len(cont) - 1)
                scores[q][k] = logprobs[b, pos, torch.tensor(cont)].double().numpy()
    records = [
        record
        for ex, req, s, lp in zip(examples, letter_reqs, scores, letter_lp, strict=True)
        for record in _naive_records(ex, req, s, lp, tokenizer)
    ]
    return records, sum(len(c) + len(o) for c, o in seqs)


@dataclasses.dataclass(frozen=True)
class NaiveRecord:
    """The fields of ``ConfidenceRecord`` the table reads."""

    example_id: str
    method: str
    correct: bool
    extra: dict[str, Any]


REDUCE = {"continuation_sum": np.sum, "continuation_sum_norm": np.mean, "continuation_min": np.min}


def _naive_records(
    ex: Any, req: Any, scores: list[np.ndarray], letter_lp: Any, tokenizer: Any
) -> list[NaiveRecord]:
    """choice: log of each letter's summed mass ("A" and " A"); the others: sum/mean/min of the
    option's token log-probabilities. Prediction = argmax (first on ties), as the library."""
    mass = []
    for letter in req.candidates:
        forms = tokenizer([letter, " " + letter], add_special_tokens=False)["input_ids"]
        ids = sorted({f[0] for f in forms if len(f) == 1})
        mass.append(float(np.logaddexp.reduce(letter_lp[ids].numpy())))
    per_method = {"choice": np.array(mass)}
    per_method.update({m: np.array([f(s) for s in scores]) for m, f in REDUCE.items()})
    return [
        NaiveRecord(ex.id, m, int(np.argmax(v)) == ex.gold, {"scores": v.tolist()})
        for m, v in per_method.items()
    ]


# -- the rows -----------------------------------------------------------------------------


# --rows key: (table name, hf options, plain layout)
HF_LAYOUTS = {
    "shared": ("hf shared", {}, False),
    "nopack": ("hf shared, no packing", {"pack": False}, False),
    "plain": ("hf plain", {"share_prompt": False}, True),
}
ROWS = (*HF_LAYOUTS, "naive", "llamacpp", "openai")


def hf_rows(args: argparse.Namespace, examples: list, tune: list) -> tuple[list[Outcome], Any]:
    """The ``hf`` layouts of ``HF_LAYOUTS`` (each its own backend, loaded in turn), then
    ``naive``; returns them and a default ``hf`` backend (for token counts and the profile)."""
    from confalign.backends import BackendConfig, load_backend
    from confalign.confidence.internal import ChoiceExtractor

    extractor = ChoiceExtractor()
    outcomes = []
    for name, options, plain in (HF_LAYOUTS[k] for k in HF_LAYOUTS if k in args.rows):
        config = BackendConfig(threads=args.threads, options=options, **batch(args))
        try:
            backend = load_backend("hf", config)
        except ValueError as error:  # an option this version of the backend does not know
            outcomes.append(Outcome(name, float("nan"), [], note=f"skipped: {error}"[:120]))
            continue
        probe = rl.ForwardProbe(backend.model)
        extractor.extract(backend, tune)  # warm-up
        probe.reset()
        seconds, records = timed(functools.partial(extractor.extract, backend, examples))
        tokens, reads = computed_tokens(backend, extractor.requests(examples), plain=plain)
        outcomes.append(Outcome(name, seconds, records, tokens, probe.tokens, reads))
        backend.close()
    backend = load_backend("hf", BackendConfig(threads=args.threads, **batch(args)))
    if "naive" in args.rows:
        outcomes.append(naive_row(args, backend, examples, tune))
    return outcomes, backend


def naive_row(args: argparse.Namespace, backend: Any, examples: list, tune: list) -> Outcome:
    """The independent reference, on its own copy of the model."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(backend.model_path, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(backend.model_path)
    probe = rl.ForwardProbe(model.eval())
    naive_extract(model, tokenizer, backend, tune, args.naive_batch)  # warm-up
    probe.reset()
    seconds, (records, tokens) = timed(
        functools.partial(naive_extract, model, tokenizer, backend, examples, args.naive_batch)
    )
    note = f"batch {args.naive_batch} sequences, full logits"
    return Outcome("naive", seconds, records, tokens, probe.tokens, note=note)


def batch(args: argparse.Namespace) -> dict[str, int]:
    """``batch_tokens`` for ``BackendConfig`` when given, else nothing (the library default)."""
    return {"batch_tokens": args.batch_tokens} if args.batch_tokens else {}


def computed_tokens(backend: Any, requests: Sequence[Any], plain: bool = False) -> tuple[int, int]:
    """(input tokens, lm_head rows) of the hf layouts: shared = prompt + all options but their
    last token (read, never fed) + the candidate branch, per question; plain = prompt + option
    per option, and the prompt alone for the candidates. The head runs once per option token
    and once for the candidates."""
    total = reads = 0
    for req in requests:
        ids, space = backend.encode_prompt(req.prompt)
        conts = backend.encode([space + c for c in req.continuations])
        branch = len(backend.encode([space])[0]) if space and req.candidates else 0
        if plain:
            total += sum(len(ids) + len(c) for c in conts) + len(ids) + branch
        else:
            total += len(ids) + sum(len(c) - 1 for c in conts) + branch
        reads += sum(len(c) for c in conts) + (1 if req.candidates else 0)
    return total, reads


def other_rows(args: argparse.Namespace, examples: list, tune: list) -> list[Outcome]:
    """llamacpp and openai, when installed and configured; a note row otherwise."""
    from confalign.backends import BackendConfig, load_backend
    from confalign.confidence.internal import ChoiceExtractor

    wanted = {
        "llamacpp": ("llama_cpp", BackendConfig(model="default", threads=args.threads)),
        "openai": ("openai", BackendConfig(model=args.openai_model, options=args.openai_options)),
    }
    outcomes = []
    for name, (package, config) in ((k, v) for k, v in wanted.items() if k in args.rows):
        missing = [
            m
            for m in (f"confalign.backends.{name}", package)
            if importlib.util.find_spec(m) is None
        ]
        if missing or (name == "openai" and not args.openai_base_url):
            why = f"not installed: {', '.join(missing)}" if missing else "no --openai-base-url"
            outcomes.append(Outcome(name, float("nan"), [], note=f"skipped ({why})"))
            continue
        # llama-cpp-python's server returns prompt log-probabilities slowly (about 25 s per
        # question here): time it on a prefix of the questions.
        subset = examples[: args.openai_questions] if name == "openai" else examples
        try:
            backend = load_backend(name, config)
            extract = functools.partial(ChoiceExtractor().extract, backend)
            extract(tune[:2] if name == "openai" else tune)  # warm-up
            seconds, records = timed(functools.partial(extract, subset))
            note = "" if len(subset) == len(examples) else f"first {len(subset)} questions"
            outcomes.append(Outcome(name, seconds, records, note=note, questions=len(subset)))
            backend.close()
        except Exception as error:  # a backend under construction must not sink the benchmark
            outcomes.append(Outcome(name, float("nan"), [], note=f"failed: {error!r}"[:120]))
    return outcomes


# -- the table ----------------------------------------------------------------------------


def scores_of(records: Sequence[Any]) -> dict[tuple[str, str], np.ndarray]:
    return {(r.example_id, r.method): np.asarray(r.extra["scores"]) for r in records}


def table_rows(
    outcomes: Sequence[Outcome], reference: Outcome, n: int, unique: tuple[int, int], roof: Any
) -> list[list[str]]:
    ref = scores_of(reference.records)
    unique_tokens, unique_reads = unique
    useful = roof.needed_bound(unique_tokens, unique_reads)

    def own_bound(o: Outcome) -> float:
        assert o.computed_tokens is not None
        return roof.needed_bound(o.computed_tokens, o.head_reads or o.computed_tokens)

    rows = []
    for o in outcomes:
        if not o.records:
            rows.append([o.name, *["-"] * 9, o.note])
            continue
        mine = scores_of(o.records)
        diff = max(float(np.max(np.abs(mine[k] - ref[k]))) for k in mine)
        n_o, unique_o = o.questions or n, o.unique_tokens or unique_tokens
        acc = {m: np.mean([bool(r.correct) for r in o.records if r.method == m]) for m in METHODS}
        computed = o.computed_tokens
        rows.append(
            [
                o.name,
                f"{n_o / o.seconds:.2f}",
                f"{unique_o / o.seconds:.0f}",
                "n/a" if computed is None else f"{computed}",
                "n/a" if computed is None else f"{computed / o.seconds:.0f}",
                "n/a" if o.padded_tokens is None else f"{o.padded_tokens}",
                "n/a" if computed is None else f"{100 * computed / o.seconds / own_bound(o):.0f}",
                f"{100 * unique_o / o.seconds / useful:.0f}",
                f"{diff:.1e}",
                f"{acc['choice']:.3f} / {acc['continuation_sum']:.3f}",
                o.note,
            ]
        )
    return rows


HEADERS = [
    "backend / layout",
    "questions/s",
    "unique tok/s",
    "computed tokens",
    "computed tok/s",
    "padded tokens",
    "% bound (own work: computed, head as run)",
    "% bound (unique, head where needed)",
    "max abs score diff vs reference",
    "acc choice / cont_sum",
    "note",
]


def profile_pass(backend: Any, examples: list, tune: list, rows: int, trace: Path | None) -> str:
    """torch.profiler over one ``hf shared`` extraction: time by kind of work, then the top
    ops by self CPU time."""
    from confalign.confidence.internal import ChoiceExtractor

    extractor = ChoiceExtractor()
    extractor.extract(backend, tune)  # warm-up
    _, groups, prof = rl.profile_call(lambda: extractor.extract(backend, examples))
    if trace:
        prof.export_chrome_trace(str(trace))
    summary = rl.markdown_table(["kind of work", "hf shared"], rl.profile_rows({"": groups}))
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)
    return f"{summary}\n\n{table}"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--workload",
        choices=("choice", "verbalized"),
        default="choice",
        help="choice: the multiple-choice methods per layout and backend (default); "
        "verbalized: prefill + distribution, composed path vs one-pass chain",
    )
    p.add_argument("--questions", type=int, default=200, help="timed questions (default 200)")
    p.add_argument("--tune-questions", type=int, default=8, help="disjoint warm-up questions")
    p.add_argument("--seed", type=int, default=0, help="seed of the question sample")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument(
        "--batch-tokens", type=int, help="hf backend batch_tokens (default: the library's)"
    )
    p.add_argument("--naive-batch", type=int, default=8, help="sequences per naive batch")
    p.add_argument("--gemm-tokens", type=int, default=2048, help="rows of the timed GEMMs")
    p.add_argument("--openai-base-url", help="an OpenAI-compatible server serving the model")
    p.add_argument("--openai-model", default="default", help="model name on that server")
    p.add_argument(
        "--openai-questions", type=int, default=20, help="questions the openai row times"
    )
    p.add_argument(
        "--openai-tokenizer",
        help="a .gguf or tokenizer folder with the chat template (default: the default GGUF)",
    )
    p.add_argument(
        "--openai-extra",
        default='{"top_k": 0, "min_p": 0.0, "repeat_penalty": 1.0}',
        help="JSON sent with every request (default: turns off llama.cpp's sampler filters, "
        "which would truncate the returned log-probabilities)",
    )
    p.add_argument("--rows", default=",".join(ROWS), help=f"rows to run, of {','.join(ROWS)}")
    p.add_argument("--profile", action="store_true", help="torch.profiler table of hf shared")
    p.add_argument("--profile-rows", type=int, default=25)
    verbalized = p.add_argument_group("--workload verbalized")
    verbalized.add_argument("--items", type=int, default=20, help="timed items per dataset")
    verbalized.add_argument("--tune-items", type=int, default=2, help="warm-up items")
    verbalized.add_argument(
        "--chunks", type=int, default=2, help="chunks the paths alternate on (default 2)"
    )
    verbalized.add_argument(
        "--format-sets", default="2,6", help="format sets: 2 (score_letter, score_number), 6"
    )
    p.add_argument("--trace", type=Path, help="write the profile as a Chrome trace here")
    args = p.parse_args(argv)
    args.rows = [r for r in args.rows.split(",") if r]
    args.format_sets = [f for f in args.format_sets.split(",") if f]
    if unknown := sorted(set(args.format_sets) - {"2", "6"}):
        p.error(f"unknown format sets {unknown}; known: 2, 6")
    if unknown := sorted(set(args.rows) - set(ROWS)):
        p.error(f"unknown rows {unknown}; known: {', '.join(ROWS)}")
    args.openai_options = {}
    if args.openai_base_url:
        args.openai_options = {
            "base_url": args.openai_base_url,
            "tokenizer": args.openai_tokenizer or str(gguf_path()),
            "extra_body": json.loads(args.openai_extra),
        }
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.workload == "verbalized":
        import _verbalized

        _verbalized.main(args)
        return
    import torch

    torch.set_num_threads(args.threads)

    # 1. Questions: the timed sample and a disjoint warm-up set.
    sample = rl.sample_mmlu(args.questions + args.tune_questions, args.seed)
    examples, tune = to_examples(sample[: args.questions]), to_examples(sample[args.questions :])

    # 2. This machine's GEMM speed.
    roof = rl.measure_roofline(threads=args.threads, tokens=args.gemm_tokens)

    # 3. The rows: hf shared / plain, naive, then the optional backends.
    outcomes, backend = hf_rows(args, examples, tune)
    outcomes += other_rows(args, examples, tune)
    from confalign.confidence.internal import ChoiceExtractor

    unique = unique_counts(backend, ChoiceExtractor().requests(examples))
    for o in outcomes:
        if o.questions is not None and o.questions < len(examples):
            subset = ChoiceExtractor().requests(examples[: o.questions])
            o.unique_tokens = unique_counts(backend, subset)[0]

    # 4. Tables (and the profile).
    # the reference of the agreement column: naive when it ran, else the first row
    ran = [o for o in outcomes if o.records]
    ref = next((o for o in ran if o.name == "naive"), ran[0])
    print(rl.markdown_table(HEADERS, table_rows(outcomes, ref, args.questions, unique, roof)))
    print(f"\nreference of the score differences: {ref.name}")
    print(f"\n{unique[0]} unique tokens, {unique[1]} distinct read positions\n")
    print(rl.roofline_table(roof))
    print(f"\ntorch {torch.__version__}, {args.threads} threads, fp32, CPU, {args.questions} q")
    if args.profile:
        print("\n" + profile_pass(backend, examples, tune, args.profile_rows, args.trace))


def unique_counts(backend: Any, requests: Sequence[Any]) -> tuple[int, int]:
    """(prompt once + every option token, distinct read positions), hf tokenisation."""
    tokens = reads = 0
    for req in requests:
        ids, space = backend.encode_prompt(req.prompt)
        conts = backend.encode([space + c for c in req.continuations])
        tokens += len(ids) + sum(len(c) for c in conts)
        reads += 1 + sum(len(c) - 1 for c in conts)
    return tokens, reads


if __name__ == "__main__":
    main()
