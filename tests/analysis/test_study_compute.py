"""The study's numbers on hand-made arrays: signs, significance, rankings, Kendall tau."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import kendalltau

from confalign import metrics as M
from confalign.analysis.study import MethodData, ModelSpec, Pair, StudyConfig, compute_study
from confalign.analysis.study.compute import paired_difference

N = 400


def arrays(seed: int, sharpness: float, n: int = N, k: int = 4) -> MethodData:
    """Questions with gold option 0..k-1; the model favours gold by 1 logit, ``sharpness``
    scales its logits (large: overconfident)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), labels] += 1.0
    logits *= sharpness
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    pred = p.argmax(1)
    return MethodData(
        example_ids=tuple(f"q{i}" for i in range(n)),
        confidence=p.max(1),
        correct=(pred == labels).astype(np.float64),
        probs=p,
        labels=labels,
    )


def test_an_overconfident_tuned_model_is_harmed_on_ece_and_sce() -> None:
    # Same data stream (seed), only the temperature differs: tuned is 4x sharper.
    base, tuned = arrays(0, 1.0), arrays(0, 4.0)
    for metric in ("ece", "sce", "brier"):
        cell = paired_difference(
            metric, base, tuned, n_bins=15, n_bootstrap=300, ci_level=0.95, seed=0
        )
        assert cell["difference"] > 0 and cell["low"] > 0, metric
        assert cell["verdict"] == "harmed" and cell["significant"] is True
    ece = paired_difference("ece", base, tuned, n_bins=15, n_bootstrap=0, ci_level=0.95, seed=0)
    want = M.expected_calibration_error(
        tuned.confidence, tuned.correct, n_bins=15
    ) - M.expected_calibration_error(base.confidence, base.correct, n_bins=15)
    assert ece["difference"] == pytest.approx(want)
    sce = paired_difference("sce", base, tuned, n_bins=15, n_bootstrap=0, ci_level=0.95, seed=0)
    assert sce["tuned"] == pytest.approx(M.static_calibration_error(tuned.probs, tuned.labels))
    # same argmax: accuracy cannot move, AUROC is a score (higher is better)
    acc = paired_difference(
        "accuracy", base, tuned, n_bins=15, n_bootstrap=200, ci_level=0.95, seed=0
    )
    assert acc["difference"] == 0 and acc["low"] == acc["high"] == 0
    assert acc["verdict"] == "n.s."


def test_the_reverse_pair_is_improved_and_identical_models_differ_by_exactly_zero() -> None:
    base, tuned = arrays(0, 4.0), arrays(0, 1.0)
    cell = paired_difference("ece", base, tuned, n_bins=15, n_bootstrap=300, ci_level=0.95, seed=0)
    assert cell["high"] < 0 and cell["verdict"] == "improved"
    same = paired_difference("sce", base, base, n_bins=15, n_bootstrap=100, ci_level=0.95, seed=0)
    assert same["difference"] == same["low"] == same["high"] == 0


def test_pairing_uses_only_the_questions_both_models_answered() -> None:
    base = arrays(0, 1.0)
    tuned = arrays(0, 4.0).subset([f"q{i}" for i in range(0, N, 2)])
    cell = paired_difference("brier", base, tuned, n_bins=15, n_bootstrap=0, ci_level=0.95, seed=0)
    half = base.subset(tuned.example_ids)
    assert cell["n"] == N // 2
    assert cell["base"] == pytest.approx(M.brier_score_loss(half.confidence, half.correct))


def _config(tmp_path: Path, n_pairs: int, tasks: tuple[str, ...]) -> StudyConfig:
    pairs = tuple(
        Pair(ModelSpec("base"), ModelSpec(f"tuned{i}"), name=f"p{i}") for i in range(n_pairs)
    )
    return StudyConfig(
        pairs=pairs,
        output=tmp_path,
        tasks=tasks,
        methods=("choice",),
        metrics=("ece", "auroc"),
        n_bootstrap=50,
    )


def test_table_shape_rankings_and_kendall_tau_against_scipy(tmp_path: Path) -> None:
    tasks = ("t1", "t2", "t3")
    config = _config(tmp_path, 4, tasks)
    # sharpness per (pair, task): pair i gets sharper by i, with a task-specific shuffle
    sharp = {"t1": [1.0, 2.0, 3.0, 4.0], "t2": [1.0, 3.0, 2.0, 4.0], "t3": [4.0, 3.0, 2.0, 1.5]}
    data: dict = {"base": {t: {"choice": arrays(7, 1.0)} for t in tasks}}
    for i in range(4):
        data[f"tuned{i}"] = {t: {"choice": arrays(7, sharp[t][i])} for t in tasks}
    study = compute_study(data, config)
    assert len(study["cells"]) == 4 * 3 * 1 * 2  # pairs x tasks x methods x metrics
    assert {(c["pair"], c["task"], c["metric"]) for c in study["cells"]} == {
        (f"p{i}", t, m) for i in range(4) for t in tasks for m in ("ece", "auroc")
    }
    (ece,) = [r for r in study["rankings"] if r["metric"] == "ece"]
    diffs = {
        t: [
            next(
                c["difference"]
                for c in study["cells"]
                if (c["pair"], c["task"], c["metric"]) == (f"p{i}", t, "ece")
            )
            for i in range(4)
        ]
        for t in tasks
    }
    for t in tasks:  # most degraded first
        assert ece["order"][t] == [f"p{i}" for i in np.argsort(-np.array(diffs[t]))]
    for entry in ece["kendall_tau"]:
        t1, t2 = entry["tasks"]
        assert entry["tau"] == pytest.approx(kendalltau(diffs[t1], diffs[t2]).statistic)
    # by hand: sharper is worse on ECE here, so the orders follow the sharpness: t1 vs t2 has
    # one discordant pair of 6 -> tau = (5 - 1) / 6; t1 vs t3 is reversed -> -1
    taus = {tuple(e["tasks"]): e["tau"] for e in ece["kendall_tau"]}
    assert taus[("t1", "t2")] == pytest.approx(4 / 6)
    assert taus[("t1", "t3")] == pytest.approx(-1.0)
    assert ece["mean_tau"] == pytest.approx(np.mean(list(taus.values())))
    (verdict,) = [v for v in study["verdicts"] if v["metric"] == "ece"]
    worse = sum(d > 0 for ds in diffs.values() for d in ds)
    assert verdict["n_cells"] == 12 and verdict["n_worse"] == worse == 10  # p0: 2 ties
    assert verdict["verdict"] == "harms"


def test_kendall_tau_is_undefined_with_one_pair(tmp_path: Path) -> None:
    config = _config(tmp_path, 1, ("t1", "t2"))
    data = {
        "base": {t: {"choice": arrays(3, 1.0)} for t in ("t1", "t2")},
        "tuned0": {t: {"choice": arrays(3, 2.0)} for t in ("t1", "t2")},
    }
    study = compute_study(data, config)
    for r in study["rankings"]:
        assert r["kendall_tau"][0]["tau"] is None and r["mean_tau"] is None
        assert r["order"]["t1"] == ["p0"]


def test_the_paper_pairs_file_is_a_valid_study(tmp_path: Path) -> None:
    from confalign.analysis.study import DEFAULT_TASKS, load_study_file

    path = Path(__file__).resolve().parents[2] / "docs" / "study-paper-pairs.yaml"
    config = StudyConfig(output=tmp_path, **load_study_file(path))
    assert len(config.pairs) == 7 and config.tasks == DEFAULT_TASKS
    assert len(config.models()) == 14
