"""DCA training speed: confalign's trainer against TRL's DPOTrainer, same pairs, same LoRA,
same loss, in one run.

Both tools train the embedded SmolLM2-135M-Instruct with LoRA r=16, alpha=16 on every
attention and MLP projection, loss ``ipo`` (beta 0.1), fp32 on the CPU, gradient
checkpointing off, on the same DCA-shaped preference pairs built from offline MMLU questions
(the verbalized ``probability`` prompt under the chat template; chosen and rejected differ in
the value after ``Probability:``). Each (tool, batch size) runs in its own process, so its peak
RSS is its own; each runs one untimed warm-up step, then ``--steps`` timed optimizer steps.

Columns: pairs/s of the training steps; for confalign also pairs/s over an epoch including
its one reference pass per pair (TRL recomputes the reference inside every step, so its step
time already holds it); the loss of step 0 (the adapter starts at B = 0, so both tools must
report (1/(2 beta))^2 = 25 exactly); peak RSS; and the share of the GEMM bound of the least
work a step needs: the prompt once per pair, the vocabulary projection only where a
log-probability is read, the reference precomputed, the backward pass costing one more
forward (gradients flow to the activations through frozen weights; LoRA's own are tiny).

    python benchmarks/train_bench.py --pairs 16 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
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


class _Clock:
    """A TrainerCallback recording the wall time at the end of every optimizer step."""

    def __init__(self) -> None:
        from transformers import TrainerCallback

        clock = self

        class Callback(TrainerCallback):
            def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                clock.ends.append(time.perf_counter())

        self.ends: list[float] = []
        self.callback = Callback()

    def seconds_per_step(self) -> float:
        laps = [b - a for a, b in zip(self.ends, self.ends[1:], strict=False)]
        return sum(laps) / len(laps)


def child_confalign(pairs: list[dict[str, str]], batch: int, steps: int, out: Path) -> dict:
    import torch

    from confalign.train.core import LoraSettings, TrainSettings, fit, load_policy
    from confalign.train.dca_data import tokenize_pair
    from confalign.train.packing import PackedScorer
    from confalign.train.preference import preference_loss, preference_records, reference_logps

    lora = LoraSettings(r=LORA["r"], alpha=LORA["alpha"])
    policy, tokenizer = load_policy("default", lora, device=torch.device("cpu"))
    items = [tokenize_pair(tokenizer, p["prompt"], p["chosen"], p["rejected"]) for p in pairs]
    scorer = PackedScorer(policy, tokenizer.pad_token_id)
    start = time.perf_counter()
    reference = reference_logps(policy, scorer, items)
    ref_seconds = time.perf_counter() - start
    settings = TrainSettings(
        learning_rate=5e-5, batch_size=batch, max_steps=steps + 1, logging_steps=1,
        save_steps=10_000, warmup_ratio=0.0, lora=lora,
    )  # fmt: skip
    clock = _Clock()
    log = fit(
        policy,
        preference_records(items, reference),
        preference_loss(scorer, loss_type="ipo", beta=BETA),
        settings,
        out,
        device=torch.device("cpu"),
        callbacks=[clock.callback],
    )
    return {
        "seconds_per_step": clock.seconds_per_step(),
        "reference_seconds": ref_seconds,
        "loss0": next(h["loss"] for h in log if "loss" in h),
    }


def child_trl(pairs: list[dict[str, str]], batch: int, steps: int, out: Path) -> dict:
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
        "reference_seconds": 0.0,
        "loss0": losses[0],
    }


def least_work_seconds(pairs: list[dict[str, str]], batch: int, roof: Any) -> float:
    """GEMM-bound seconds of one step of ``batch`` pairs (module docstring)."""
    from transformers import AutoTokenizer

    from confalign.backends.default_model import ensure_default_model
    from confalign.backends.packed import common_length
    from confalign.train.dca_data import tokenize_pair

    tokenizer = AutoTokenizer.from_pretrained(ensure_default_model())
    total = 0.0
    for p in pairs:
        item = tokenize_pair(tokenizer, p["prompt"], p["chosen"], p["rejected"])
        shared = common_length(item.completions)
        fed = len(item.prompt) + shared + sum(len(c) - shared for c in item.completions)
        reads = sum(len(c) for c in item.completions)
        total += fed * roof.t_body + reads * roof.t_head
    return 2.0 * total / len(pairs) * batch  # forward + backward to the activations


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", type=int, default=16)
    p.add_argument("--steps", type=int, default=3, help="timed steps after one warm-up step")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ours-batches", default="4,8,16")
    p.add_argument("--trl-batches", default="2,4,8")
    p.add_argument("--child", choices=["confalign", "trl"], help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    p.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        import torch

        torch.set_num_threads(args.threads)
        pairs = json.loads(Path(args.result).with_suffix(".pairs.json").read_text())
        run = child_confalign if args.child == "confalign" else child_trl
        with tempfile.TemporaryDirectory() as tmp:
            result = run(pairs, args.batch, args.steps, Path(tmp))
        args.result.write_text(json.dumps(result))
        return

    pairs = build_pairs(args.pairs, args.seed)
    roof = measure_roofline(threads=args.threads)
    rows, best = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for tool, batches in (("confalign", args.ours_batches), ("trl", args.trl_batches)):
            for batch in (int(b) for b in batches.split(",")):
                if batch * (args.steps + 1) > args.pairs * 4:
                    continue
                result = Path(tmp) / f"{tool}-{batch}.json"
                result.with_suffix(".pairs.json").write_text(json.dumps(pairs))
                env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
                cmd = [sys.executable, __file__, "--child", tool, "--batch", str(batch),
                       "--steps", str(args.steps), "--threads", str(args.threads),
                       "--result", str(result)]  # fmt: skip
                child = run_child(cmd, env=env)
                if child.returncode:
                    raise SystemExit(f"{tool} batch {batch} failed ({child.returncode})")
                r = json.loads(result.read_text())
                step_rate = batch / r["seconds_per_step"]
                epoch = args.pairs / step_rate + r["reference_seconds"]
                bound = least_work_seconds(pairs, batch, roof)
                row = {
                    "tool": tool, "batch": batch, "pairs/s": step_rate,
                    "pairs/s incl. reference": args.pairs / epoch, "loss0": r["loss0"],
                    "rss": child.peak_rss_bytes, "bound": bound / r["seconds_per_step"],
                }  # fmt: skip
                rows.append(row)
                if row["pairs/s incl. reference"] > best.get(tool, {}).get(
                    "pairs/s incl. reference", 0
                ):
                    best[tool] = row
    table = [
        [r["tool"], r["batch"], f"{r['pairs/s']:.3f}", f"{r['pairs/s incl. reference']:.3f}",
         f"{r['loss0']:.6f}", gib(r["rss"]), f"{100 * r['bound']:.0f}%"]
        for r in rows
    ]  # fmt: skip
    print(markdown_table(
        ["tool", "batch", "pairs/s (steps)", "pairs/s (epoch incl. reference)", "loss step 0",
         "peak RSS", "% of GEMM bound (least work)"], table))  # fmt: skip
    ours, trl = best["confalign"], best["trl"]
    print(
        f"\nbest batch each: confalign {ours['batch']} vs TRL {trl['batch']}: "
        f"{ours['pairs/s incl. reference'] / trl['pairs/s incl. reference']:.1f}x the pairs/s "
        f"(epoch incl. reference), {ours['rss'] / trl['rss']:.2f}x the peak RSS, "
        f"step-0 losses {ours['loss0']:.6f} / {trl['loss0']:.6f}; "
        f"{args.pairs} pairs, {args.threads} threads, fp32 CPU, LoRA r={LORA['r']}, all projections"
    )
    # The steps' pairs/s at 100% of the least-work GEMM bound, against 5x TRL's best.
    ceiling = ours["pairs/s"] / ours["bound"]
    print(
        f"5x TRL's best pairs/s ({5 * trl['pairs/s']:.3f}) would be "
        f"{5 * trl['pairs/s'] / ceiling:.0%} of the GEMM bound of the least work "
        f"({ceiling:.3f} pairs/s at confalign's best batch)"
    )


if __name__ == "__main__":
    main()
