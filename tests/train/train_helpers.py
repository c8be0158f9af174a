"""Hand-made DCA pairs and the chat rendering the training tests share."""

from __future__ import annotations

from typing import Any

PAIRS = [
    # (user turn, chosen assistant text, rejected assistant text)
    ("Question: 2+2?\nA. 3\nB. 4", "Answer: B\nProbability: 62%", "Answer: B\nProbability: 100%"),
    (
        "Question: capital of France?",
        "Answer: Paris\nProbability: 41%",
        "Answer: Paris\nProbability: 0.01",
    ),
    (
        "Question: 7*6?\nA. 42\nB. 36\nC. 48",
        "Answer: A\nProbability: 9%",
        "Answer: A\nProbability: 90%",
    ),
    ("Question: Is the sky green?", "Answer: No\nProbability: 55%", "Answer: No\nProbability: 5%"),
]


def render(tokenizer: Any, user: str) -> str:
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": user}], add_generation_prompt=True, tokenize=False
    )


def write_pairs(model_dir: Any, path: Any, limit: int | None = None) -> Any:
    """``PAIRS`` in TRL's format (prompt rendered with ``model_dir``'s chat template) written to
    ``path`` as JSONL, for ``confalign train dca --pairs-file``; returns ``path``."""
    import json

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    rows = [{"prompt": render(tokenizer, u), "chosen": c, "rejected": r} for u, c, r in PAIRS]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows[:limit]))
    return path
