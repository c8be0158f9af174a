"""``confalign study`` end to end on tiny random models, and its one-line errors.

Two pairs (the tiny model vs itself with each of two random LoRA adapters) on two local
multiple-choice files: every cell of the grid must hold the metrics of the stored rows, the
runs must be reused on a second call, and the three files must be written (the HTML
self-contained). The errors (missing model, task without options, empty pair list, same model
on both sides) must come before any model loads, as one line and exit code 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from confalign import metrics as M
from confalign.runs import RunStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from cli_helpers import assert_user_error, group, run_app


def write_mc(path: Path, n: int, offset: int) -> Path:
    rows = [
        {
            "id": f"q{i}",
            "question": f"What is {i + offset} plus 1?",
            "choices": [str(i + offset + d) for d in (0, 1, 2, 3)],
            "gold": 1,
        }
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def invoke(*args: str) -> tuple[int, str, str]:
    from confalign.cli.study import study_command

    return run_app(group({"study": study_command}), ["study", *args])


@pytest.fixture(scope="module")
def adapters(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    out = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
        config = LoraConfig(
            r=4, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False
        )
        folder = tmp_path_factory.mktemp(f"lora{seed}")
        get_peft_model(base, config).save_pretrained(folder)
        out.append(folder)
    return out


@pytest.mark.slow
def test_study_on_tiny_models(tiny_model_dir: Path, adapters: list[Path], tmp_path: Path) -> None:
    tasks = [str(write_mc(tmp_path / f"task{k}.jsonl", 10, 10 * k)) for k in (1, 2)]
    study_file = tmp_path / "study.yaml"
    study_file.write_text(
        "pairs:\n"
        + "".join(
            f"  - name: lora{i}\n    base: {tiny_model_dir}\n"
            f"    tuned: {{model: {tiny_model_dir}, adapter: {a}}}\n"
            for i, a in enumerate(adapters)
        )
        + f"tasks: [{tasks[0]}, {tasks[1]}]\n"
    )
    out = tmp_path / "study"
    code, stdout, stderr = invoke("--file", str(study_file), "-o", str(out), "--bootstrap", "50")
    assert code == 0, stderr
    assert "study.html" in stdout and "harmed" in stdout
    data = json.loads((out / "study.json").read_text())
    assert len(data["cells"]) == 2 * 2 * 3 * 5  # pairs x tasks x methods x metrics
    assert [v["verdict"] in ("harms", "helps", "mixed") for v in data["verdicts"]]
    # every cell: the metrics of the stored rows, tuned - base, the interval around it
    labels = {p["label"]: p for p in data["pairs"]}
    for cell in data["cells"]:
        if cell["metric"] not in ("ece", "sce"):
            continue
        pair = labels[cell["pair"]]
        values = []
        for side in ("base", "tuned"):
            run = data["runs"][pair[side]["label"]][cell["task"]]
            with RunStore.open(run) as store:
                rows = store.rows(cell["task"], cell["method"])
            conf = np.array([r.confidence for r in rows])
            correct = np.array([float(r.correct) for r in rows])
            if cell["metric"] == "ece":
                values.append(M.expected_calibration_error(conf, correct))
            else:
                probs = np.array([r.probs for r in rows])
                values.append(M.static_calibration_error(probs, np.ones(len(rows), dtype=int)))
        assert cell["n"] == 10
        assert cell["base"] == pytest.approx(values[0]) and cell["tuned"] == pytest.approx(
            values[1]
        )
        assert cell["difference"] == pytest.approx(values[1] - values[0])
        assert cell["low"] <= cell["difference"] <= cell["high"]
    # plain lm-eval prompts: no chat template on either side
    with RunStore.open(data["runs"][str(tiny_model_dir)][tasks[0]]) as store:
        assert store.manifest["backend"]["chat"] is False
    html = (out / "study.html").read_text()
    assert "http://" not in html and "https://" not in html and "data:image/png" in html
    assert "Kendall" in (out / "study.md").read_text()
    # a second call reuses every run: the same numbers, no model loaded
    code, _, stderr = invoke("--file", str(study_file), "-o", str(out), "--bootstrap", "50")
    assert code == 0, stderr
    assert json.loads((out / "study.json").read_text())["cells"] == data["cells"]


def test_errors_are_one_line_before_any_model_loads(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "s")
    assert_user_error(*invoke("-o", out), "at least one")
    assert_user_error(
        *invoke("-p", f"{tiny_model_dir},{tiny_model_dir}", "-o", out),
        "base and tuned are the same model",
    )
    assert_user_error(
        *invoke("-p", f"{tiny_model_dir},{tmp_path}/no/such/model", "-o", out),
        "no/such/model",
        "does not exist",
    )
    assert_user_error(
        *invoke("-p", f"{tiny_model_dir},{tiny_model_dir}+{tmp_path}/none", "-o", out),
        "adapter folder",
    )
    code, stdout, err = invoke(
        "-p", f"default,{tiny_model_dir}", "--tasks", "calibrated_math", "--limit", "5", "-o", out
    )
    assert_user_error(
        code, stdout, err, "'calibrated_math'", "without options", "calibrated_math_mc"
    )
    assert not (tmp_path / "s" / "runs").exists()  # nothing ran
    assert_user_error(
        *invoke("-p", f"default,{tiny_model_dir}", "--methods", "verbalized", "-o", out),
        "unknown 'verbalized'",
    )


def test_trained_adapters_are_labelled_by_their_run_folder(tmp_path: Path) -> None:
    from confalign.analysis.study.config import ModelSpec, Pair, StudyConfig, StudyError

    for name in ("dpo", "caldpo"):
        (tmp_path / name / "adapter").mkdir(parents=True)
    (tmp_path / "other" / "dpo").mkdir(parents=True)
    dpo = ModelSpec("default", str(tmp_path / "dpo" / "adapter"))
    caldpo = ModelSpec("default", str(tmp_path / "caldpo" / "adapter"))
    assert (dpo.label, caldpo.label) == ("default+dpo", "default+caldpo")
    config = StudyConfig(pairs=(Pair(dpo, caldpo),), output=tmp_path / "s")
    assert [m.label for m in config.models()] == ["default+dpo", "default+caldpo"]
    clash = ModelSpec("default", str(tmp_path / "other" / "dpo"))
    with pytest.raises(StudyError, match="both labelled 'default\\+dpo'"):
        StudyConfig(pairs=(Pair(ModelSpec("default"), dpo), Pair(dpo, clash)), output=tmp_path)
