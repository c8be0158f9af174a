"""DCA training speed: confalign's trainer against TRL's DPOTrainer, same pairs, same LoRA,
same loss, in one run; and confalign's ADVICE and ConfTuner steps, and any of them against an
earlier confalign (``--baseline``).

Both tools train the embedded SmolLM2-135M-Instruct with LoRA r=16, alpha=16 on every
attention and MLP projection, loss ``ipo`` (beta 0.1), fp32 on the CPU, gradient
checkpointing off, on the same DCA-shaped preference pairs built from offline MMLU questions
(the verbalized ``probability`` prompt under the chat template; chosen and rejected differ in
the value after ``Probability:``). Each (tool, batch size) runs in its own process, so its peak
RSS is its own; each runs one untimed warm-up step, then ``--steps`` timed optimizer steps.

``--methods advice,conftuner`` adds those methods' rows (confalign only; no reference pass): on
the same MMLU questions, ADVICE's triplets in ``score_number`` (the gold letter against another,
each followed by its ten levels, with the LM branch; mini-batches of ``batch`` triplets) and
ConfTuner's answers in ``score_percent`` (101 levels; every other answer wrong); its default
LoRA (r=16 on every projection here, for all rows alike). ``--batch-tokens 512,4096`` runs each
confalign row at each packed-pass size (default: the library's). ``--baseline SRC`` runs each
confalign row a second time, just before it, with the ``confalign`` package found under SRC (a
checkout's ``src`` folder of an earlier commit), so before and after share the machine's load.

Columns: items/s of the training steps (DCA: pairs/s); for confalign's DCA also pairs/s over
an epoch including its one reference pass per pair (TRL recomputes the reference inside every
step, so its step time already holds it); the CPU seconds per step (all threads, user and
system: what a shared machine's load slows less than the wall time); the loss of step 0 (the
adapter starts at B = 0, so DCA's must be (1/(2 beta))^2 = 25 exactly); peak RSS; and the
share of the GEMM bound of the least work a step needs: every distinct prefix once (the
prompt once per item), the vocabulary projection only where a log-probability is read, the
reference precomputed, the backward pass costing one more forward (gradients flow to the
activations through frozen weights; LoRA's own are tiny).

    python benchmarks/train_bench.py --pairs 16 --threads 2
    python benchmarks/train_bench.py --ours-batches 8 --trl-batches '' --baseline ../old/src
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _roofline import gib, markdown_table, measure_roofline, run_child, sample_mmlu

BETA = 0.1
LORA = {"r": 16, "alpha": 16}


def build_pairs(n: int, seed: int) -> list[dict[str, str]]:
    """``n`` DCA-shaped pairs in TRL's standard format (rendered prompt, assistant texts)."""
    from transformers import AutoTokenizer

    from confalign.backends.default_model import ensure_default_model
    from confalign.confidence.formats import get_format
    from confalign.confidence.prompts import verbalized_user
    from confalign.data.example import QAExample

    tokenizer = AutoTokenizer.from_pretrained(ensure_default_model())
    fmt = get_format("probability")
    pairs = []
    for k, q in enumerate(sample_mmlu(n, seed)):
        ex = QAExample(
            id=q["id"], question=q["question"], choices=tuple(q["choices"]), gold=q["answer"]
        )
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": verbalized_user(ex, fmt)}],
            add_generation_prompt=True,
            tokenize=False,
        )
        letter = "ABCD"[q["answer"]]
        pairs.append(
            {
                "prompt": prompt,
                "chosen": f"Answer: {letter}\nProbability: {35 + k % 30}%",
                "rejected": f"Answer: {letter}\nProbability: {'100%' if k % 2 else '0.01111'}",
            }
        )
    return pairs


def build_levels(n: int, seed: int, fmt_name: str) -> list[dict[str, Any]]:
    """``n`` level-method records on the MMLU sample: the rendered prompt up to ``"Answer:"``
    in ``fmt_name``'s verbalized prompt, the gold letter, another letter, and a label (every
    other record wrong) for ConfTuner's answers."""
    from transformers import AutoTokenizer

    from confalign.backends.default_model import ensure_default_model
    from confalign.confidence.formats import get_format
    from confalign.confidence.prompts import ANSWER_PREFIX, verbalized_prompt
    from confalign.data.example import QAExample

    tokenizer = AutoTokenizer.from_pretrained(ensure_default_model())
    fmt = get_format(fmt_name)
    out = []
    for k, q in enumerate(sample_mmlu(n, seed)):
        ex = QAExample(
            id=q["id"], question=q["question"], choices=tuple(q["choices"]), gold=q["answer"]
        )
        user = verbalized_prompt(ex, fmt, ANSWER_PREFIX).user
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": user}], add_generation_prompt=True, tokenize=False
        )
        gold, other = "ABCD"[q["answer"]], "ABCD"[(q["answer"] + 1 + k % 3) % 4]
        right = k % 2 == 0
        out.append(
            {
                "id": q["id"], "format": fmt_name, "prompt": prompt + ANSWER_PREFIX,
                "correct": gold, "wrong": other, "answer": gold if right else other,
                "right": right,
            }
        )  # fmt: skip
    return out


