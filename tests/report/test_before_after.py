"""The before/after table's Markdown: formatting and columns that stay columns."""

from __future__ import annotations

import math

import pytest

from confalign.report.before_after import markdown_table


def test_markdown_table_formats_cells_and_escapes_pipes() -> None:
    rows = [
        {"model": "base", "gap": 0.12345, "n": 7, "q": [0.1, 0.25, 0.9]},
        {"model": "dca", "gap": math.nan, "n": None, "q": [0.0, 0.5, 1.0]},
    ]
    text = markdown_table(rows, ("model",), [("gap", "|ε|"), ("n", "N"), ("q", "q10/q50/q90")])
    lines = text.splitlines()
    assert lines[0] == r"| model | \|ε\| | N | q10/q50/q90 |"
    assert lines[2] == "| base | 0.123 | 7 | 0.10/0.25/0.90 |"
    assert lines[3] == "| dca | — | — | 0.00/0.50/1.00 |"
    # every line splits into the same number of cells once escaped pipes are set aside
    cells = {line.replace(r"\|", "").count("|") for line in lines}
    assert cells == {5}


def test_record_metrics_intervals_agree_with_scipy_bootstrap() -> None:
    """ρ(Cv, Ci) and |ε| carry percentile-bootstrap intervals; scipy's own bootstrap (other
    random draws, so a tolerance) gives the same interval."""
    from types import SimpleNamespace

    import numpy as np
    from scipy import stats

    from confalign.report.before_after import record_metrics

    rng = np.random.default_rng(3)
    ci = rng.uniform(0.1, 0.9, 200)
    cv = np.clip(ci + rng.normal(0, 0.25, 200), 0, 1)
    y = rng.uniform(size=200) < ci
    records = [
        SimpleNamespace(confidence=float(a), extra={"answer_ci": float(b)}, correct=bool(c))
        for a, b, c in zip(cv, ci, y, strict=True)
    ]
    row = record_metrics(records)
    assert row["spearman"] == pytest.approx(stats.spearmanr(cv, ci).statistic, abs=1e-12)
    for key, fn in (
        ("spearman_ci", lambda a, b: stats.spearmanr(a, b).statistic),
        ("mean_abs_gap_ci", lambda a, b: np.mean(np.abs(a - b))),
    ):
        ref = stats.bootstrap(
            (cv, ci), fn, paired=True, vectorized=False, method="percentile",
            n_resamples=2000, random_state=0,
        ).confidence_interval  # fmt: skip
        low, high = row[key]
        assert low < high
        assert abs(low - ref.low) < 0.03 and abs(high - ref.high) < 0.03
