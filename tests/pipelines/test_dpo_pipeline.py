"""``confalign train dpo`` end to end on a tiny random model: the pairs come from the model's
own graded answers, the held-out preference log-probabilities are the model's (checked
against a plain transformers forward pass), and the report carries both tables."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from confalign.pipelines.settings import make_config
from confalign.pipelines.training import run_training


def _logp(model: torch.nn.Module, tokenizer: object, prompt: str, completion: str) -> float:
    """Summed log-probability of ``completion`` after ``prompt`` (tokens past the prompt's)."""
    ids = tokenizer(prompt + completion, add_special_tokens=False)["input_ids"]  # type: ignore[operator]
    n = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])  # type: ignore[operator]
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].double().log_softmax(-1)
    return float(sum(logits[i - 1, ids[i]] for i in range(n, len(ids))))


@pytest.mark.slow
def test_dpo_runs_and_measures_the_models_own_preferences(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = make_config(
        "dpo", output=tmp_path / "dpo", model=str(tiny_model_dir),
        dataset="world_facts:elements_test", train_limit=6, eval_limit=4, max_steps=2,
        batch_size=2, lr=1e-2, lora_r=4, loss="cal_dpo", threads=1,
    )  # fmt: skip
    result = run_training(config, progress=False)
    assert result.stats["kept"] == 6
    assert result.stats.get("own_wrong", 0) + result.stats.get("distractor", 0) == 6
    pairs = [
        json.loads(line) for line in (tmp_path / "dpo" / "data.jsonl").read_text().splitlines()
    ]
    assert all(p["chosen"].startswith(" ") and p["chosen"] != p["rejected"] for p in pairs)

    base = json.loads((tmp_path / "dpo" / "pref-base.json").read_text())
    tuned = json.loads((tmp_path / "dpo" / "pref-dpo.json").read_text())
    assert len(base) == 4 and set(base) == set(tuned)
    assert any(abs(base[k]["chosen"] - tuned[k]["chosen"]) > 1e-4 for k in base)

    # The stored base log-probabilities are the model's own, by an independent forward pass.
    from confalign.confidence.prompts import answer_prompt
    from confalign.data import load_benchmark

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    examples = {ex.id: ex for ex in load_benchmark("world_facts:elements_test").examples}
    key = next(iter(base))
    prompt = answer_prompt(examples[key])
    text = (
        tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt.user}], add_generation_prompt=True, tokenize=False
        )
        + prompt.assistant_prefix
    )
    assert key not in {p["example_id"] for p in pairs}  # held-out pairs: other questions
    stored = base[key]
    held = json.loads((tmp_path / "dpo" / "report" / "dpo.json").read_text())
    assert held["preference"][0]["n"] == 4
    chosen = " " + examples[key].gold_text
    assert stored["chosen"] == pytest.approx(_logp(model, tokenizer, text, chosen), abs=1e-4)
    assert math.isfinite(stored["rejected"])
    report = (tmp_path / "dpo" / "report" / "dpo.md").read_text()
    assert "## Chosen over rejected on held-out pairs" in report and "| answer_prob |" in report
