"""A small real LoRA adapter for the offline alignment study: supervised letter answers.

Fine-tunes the embedded SmolLM2-135M-Instruct with LoRA (r=16, alpha=16, attention and MLP
projections) on MMLU questions *outside* the study's seeded test sample, with the loss on the
gold answer letter after the study's own ``choice`` prompt (chat template, ``"Answer:"``). It
stands in for the confidence-training adapters (DCA...) until they exist: a pair "the model vs
the model + an adapter trained on right answers" is the question the study asks (does tuning
move internal confidence against correctness?).

    python scripts/study_sft_adapter.py OUT_DIR [--questions 256] [--epochs 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--questions", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--test-limit", type=int, default=200, help="the study's sample size")
    parser.add_argument("--seed", type=int, default=0, help="the study's sampling seed")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    from peft import LoraConfig, get_peft_model

    from confalign.backends import load_backend
    from confalign.backends.base import BackendConfig
    from confalign.confidence.prompts import answer_prompt
    from confalign.data import load_benchmark

    start = time.perf_counter()
    torch.manual_seed(args.seed)
    backend = load_backend("hf", BackendConfig(model="default", threads=args.threads))
    test = {
        ex.id
        for ex in load_benchmark("mmlu_offline", limit=args.test_limit, seed=args.seed).examples
    }
    pool = [ex for ex in load_benchmark("mmlu_offline").examples if ex.id not in test]
    rng = np.random.default_rng(1)
    train = [pool[i] for i in rng.choice(len(pool), args.questions, replace=False)]

    sequences = []  # (ids, index of the first answer token)
    for ex in train:
        text = backend.render(answer_prompt(ex))
        ids, _ = backend.encode_prompt(text)
        (answer,) = backend.split_encode(text, ids, [" " + ex.gold_letter])
        sequences.append((ids + answer, len(ids)))

    config = LoraConfig(
        r=16,
        lora_alpha=16,
        lora_dropout=0.0,
        target_modules=[
            "q_proj",
            "k_proj",
            "v_proj",
            "o_proj",
            "gate_proj",
            "up_proj",
            "down_proj",
        ],
    )
    model = get_peft_model(backend.model, config)
    model.train()
    inner = model.get_base_model()  # the causal LM with the LoRA layers injected
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr)
    pad = backend.pad_id
    losses = []
    for epoch in range(args.epochs):
        order = rng.permutation(len(sequences))
        for step in range(0, len(order), args.batch):
            chunk = [sequences[i] for i in order[step : step + args.batch]]
            width = max(len(s) for s, _ in chunk)
            ids = torch.full((len(chunk), width), pad)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            rows, cols, targets = [], [], []
            for b, (seq, first) in enumerate(chunk):
                ids[b, : len(seq)] = torch.tensor(seq)
                mask[b, : len(seq)] = 1
                for pos in range(first, len(seq)):  # token pos is predicted at pos - 1
                    rows.append(b)
                    cols.append(pos - 1)
                    targets.append(seq[pos])
            # The vocabulary projection only where the loss reads it (the answer tokens).
            hidden = inner.model(input_ids=ids, attention_mask=mask).last_hidden_state
            logits = inner.lm_head(hidden[torch.tensor(rows), torch.tensor(cols)])
            loss = torch.nn.functional.cross_entropy(logits.float(), torch.tensor(targets))
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            losses.append(float(loss))
            print(f"epoch {epoch} step {step // args.batch} loss {losses[-1]:.3f}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(args.out)
    info = {
        "base_model": "default (SmolLM2-135M-Instruct)",
        "train_questions": len(train),
        "excluded_test_sample": {
            "dataset": "mmlu_offline",
            "limit": args.test_limit,
            "seed": args.seed,
        },
        "epochs": args.epochs,
        "batch": args.batch,
        "lr": args.lr,
        "lora": {"r": 16, "alpha": 16, "targets": list(config.target_modules)},
        "first_loss": losses[0],
        "last_loss": losses[-1],
        "seconds": round(time.perf_counter() - start, 1),
    }
    (args.out / "training.json").write_text(json.dumps(info, indent=2))
    print(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