DATA = {
    "dca": lambda n, seed: build_pairs(n, seed),
    "advice": lambda n, seed: build_levels(n, seed, "score_number"),
    "conftuner": lambda n, seed: build_levels(n, seed, "score_percent"),
}


class _Clock:
    """A TrainerCallback recording the wall time and the process's CPU time (all threads, user
    and system: the work done, which a shared machine's load slows less than the wall time)
    at the end of every optimizer step."""

    def __init__(self) -> None:
        from transformers import TrainerCallback

        clock = self

        class Callback(TrainerCallback):
            def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                clock.ends.append((time.perf_counter(), time.process_time()))

        self.ends: list[tuple[float, float]] = []
        self.callback = Callback()

    def seconds_per_step(self, cpu: bool = False) -> float:
        laps = [b[cpu] - a[cpu] for a, b in zip(self.ends, self.ends[1:], strict=False)]
        return sum(laps) / len(laps)


def confalign_items(method: str, rows: list[dict[str, Any]], tokenizer: Any) -> list[Any]:
    """The packed layout of each record, as the method's ``layout`` makes it."""
    if method == "dca":
        from confalign.train.dca_data import tokenize_pair

        return [tokenize_pair(tokenizer, p["prompt"], p["chosen"], p["rejected"]) for p in rows]
    if method == "advice":
        from confalign.train.methods.advice import Triplet, advice_item

        return [
            advice_item(
                tokenizer,
                Triplet(r["id"], r["format"], r["prompt"], r["correct"], r["wrong"], "gold", "own"),
                special=False,
                lm=True,
            )
            for r in rows
        ]
    from confalign.train.methods.conftuner import LabelledAnswer, conftuner_item

    return [
        conftuner_item(
            tokenizer,
            LabelledAnswer(r["id"], r["format"], r["prompt"], r["answer"], r["right"]),
            special=False,
            lm=False,
        )
        for r in rows
    ]


def child_confalign(
    method: str,
    rows: list[dict[str, Any]],
    batch: int,
    steps: int,
    out: Path,
    batch_tokens: int | None,
) -> dict:
    import torch

    from confalign.train.core import LoraSettings, TrainSettings, fit, load_policy
    from confalign.train.packing import PackedScorer

    lora = LoraSettings(r=LORA["r"], alpha=LORA["alpha"])
    policy, tokenizer = load_policy("default", lora, device=torch.device("cpu"))
    items = confalign_items(method, rows, tokenizer)
    sized = {"batch_tokens": batch_tokens} if batch_tokens else {}
    scorer = PackedScorer(policy, tokenizer.pad_token_id, **sized)
    settings = TrainSettings(
        learning_rate=5e-5, batch_size=batch, max_steps=steps + 1, logging_steps=1,
        save_steps=10_000, warmup_ratio=0.0, lora=lora,
    )  # fmt: skip
    start = time.perf_counter()
    records, loss = confalign_records(method, scorer, policy, items, batch)
    ref_seconds = time.perf_counter() - start
    if method == "advice":  # a record is a mini-batch (the method's own records)
        settings = replace(settings, batch_size=1)
    clock = _Clock()
    log = fit(
        policy, records, loss, settings, out, device=torch.device("cpu"),
        callbacks=[clock.callback],
    )  # fmt: skip
    return {
        "seconds_per_step": clock.seconds_per_step(),
        "cpu_seconds_per_step": clock.seconds_per_step(cpu=True),
        "reference_seconds": ref_seconds,
        "loss0": next(h["loss"] for h in log if "loss" in h),
        "batch_tokens": scorer.batch_tokens,
    }


def confalign_records(
    method: str, scorer: Any, policy: Any, items: list[Any], batch: int
) -> tuple[list[dict[str, Any]], Any]:
    """The Trainer records and the loss of ``method`` (DCA's reference pass included)."""
    import torch

    if method == "dca":
        from confalign.train.preference import (
            preference_loss,
            preference_records,
            reference_logps,
        )

        reference = reference_logps(policy, scorer, items)
        loss = preference_loss(scorer, loss_type="ipo", beta=BETA)
        return preference_records(items, reference), loss
    if method == "advice":
        from confalign.train.methods.advice import AdviceWeights, advice_loss, advice_records

        batches = [items[k : k + batch] for k in range(0, len(items) - batch + 1, batch)]
        return advice_records(batches), advice_loss(scorer, AdviceWeights())
    from confalign.train.methods.conftuner import conftuner_loss

    labels = [
        {"item": it, "correct": torch.tensor(float(k % 2 == 0))} for k, it in enumerate(items)
    ]
    return labels, conftuner_loss(scorer)


