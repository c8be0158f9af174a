"""The adapter as a product: it names its base model's Hub id, it stores the ids of its
training examples, ``confalign eval --adapter`` refuses to score it on them (``--allow-overlap``
runs anyway and records it), and plain peft loads it to the same log-probabilities as the
``hf`` backend that ``confalign eval --adapter`` uses."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from confalign.adapters import check_overlap, name_base_model, training_examples_text
from confalign.cli import _register, app
from confalign.data.example import QAExample

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_helpers import assert_user_error, run_app


def invoke(*args: str) -> tuple[int, str, str]:
    _register()
    return run_app(app, [*args, "--no-progress"])


@pytest.mark.parametrize(
    ("model", "hub"),
    [
        ("default", "HuggingFaceTB/SmolLM2-135M-Instruct"),
        ("gemma-3-270m", "google/gemma-3-270m"),
        ("org/some-model", "org/some-model"),
    ],
)
def test_the_adapter_config_names_the_hub_id(tmp_path: Path, model: str, hub: str) -> None:
    local = str(Path.home() / ".cache/confalign/models/SmolLM2-135M-Instruct")
    (tmp_path / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": local}))
    name_base_model(tmp_path, model)
    assert json.loads((tmp_path / "adapter_config.json").read_text()) == {
        "base_model_name_or_path": hub
    }


def test_an_overlap_is_counted_and_refused(tmp_path: Path) -> None:
    (tmp_path / "training_examples.json").write_text(
        training_examples_text("mmlu_offline", None, ["a", "b", "c"])
    )
    exs = [QAExample(id=i, question=i, choices=("x", "y"), gold=0) for i in "abxyz"]
    assert check_overlap(tmp_path, {"mmlu_offline": exs, "other": exs}, allow=True) == {
        "mmlu_offline": 2
    }
    with pytest.raises(ValueError, match="was trained on 2 of the 5 mmlu_offline examples"):
        check_overlap(tmp_path, {"mmlu_offline": exs}, allow=False)
    assert check_overlap(tmp_path, {"mmlu_offline": exs[3:]}, allow=False) == {}


@pytest.mark.slow
def test_a_trained_adapter_as_a_product(tiny_model_dir: Path, tmp_path: Path) -> None:
    import torch
    from peft import PeftModel
    from train_helpers import write_pairs
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from confalign.backends import BackendConfig, ScoreRequest, load_backend
    from confalign.backends.base import Prompt
    from confalign.runs import RunStore

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    pairs = write_pairs(tiny_model_dir, tmp_path / "pairs.jsonl")
    data = tmp_path / "qa.jsonl"
    qa = [{"id": f"q{i}", "question": f"{i}+1?", "choices": ["1", str(i + 1)], "gold": 1}
          for i in range(12)]  # fmt: skip
    data.write_text("".join(json.dumps(r) + "\n" for r in qa))
    out = tmp_path / "dca"
    code, _, err = invoke(
        "train", "dca", "--model", str(tiny_model_dir), "--pairs-file", str(pairs),
        "--dataset", str(data), "--train-limit", "4", "--eval-limit", "4", "--no-evaluate",
        "--ood-dataset", "none", "--max-steps", "2", "--lr", "1e-2", "--batch-size", "2",
        "--lora-r", "4", "--output", str(out),
    )  # fmt: skip
    assert code == 0, err
    adapter = out / "adapter"
    trained = json.loads((adapter / "training_examples.json").read_text())
    assert trained["dataset"] == str(data) and len(trained["ids"]) == 4
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(tiny_model_dir)  # a folder stays a folder
    card = (adapter / "README.md").read_text()
    assert "--lora-r 4" in card and "--ood-dataset none" in card and "--no-evaluate" in card
    splits = json.loads((out / "splits.json").read_text())
    assert splits["sizes"] == {"train": 4, "validation": 0, "heldout": 4, "ood": 0}

    args = ["eval", "--model", str(tiny_model_dir), "--datasets", str(data), "--adapter"]
    args += [str(adapter), "--methods", "choice"]
    code, out_text, err = invoke(*args, "--output", str(tmp_path / "refused"))
    assert_user_error(code, out_text, err, "was trained on 4 of the 12", "--allow-overlap")
    assert not (tmp_path / "refused").exists()
    code, _, err = invoke(*args, "--allow-overlap", "--output", str(tmp_path / "allowed"))
    assert code == 0, err
    with RunStore.open(tmp_path / "allowed") as store:
        assert store.manifest["adapter_overlap"] == {str(data): 4}

    # plain peft on the base model's folder against the backend `eval --adapter` uses
    backend = load_backend("hf", BackendConfig(model=str(tiny_model_dir), adapter=str(adapter)))
    prompt = Prompt(user="2+2?")
    (result,) = backend.score([ScoreRequest(prompt, continuations=(" 4", " five"))])
    text = backend.render(prompt)
    backend.close()
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    model = PeftModel.from_pretrained(base, str(adapter)).eval()
    n = len(tokenizer(text, add_special_tokens=False)["input_ids"])
    for cont, got in zip((" 4", " five"), result.continuation_logprobs, strict=True):
        ids = tokenizer(text + cont, add_special_tokens=False, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            logp = torch.log_softmax(model(ids).logits[0].double(), -1)
        want = [float(logp[i - 1, ids[0, i]]) for i in range(n, ids.shape[1])]
        assert len(want) >= 1 and list(got) == pytest.approx(want, abs=1e-4)


@pytest.mark.slow
def test_the_default_models_adapter_names_its_hub_id_and_loads_in_plain_peft(
    default_model_dir: Path, tmp_path: Path
) -> None:
    """The one path on the real embedded model: a 1-step DCA adapter names
    ``HuggingFaceTB/SmolLM2-135M-Instruct``; plain peft on the converted folder (offline)
    gives the log-probabilities of the ``hf`` backend with ``--adapter``."""
    import torch
    from peft import PeftModel
    from train_helpers import write_pairs
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from confalign.backends import BackendConfig, ScoreRequest, load_backend
    from confalign.backends.base import Prompt

    tokenizer = AutoTokenizer.from_pretrained(default_model_dir)
    pairs = write_pairs(default_model_dir, tmp_path / "pairs.jsonl", limit=2)
    out = tmp_path / "dca"
    code, _, err = invoke(
        "train", "dca", "--pairs-file", str(pairs), "--train-limit", "2", "--eval-limit", "2",
        "--no-evaluate", "--ood-dataset", "none", "--max-steps", "1", "--batch-size", "2",
        "--lr", "1e-2", "--lora-r", "2", "--threads", "2", "--output", str(out),
    )  # fmt: skip
    assert code == 0, err
    adapter = out / "adapter"
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert "base_model: HuggingFaceTB/SmolLM2-135M-Instruct" in (adapter / "README.md").read_text()
    backend = load_backend("hf", BackendConfig(model="default", adapter=str(adapter)))
    prompt = Prompt(user="What is the capital of France?")
    (result,) = backend.score([ScoreRequest(prompt, continuations=(" Paris",))])
    text = backend.render(prompt)
    backend.close()
    base = AutoModelForCausalLM.from_pretrained(default_model_dir, dtype=torch.float32)
    model = PeftModel.from_pretrained(base, str(adapter)).eval()
    n = len(tokenizer(text, add_special_tokens=False)["input_ids"])
    ids = tokenizer(text + " Paris", add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        logp = torch.log_softmax(model(ids).logits[0].double(), -1)
    want = [float(logp[i - 1, ids[0, i]]) for i in range(n, ids.shape[1])]
    assert len(want) >= 1 and list(result.continuation_logprobs[0]) == pytest.approx(want, abs=1e-4)
