"""``confalign recalibrate``: fits on a disjoint set equal scikit-learn's, refusals, --apply.

References are computed here from the stored rows: scikit-learn's ``LogisticRegression`` on
``logit(c)`` (and, independently, a scipy BFGS fit of the same likelihood) for Platt, and
``CalibratedClassifierCV(method="isotonic")`` around a frozen pass-through classifier for
isotonic regression, both on the split the command recorded.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import expit, log_softmax, logit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from confalign import metrics as M
from confalign.cli import _register, app
from confalign.recalibrate import RecalibrateConfig, recalibrate_run
from confalign.report import ReportOptions, build_report, compare_reports
from confalign.runs import RunStore

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recal_helpers import DATASET, LETTERS, VERBAL, make_run, stored

_register()
EPS = 1e-7
KEYS = ("choice", VERBAL)


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["recalibrate", *map(str, args)])
    return result.exit_code, result.output


class _PassThrough(ClassifierMixin, BaseEstimator):
    """A binary classifier whose P(correct) is its one feature: the confidence itself."""

    def fit(self, x: np.ndarray, y: np.ndarray) -> _PassThrough:
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        c = np.asarray(x, dtype=np.float64)[:, 0]
        return np.column_stack([1.0 - c, c])

    def predict(self, x: np.ndarray) -> np.ndarray:
        return (self.predict_proba(x)[:, 1] > 0.5).astype(int)


def _usable(rows: dict, ids: set[str]) -> tuple[np.ndarray, np.ndarray]:
    used = [r for i, r in rows.items() if i in ids and r.confidence is not None]
    return np.array([r.confidence for r in used]), np.array([float(r.correct) for r in used])


@pytest.fixture(scope="module")
def half(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 200-question run, and the run recalibrated on a seeded half of it held apart."""
    root = tmp_path_factory.mktemp("half")
    run = make_run(root / "run", "a", 200, seed=0)
    out = root / "out"
    recalibrate_run(RecalibrateConfig(run, fit_fraction=0.5, fit_seed=3, output=out))
    return run, out


@pytest.mark.parametrize("key", KEYS)
def test_half_split_equals_scikit_learn(half: tuple[Path, Path], key: str) -> None:
    run, out = half
    recal = json.loads((out / "recalibration.json").read_text())
    fit_ids = set(recal["fit_ids"][DATASET])
    rows = stored(run, key)
    eval_ids = set(rows) - fit_ids
    assert len(fit_ids) == 100 and set(stored(out, key)) == eval_ids  # held apart, disjoint
    c_fit, y_fit = _usable(rows, fit_ids)
    eval_order = [i for i in stored(out, key) if rows[i].confidence is not None]
    c_eval = np.array([rows[i].confidence for i in eval_order])

    platt = stored(out, f"{key}+platt")
    got = np.array([platt[i].confidence for i in eval_order])
    x_fit, x_eval = (logit(np.clip(c, EPS, 1 - EPS))[:, None] for c in (c_fit, c_eval))
    lr = LogisticRegression(C=np.inf, tol=1e-12, max_iter=100_000).fit(x_fit, y_fit)
    np.testing.assert_allclose(got, lr.predict_proba(x_eval)[:, 1], atol=1e-6, rtol=0)

    def nll(w: np.ndarray) -> float:
        z = w[0] * x_fit[:, 0] + w[1]
        return float(np.mean(np.logaddexp(0.0, z) - y_fit * z))

    w = minimize(nll, [1.0, 0.0], method="BFGS", options={"gtol": 1e-12}).x
    np.testing.assert_allclose(got, expit(w[0] * x_eval[:, 0] + w[1]), atol=1e-6, rtol=0)

    isotonic = stored(out, f"{key}+isotonic")
    got = np.array([isotonic[i].confidence for i in eval_order])
    ref = CalibratedClassifierCV(FrozenEstimator(_PassThrough().fit(None, None)), method="isotonic")
    ref.fit(c_fit[:, None], y_fit)
    np.testing.assert_allclose(got, ref.predict_proba(c_eval[:, None])[:, 1], atol=1e-6, rtol=0)
    # Failed extractions stay failed, so the failure rate is the base method's.
    assert all(isotonic[i].confidence is None for i in stored(out, key) if i not in eval_order)