def child_trl(pairs: list[dict[str, Any]], batch: int, steps: int, out: Path) -> dict:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    from confalign.backends.default_model import ensure_default_model
    from confalign.train.core import LoraSettings

    path = ensure_default_model()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(
        path, dtype=torch.float32, attn_implementation="sdpa"
    )
    args = DPOConfig(
        output_dir=str(out), per_device_train_batch_size=batch, max_steps=steps + 1,
        learning_rate=5e-5, loss_type=["ipo"], beta=BETA, bf16=False,
        gradient_checkpointing=False, use_cpu=True, report_to=[], logging_steps=1,
        save_strategy="no", max_length=None,
    )  # fmt: skip
    lora = LoraConfig(
        r=LORA["r"], lora_alpha=LORA["alpha"], lora_dropout=0.0, task_type="CAUSAL_LM",
        target_modules=list(LoraSettings().target_modules),
    )  # fmt: skip
    clock = _Clock()
    trainer = DPOTrainer(
        model=model, args=args, train_dataset=Dataset.from_list(pairs), processing_class=tokenizer,
        peft_config=lora, callbacks=[clock.callback],
    )  # fmt: skip
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {
        "seconds_per_step": clock.seconds_per_step(),
        "cpu_seconds_per_step": clock.seconds_per_step(cpu=True),
        "reference_seconds": 0.0,
        "loss0": losses[0],
    }


