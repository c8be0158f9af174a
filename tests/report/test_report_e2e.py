"""End to end on a real (tiny, random) model: ``run_demo``'s path, i.e. ``run_eval`` with the
real extractors and the ``hf`` backend, then the report, on a small local multiple-choice file.
The numbers are meaningless (random weights); what is checked is that every method key of the
demo reaches the report with the library's numbers and a self-contained page."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from confalign import metrics as M
from confalign.pipelines.demo import DEMO_FORMATS, DEMO_MODES, demo_config, run_demo
from confalign.report import ReportOptions
from confalign.runs import RunStore

pytestmark = pytest.mark.slow


def write_mc(path: Path, n: int) -> Path:
    rows = []
    for i in range(n):
        choices = [str(i + d) for d in (-1, 0, 1, 2)]
        rows.append(
            {
                "id": f"q{i}",
                "question": f"What is {i} plus 0?",
                "choices": choices,
                "gold": 1,
                "subject": f"subject_{i % 3}",
            }
        )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_demo_pipeline_on_the_tiny_model(tiny_backend, tiny_model_dir: Path, tmp_path: Path):
    from confalign import data

    if not hasattr(data, "load_benchmark"):
        pytest.skip("confalign.data.load_benchmark does not exist yet")
    dataset = write_mc(tmp_path / "mc.jsonl", 9)
    config = demo_config(
        tmp_path / "run", datasets=(str(dataset),), model=str(tiny_model_dir), limit=9
    )
    result = run_demo(
        config, progress=False, backend=tiny_backend, options=ReportOptions(n_bootstrap=20)
    )
    methods = result.report.data["datasets"][str(dataset)]["methods"]
    verbal = {f"verbalized/{f}/{m}" for f in DEMO_FORMATS for m in DEMO_MODES}
    assert {"choice", "continuation_sum", "continuation_min"} | verbal <= set(methods)
    with RunStore.open(result.run_dir) as store:
        rows = [r for r in store.rows(str(dataset), "choice") if r.confidence is not None]
    conf = np.array([r.confidence for r in rows])
    correct = np.array([float(r.correct) for r in rows])
    assert methods["choice"]["metrics"]["ece"]["value"] == pytest.approx(
        M.expected_calibration_error(conf, correct)
    )
    # SCE from the gold letter the pipeline stores on every row (the random model answers
    # most questions wrong under every method, so no prediction could reveal the gold)
    probs = np.array([r.probs for r in rows])
    assert {r.gold for r in rows} == {"B"}
    assert methods["choice"]["sce"]["value"] == pytest.approx(
        M.static_calibration_error(probs, np.ones(len(rows), dtype=int))
    )
    assert methods["continuation_min"]["sce"]["value"] is not None
    html = result.files.html.read_text()
    assert "http://" not in html and "https://" not in html
    assert "score_letter / distribution" in html
