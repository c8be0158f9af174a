"""The format × mode table on a hand-written run: parse counts, mean Cv, rho against choice."""

from __future__ import annotations

from pathlib import Path

import pytest
from scipy.stats import spearmanr

from confalign.analysis.elicitation import elicitation_table, to_markdown
from confalign.confidence.base import ConfidenceRecord
from confalign.evaluate.rows import row_from_record
from confalign.runs import ResultRow, RunStore

CHOICE = [0.9, 0.5, 0.4, 0.7]
CORRECT = [True, False, True, False]
PREFILL = [1.0, None, 0.2, 0.6]  # one parse failure
DISTRIBUTION = [0.8, 0.3, 0.5, 0.2]
ANSWER_CI = [0.6, 0.5, 0.9, 0.1]


def _rows() -> list[ResultRow]:
    out = []
    for i in range(4):
        qid = f"q{i}"
        records = [
            ConfidenceRecord(qid, "choice", "internal", "A", CORRECT[i], CHOICE[i]),
            ConfidenceRecord(
                qid,
                "verbalized",
                "verbalized",
                "A",
                CORRECT[i],
                PREFILL[i],
                format="probability",
                mode="prefill",
                parse_failed=PREFILL[i] is None,
                ambiguous=i == 2,
                extra={"answer_ci": ANSWER_CI[i]},
            ),
            ConfidenceRecord(
                qid,
                "verbalized",
                "verbalized",
                "A",
                CORRECT[i],
                DISTRIBUTION[i],
                format="probability",
                mode="distribution",
                extra={"answer_ci": ANSWER_CI[i]},
            ),
        ]
        out += [
            row_from_record(r, dataset="mmlu", example_order=i, subject="s", config_key="k")
            for r in records
        ]
    return out


def test_rows_per_format_and_mode(tmp_path: Path) -> None:
    with RunStore.create(tmp_path / "run", {"model": "m"}) as store:
        store.write(_rows())
    prefill, dist = elicitation_table(tmp_path / "run", "mmlu", n_bins=10)
    assert (prefill.mode, dist.mode) == ("prefill", "distribution")
    assert (prefill.records, prefill.parsed, prefill.ambiguous) == (4, 3, 1)
    assert prefill.mean_cv == pytest.approx((1.0 + 0.2 + 0.6) / 3)
    assert prefill.accuracy == pytest.approx(2 / 3)
    # AUROC of (1.0 right, 0.2 right, 0.6 wrong): one of two pairs ordered -> 0.5
    assert prefill.auroc == pytest.approx(0.5)
    kept = [0, 2, 3]
    expected = spearmanr([PREFILL[i] for i in kept], [CHOICE[i] for i in kept]).statistic
    assert prefill.rho_internal == pytest.approx(expected)
    assert dist.rho_answer_ci == pytest.approx(spearmanr(DISTRIBUTION, ANSWER_CI).statistic)
    assert dist.parse_rate == 1.0
    text = to_markdown([prefill, dist])
    assert "| probability | prefill | 3/4 (75%) | 1 | 0.600 | 0.667 |" in text
    with pytest.raises(ValueError, match="no dataset 'arc'"):
        elicitation_table(tmp_path / "run", "arc")