def least_work_seconds(method: str, rows: list[dict[str, Any]], batch: int, roof: Any) -> float:
    """GEMM-bound seconds of one step of ``batch`` items (module docstring): every distinct
    prefix fed once (the trie), the vocabulary projected at each distinct read."""
    from transformers import AutoTokenizer

    from confalign.backends.default_model import ensure_default_model
    from confalign.backends.packed import tree_row

    tokenizer = AutoTokenizer.from_pretrained(ensure_default_model())
    total = 0.0
    for item in confalign_items(method, rows, tokenizer):
        row = tree_row(getattr(item, "tree", item))[0].row
        total += len(row.tokens) * roof.t_body + len(row.read_pos) * roof.t_head
    return 2.0 * total / len(rows) * batch  # forward + backward to the activations


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", type=int, default=16, help="records per method (pairs for DCA)")
    p.add_argument("--steps", type=int, default=3, help="timed steps after one warm-up step")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--methods", default="dca", help="comma list of dca, advice, conftuner")
    p.add_argument("--ours-batches", default="4,8,16")
    p.add_argument("--trl-batches", default="2,4,8", help="DCA only; '' for none")
    p.add_argument(
        "--batch-tokens", default="", help="confalign's tokens per forward pass, a comma list"
    )
    p.add_argument("--baseline", type=Path, help="src folder of an earlier confalign to run too")
    p.add_argument("--child", choices=["confalign", "trl"], help=argparse.SUPPRESS)
    p.add_argument("--method", default="dca", help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    p.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        import torch

        torch.set_num_threads(args.threads)
        data = json.loads(Path(args.result).with_suffix(".data.json").read_text())
        with tempfile.TemporaryDirectory() as tmp:
            if args.child == "trl":
                result = child_trl(data, args.batch, args.steps, Path(tmp))
            else:
                sized = (_ints(args.batch_tokens) or [None])[0]
                result = child_confalign(
                    args.method, data, args.batch, args.steps, Path(tmp), sized
                )
        args.result.write_text(json.dumps(result))
        return

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(DATA))
    if unknown:
        raise SystemExit(f"unknown method {unknown[0]!r}; known: {', '.join(DATA)}")
    roof = measure_roofline(threads=args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for method in methods:
            data = DATA[method](args.pairs, args.seed)
            bounds: dict[int, float] = {}
            runs = [
                (tool, batch, tokens)
                for batch in _ints(args.ours_batches)
                for tokens in _ints(args.batch_tokens) or [0]
                for tool in (["baseline"] if args.baseline else []) + ["confalign"]
            ]
            if method == "dca":
                runs += [("trl", batch, 0) for batch in _ints(args.trl_batches)]
            for tool, batch, tokens in runs:
                if batch * (args.steps + 1) > args.pairs * 4 or batch > args.pairs:
                    continue
                result = Path(tmp) / f"{method}-{tool}-{batch}-{tokens}.json"
                result.with_suffix(".data.json").write_text(json.dumps(data))
                env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
                if tool == "baseline":
                    env["PYTHONPATH"] = os.pathsep.join(
                        [str(args.baseline.resolve()), env.get("PYTHONPATH", "")]
                    )
                cmd = [sys.executable, __file__, "--child", "trl" if tool == "trl" else "confalign",
                       "--method", method, "--batch", str(batch), "--steps", str(args.steps),
                       "--threads", str(args.threads), "--batch-tokens", str(tokens or ""),
                       "--result", str(result)]  # fmt: skip
                child = run_child(cmd, env=env)
                if child.returncode:
                    raise SystemExit(f"{method} {tool} batch {batch} failed ({child.returncode})")
                r = json.loads(result.read_text())
                if batch not in bounds:
                    bounds[batch] = least_work_seconds(method, data, batch, roof)
                step_rate = batch / r["seconds_per_step"]
                epoch = args.pairs / step_rate + r["reference_seconds"]
                rows.append(
                    {
                        "method": method, "tool": tool, "batch": batch,
                        "tokens": r.get("batch_tokens", ""), "items/s": step_rate,
                        "items/s incl. reference": args.pairs / epoch, "loss0": r["loss0"],
                        "cpu": r["cpu_seconds_per_step"],
                        "rss": child.peak_rss_bytes, "bound": bounds[batch] / r["seconds_per_step"],
                    }
                )  # fmt: skip
    table = [
        [r["method"], r["tool"], r["batch"], r["tokens"], f"{r['items/s']:.3f}",
         f"{r['items/s incl. reference']:.3f}", f"{r['cpu']:.1f}", f"{r['loss0']:.6f}",
         gib(r["rss"]), f"{100 * r['bound']:.0f}%"]
        for r in rows
    ]  # fmt: skip
    print(markdown_table(
        ["method", "tool", "batch", "batch_tokens", "items/s (steps)",
         "items/s (epoch incl. reference)", "CPU s per step", "loss step 0", "peak RSS",
         "% of GEMM bound (least work)"], table))  # fmt: skip
    print(
        f"\n{args.pairs} records a method (DCA: pairs), {args.threads} threads, fp32 CPU, "
        f"LoRA r={LORA['r']} on all projections; items: DCA pairs, ADVICE triplets, ConfTuner "
        "answers"
    )
    if args.baseline:
        _compare_baseline(rows)
    if any(r["tool"] == "trl" for r in rows) and any(
        r["tool"] == "confalign" and r["method"] == "dca" for r in rows
    ):
        _compare_trl([r for r in rows if r["method"] == "dca"], args)


def _compare_baseline(rows: list[dict[str, Any]]) -> None:
    """After against before, per method, batch and requested batch_tokens (run in pairs)."""
    before = [r for r in rows if r["tool"] == "baseline"]
    after = [r for r in rows if r["tool"] == "confalign"]
    for b, a in zip(before, after, strict=False):
        print(
            f"{a['method']} batch {a['batch']}: peak RSS {gib(b['rss'])} -> {gib(a['rss'])} "
            f"({a['rss'] / b['rss']:.2f}x), items/s {b['items/s']:.3f} -> {a['items/s']:.3f} "
            f"({a['items/s'] / b['items/s']:.2f}x), CPU s per step {b['cpu']:.1f} -> "
            f"{a['cpu']:.1f}, batch_tokens {b['tokens']} -> {a['tokens']}"
        )


def _compare_trl(rows: list[dict[str, Any]], args: Any) -> None:
    """confalign's best batch against TRL's (DCA), and 5x TRL against the GEMM bound."""
    best: dict[str, dict[str, Any]] = {}
    for row in rows:
        key = "items/s incl. reference"
        if row[key] > best.get(row["tool"], {}).get(key, 0):
            best[row["tool"]] = row
    ours, trl = best["confalign"], best["trl"]
    print(
        f"\nbest batch each: confalign {ours['batch']} vs TRL {trl['batch']}: "
        f"{ours['items/s incl. reference'] / trl['items/s incl. reference']:.1f}x the pairs/s "
        f"(epoch incl. reference), {ours['rss'] / trl['rss']:.2f}x the peak RSS, "
        f"step-0 losses {ours['loss0']:.6f} / {trl['loss0']:.6f}; "
        f"{args.pairs} pairs, {args.threads} threads, fp32 CPU, LoRA r={LORA['r']}, all projections"
    )
    # The steps' pairs/s at 100% of the least-work GEMM bound, against 5x TRL's best.
    ceiling = ours["items/s"] / ours["bound"]
    print(
        f"5x TRL's best pairs/s ({5 * trl['items/s']:.3f}) would be "
        f"{5 * trl['items/s'] / ceiling:.0%} of the GEMM bound of the least work "
        f"({ceiling:.3f} pairs/s at confalign's best batch)"
    )


if __name__ == "__main__":
    main()