def test_temperature_minimises_the_fit_nll(half: tuple[Path, Path]) -> None:
    run, out = half
    recal = json.loads((out / "recalibration.json").read_text())
    (entry,) = [m for m in recal["maps"] if m["key"] == "choice+temperature"]
    t = entry["params"]["temperature"]
    rows = stored(run, "choice")
    fit = [rows[i] for i in recal["fit_ids"][DATASET]]
    s = np.array([r.extra["scores"] for r in fit])
    gold = np.array([LETTERS.index(r.gold) for r in fit])

    def nll(temp: float) -> float:
        return float(-log_softmax(s / temp, axis=1)[np.arange(len(s)), gold].mean())

    assert nll(t) <= min(nll(t * 0.999), nll(t * 1.001))
    for i, row in stored(out, "choice+temperature").items():
        p = np.exp(log_softmax(np.array(rows[i].extra["scores"]) / t))
        assert row.confidence == pytest.approx(p.max(), abs=1e-12)
        np.testing.assert_allclose(row.probs, p, atol=1e-12)
        assert row.prediction == rows[i].prediction and row.correct == rows[i].correct
    assert f"{VERBAL}+temperature" not in {m["key"] for m in recal["maps"]}


def test_overlap_is_refused_with_its_count(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", "q", 50, seed=0)
    fit = make_run(tmp_path / "fit", "q", 60, seed=1)  # q0..q49 are in both
    code, output = cli(run, "--fit", fit)
    assert code == 2
    assert output.strip().splitlines() == [
        "error: 50 fit example id(s) are also evaluated (50 in mmlu_offline); fit on "
        "disjoint examples or pass --drop-overlap"
    ]
    assert not (run / "recalibration.json").exists()
    assert set(stored(run, "choice+platt")) == set()

    code, output = cli(run, "--fit", fit, "--drop-overlap", "--methods", "platt")
    assert code == 0, output
    recal = json.loads((run / "recalibration.json").read_text())
    assert recal["source"]["dropped_overlap"] == {DATASET: 50}
    assert recal["fit_ids"][DATASET] == sorted(f"q{i}" for i in range(50, 60))


def test_single_class_fit_set_is_refused_naming_the_method(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", "a", 40, seed=0)
    fit = make_run(tmp_path / "fit", "f", 40, seed=1, all_correct=True)
    code, output = cli(run, "--fit", fit, "--methods", "isotonic,platt")
    assert code == 2
    assert output.strip().splitlines() == [
        "error: isotonic is undefined for mmlu_offline / choice: its fit set has only right "
        "answers (40 of 40 correct)"
    ]
    assert not (run / "recalibration.json").exists()


def test_apply_gives_the_numbers_of_the_fit_in_place(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", "a", 120, seed=0)
    fit = make_run(tmp_path / "fit", "f", 150, seed=1)
    code, output = cli(run, "--fit", fit)
    assert code == 0, output
    assert "choice+temperature (fitted on 150" in output
    other = tmp_path / "other"
    shutil.copytree(run, other)  # the same examples, recalibrated again from the file
    code, output = cli(other, "--apply", run / "recalibration.json")
    assert code == 0, output
    recal = json.loads((run / "recalibration.json").read_text())
    keys = [m["key"] for m in recal["maps"]]
    assert len(keys) == 7  # 4 maps of choice, 3 of the verbalized key
    for key in keys:
        fitted, applied = stored(run, key), stored(other, key)
        assert list(fitted) == list(applied)
        for i, row in fitted.items():
            assert applied[i].confidence == row.confidence
            assert applied[i].probs == row.probs
    # A second recalibration in place replaces the first one's keys; the run stays complete.
    code, output = cli(run, "--fit", fit, "--methods", "platt")
    assert code == 0, output
    with RunStore.open(run) as store:
        assert store.method_keys(DATASET) == ["choice", "choice+platt", VERBAL, f"{VERBAL}+platt"]
        assert store.manifest["status"] == "complete"
        assert [m["key"] for m in store.manifest["recalibration"]["maps"]] == [
            "choice+platt",
            f"{VERBAL}+platt",
        ]
    # The maps were fitted on fit's examples: applying them there is an overlap.
    code, output = cli(fit, "--apply", other / "recalibration.json")
    assert code == 2
    assert "150 fitted example id(s) are also evaluated" in output


def test_report_and_compare_carry_the_recalibrated_methods(half: tuple[Path, Path]) -> None:
    _, out = half
    options = ReportOptions(n_bootstrap=0)
    report = build_report(out, options)
    section = report.data["datasets"][DATASET]
    assert {"choice+platt", "choice+temperature", f"{VERBAL}+histogram"} <= set(section["methods"])
    assert all("+" not in a["verbalized"] + a["internal"] for a in section["alignment"])
    for key in ("choice+isotonic", VERBAL):
        arr = report.arrays[DATASET][key]
        metrics = section["methods"][key]["metrics"]
        for coverage in (0.5, 0.8):
            want = M.accuracy_at_coverage(arr.confidence, arr.correct, coverage=coverage)
            assert metrics[f"accuracy_at_{round(100 * coverage)}"]["value"] == want
    summary = report.data["recalibration"]["maps"]
    params = json.loads((out / "recalibration.json").read_text())["maps"]
    assert summary[0]["key"] == params[0]["key"] == "choice+platt"
    slope, intercept = params[0]["params"]["slope"], params[0]["params"]["intercept"]
    assert summary[0]["parameters"] == f"slope {slope:.4g}, intercept {intercept:.4g}"
    comparison = compare_reports([report, report], ["before", "after"])
    rows = comparison["metrics"]["accuracy_at_80"]["rows"]
    assert {"choice", "choice+platt"} <= {r["method"] for r in rows}


@pytest.mark.slow
def test_real_eval_rows_are_recalibrated(tiny_model_dir: Path, tmp_path: Path) -> None:
    """What ``confalign eval`` stores (the tiny model, real extractors and data) is what
    ``recalibrate`` reads: option log-scores and gold letters for temperature scaling."""
    from confalign.evaluate import EvalConfig, run_eval

    def evaluate(seed: int) -> Path:
        config = EvalConfig(
            datasets=("mmlu_offline",),
            model=str(tiny_model_dir),
            methods=("choice", "continuation_sum"),
            limit=24,
            seed=seed,
            output=tmp_path / f"s{seed}",
            threads=1,
        )
        return run_eval(config, progress=False)

    run, fit = evaluate(0), evaluate(1)
    code, output = cli(run, "--fit", fit, "--drop-overlap")
    assert code == 0, output
    recal = json.loads((run / "recalibration.json").read_text())
    assert {m["key"] for m in recal["maps"]} == {
        f"{key}+{name}"
        for key in ("choice", "continuation_sum")
        for name in ("platt", "isotonic", "histogram", "temperature")
    }
    for key in ("choice", "continuation_sum"):
        (entry,) = [m for m in recal["maps"] if m["key"] == f"{key}+temperature"]
        t = entry["params"]["temperature"]
        base = stored(run, key)
        for i, row in stored(run, f"{key}+temperature").items():
            p = np.exp(log_softmax(np.array(base[i].extra["scores"]) / t))
            assert row.confidence == pytest.approx(p.max(), abs=1e-12)
            assert base[i].gold in LETTERS and row.correct == base[i].correct
