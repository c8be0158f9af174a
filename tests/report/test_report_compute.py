"""The report's numbers are the metrics library's, on the arrays the run store holds.

Each test reads the stored records itself, builds the arrays by hand (dropping failed
extractions), calls ``confalign.metrics`` directly and compares with the report, so a report
that routed one method's (or one example's) data to another would fail.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from confalign import metrics as M
from confalign.report import ReportOptions, build_report
from confalign.report.compute import EXCLUSION_NOTE
from confalign.runs import RunStore

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report_helpers import DATASET, SUBJECTS, gold, make_run

OPTIONS = ReportOptions(n_bins=10, n_bootstrap=50, seed=3)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("runs") / "run")


@pytest.fixture(scope="module")
def data(run: Path) -> dict:
    return build_report(run, OPTIONS).data


def stored(run: Path, key: str) -> tuple[np.ndarray, np.ndarray, list]:
    """(confidence, correct, rows) of one method key, failed extractions dropped."""
    with RunStore.open(run) as store:
        rows = [r for r in store.rows(DATASET, key) if r.confidence is not None]
    rows = [r for r in rows if r.correct is not None]
    conf = np.array([r.confidence for r in rows])
    correct = np.array([float(r.correct) for r in rows])
    return conf, correct, rows


def value(entry: dict, name: str) -> float | None:
    return entry["metrics"][name]["value"]


KEYS = (
    "choice",
    "continuation_sum",
    "verbalized/probability/prefill",
    "verbalized/score_letter/distribution",
)


@pytest.mark.parametrize("key", KEYS)
def test_calibration_metrics_equal_the_library_on_stored_arrays(
    run: Path, data: dict, key: str
) -> None:
    conf, correct, _ = stored(run, key)
    entry = data["datasets"][DATASET]["methods"][key]
    assert entry["n"] == len(conf)
    expected = {
        "ece": M.expected_calibration_error(conf, correct, n_bins=10),
        "mce": M.maximum_calibration_error(conf, correct, n_bins=10),
        "brier": M.brier_score_loss(conf, correct),
        "nll": M.log_loss(conf, correct),
        "auroc": M.auroc_score(conf, correct),
        "nce": M.net_calibration_error(conf, correct),
        "accuracy": correct.mean(),
        "mean_confidence": conf.mean(),
    }
    for name, want in expected.items():
        assert value(entry, name) == pytest.approx(want, abs=1e-12), name
    summary = M.calibration_summary(conf, correct, n_bins=10)
    counts = [b["count"] for b in entry["bins"]]
    assert counts == [int(c) for c in summary.bins.count]


def test_every_reported_metric_has_an_interval_around_the_library_value(data: dict) -> None:
    for key in KEYS:
        for name, est in data["datasets"][DATASET]["methods"][key]["metrics"].items():
            if est["value"] is None:
                continue
            assert est["low"] is not None and est["high"] is not None, (key, name)
            assert est["low"] <= est["high"], (key, name)


def test_bootstrap_intervals_are_the_library_bootstrap(run: Path, data: dict) -> None:
    conf, correct, _ = stored(run, "choice")
    ci = M.bootstrap_ci(M.brier_score_loss, conf, correct, n_resamples=50, seed=3)
    low, high = ci.low, ci.high
    est = data["datasets"][DATASET]["methods"]["choice"]["metrics"]["brier"]
    assert (est["low"], est["high"]) == pytest.approx((low, high))
    ece = M.bootstrap_ci(
        M.expected_calibration_error, conf, correct, n_resamples=50, seed=3, n_bins=10
    )
    est = data["datasets"][DATASET]["methods"]["choice"]["metrics"]["ece"]
    assert (est["low"], est["high"]) == pytest.approx((ece.low, ece.high))


def test_failures_are_counted_and_excluded(data: dict) -> None:
    methods = data["datasets"][DATASET]["methods"]
    prefill = methods["verbalized/probability/prefill"]
    assert prefill["n_records"] == 60
    assert prefill["n_parse_failed"] == 6 and prefill["n_failed"] == 6 and prefill["n"] == 54
    assert prefill["parse_failed_rate"] == pytest.approx(0.1)
    assert prefill["n_ambiguous"] == 4
    cont = methods["continuation_sum"]
    assert (cont["n_failed"], cont["n"], cont["n_parse_failed"]) == (1, 59, 0)
    assert EXCLUSION_NOTE in data["notes"]


def test_alignment_pairs_cv_with_ci_of_the_same_examples(run: Path, data: dict) -> None:
    _, _, verbal = stored(run, "verbalized/probability/prefill")
    _, _, internal = stored(run, "continuation_sum")
    ci_by_id = {r.example_id: r.confidence for r in internal}
    both = [r for r in verbal if r.example_id in ci_by_id]
    cv = np.array([r.confidence for r in both])
    ci = np.array([ci_by_id[r.example_id] for r in both])
    entries = {(a["verbalized"], a["internal"]): a for a in data["datasets"][DATASET]["alignment"]}
    entry = entries[("verbalized/probability/prefill", "continuation_sum")]
    assert entry["n"] == len(cv) == 53  # 6 parse failures, 1 failed internal record
    for name, want in M.alignment_metrics(cv, ci).scalars().items():
        assert entry["metrics"][name]["value"] == pytest.approx(want, abs=1e-12), name
    same = entries[("verbalized/probability/prefill", "answer_ci")]
    cv2 = np.array([r.confidence for r in verbal])
    ci2 = np.array([r.extra["answer_ci"] for r in verbal])
    assert same["n"] == 54
    assert same["metrics"]["spearman"]["value"] == pytest.approx(M.spearman_score(cv2, ci2))


def test_sce_uses_option_distributions_and_gold_labels(run: Path, data: dict) -> None:
    _, _, rows = stored(run, "choice")
    probs = np.array([r.probs for r in rows])
    labels = np.array([gold()[int(r.example_id[1:])] for r in rows])
    entry = data["datasets"][DATASET]["methods"]["choice"]
    assert entry["sce"]["value"] == pytest.approx(
        M.static_calibration_error(probs, labels, n_bins=10)
    )
    assert (
        data["datasets"][DATASET]["methods"]["verbalized/score_letter/distribution"]["sce"] is None
    )


def test_sce_is_withheld_with_a_reason_when_gold_labels_are_unknown(tmp_path: Path) -> None:
    data = build_report(make_run(tmp_path / "r", store_gold=False), OPTIONS).data
    entry = data["datasets"][DATASET]["methods"]["choice"]
    assert entry["sce"] is None
    assert "gold option" in entry["sce_note"]


def test_per_subject_breakdown(run: Path, data: dict) -> None:
    conf, correct, rows = stored(run, "choice")
    table = data["datasets"][DATASET]["subjects"]["choice"]
    assert [r["subject"] for r in table] == sorted(SUBJECTS)
    for r in table:
        mask = np.array([row.subject == r["subject"] for row in rows])
        assert r["n"] == mask.sum()
        assert r["accuracy"] == pytest.approx(correct[mask].mean())
        assert r["mean_confidence"] == pytest.approx(conf[mask].mean())
        assert r["ece"] == pytest.approx(
            M.expected_calibration_error(conf[mask], correct[mask], n_bins=10)
        )


def test_intervals_off_and_option_checks(run: Path) -> None:
    data = build_report(run, ReportOptions(n_bootstrap=0)).data
    est = data["datasets"][DATASET]["methods"]["choice"]["metrics"]["ece"]
    assert est["value"] is not None and est["low"] is None and est["high"] is None
    with pytest.raises(ValueError, match="n_bins"):
        ReportOptions(n_bins=0)
    with pytest.raises(ValueError, match="ci_level"):
        ReportOptions(ci_level=1.5)
