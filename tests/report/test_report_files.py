"""The written report: one JSON, Markdown and a self-contained HTML from one computed structure;
and ``compare``'s deltas."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from confalign.report import (
    ReportOptions,
    build_report,
    compare_reports,
    write_comparison,
    write_report,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report_helpers import DATASET, make_run

OPTIONS = ReportOptions(n_bootstrap=20)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory):
    run = make_run(tmp_path_factory.mktemp("runs") / "run")
    return write_report(run, None, OPTIONS)


def test_files_are_written_next_to_the_run(written) -> None:
    report, files = written
    assert files.directory.name == "report"
    assert json.loads(files.json.read_text()) == json.loads(json.dumps(report.data))
    pngs = sorted(p.name for p in files.figures.glob("*.png"))
    md = files.markdown.read_text()
    for name in pngs:
        assert f"(figures/{name})" in md
    # reliability + histogram per method; scatter per pair; one risk-coverage plot per dataset
    assert len(pngs) == 4 * 2 + 2 * 3 + 1


def test_json_is_strict(written) -> None:
    _, files = written
    json.loads(files.json.read_text(), parse_constant=lambda c: pytest.fail(f"JSON has {c}"))


def test_html_is_self_contained(written) -> None:
    _, files = written
    html = files.html.read_text()
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert "url(" not in html
    sources = re.findall(r'src="([^"]*)"', html)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    # + the two Cv histograms in the format table + the risk-coverage plot
    assert len(sources) == 4 * 2 + 2 * 3 + 2 + 1


def test_markdown_and_html_show_the_same_numbers(written) -> None:
    report, files = written
    md, html = files.markdown.read_text(), files.html.read_text()
    choice = report.data["datasets"][DATASET]["methods"]["choice"]
    ece = f"{choice['metrics']['ece']['value']:.3f}"
    for text in (md, html):
        assert ece in text
        assert "excluded from the arrays every metric is computed on" in text
        assert "score_letter / distribution" in text and "probability / prefill" in text
        assert "answer_ci" in text and "anatomy" in text
        assert "10.0% (6)" in text  # the prefill parse-failure rate


def test_compare_shows_each_run_and_the_deltas(tmp_path: Path) -> None:
    a = make_run(tmp_path / "before", 0)
    b = make_run(tmp_path / "after", 1, shift=0.2)
    comparison, files = write_comparison([a, b], tmp_path / "cmp", OPTIONS)
    ra, rb = build_report(a, OPTIONS).data, build_report(b, OPTIONS).data
    key = "verbalized/probability/prefill"
    rows = {(r["dataset"], r["method"]): r for r in comparison["metrics"]["ece"]["rows"]}
    row = rows[(DATASET, key)]
    va = ra["datasets"][DATASET]["methods"][key]["metrics"]["ece"]["value"]
    vb = rb["datasets"][DATASET]["methods"][key]["metrics"]["ece"]["value"]
    assert row["values"]["before"]["value"] == va and row["values"]["after"]["value"] == vb
    assert row["deltas"]["after"] == pytest.approx(vb - va)
    assert row["verdicts"]["after"] == ("better" if vb < va else "worse")  # ECE: lower is better
    auroc = {(r["dataset"], r["method"]): r for r in comparison["metrics"]["auroc"]["rows"]}
    r2 = auroc[(DATASET, "choice")]
    d2 = r2["values"]["after"]["value"] - r2["values"]["before"]["value"]
    assert r2["verdicts"]["after"] == ("better" if d2 > 0 else "worse")  # AUROC: higher is better
    md = files.markdown.read_text()
    assert f"{vb - va:+.3f}" in md and "Δ after − before" in md
    assert "http://" not in files.html.read_text() and (files.figures / "compare__ece.png").exists()


def test_compare_needs_two_runs_and_distinct_labels(tmp_path: Path) -> None:
    report = build_report(make_run(tmp_path / "r"), ReportOptions(n_bootstrap=0))
    with pytest.raises(ValueError, match="at least two"):
        compare_reports([report], ["r"])
    with pytest.raises(ValueError, match="distinct label"):
        compare_reports([report, report], ["r", "r"])


def test_a_kill_while_writing_leaves_each_file_whole_or_absent(tmp_path: Path) -> None:
    """Reports and ``confalign study`` write their files through ``write_files``: at every
    moment a kill could come, each file on disk is the whole new one or absent."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
    from kill_points import record

    run = make_run(tmp_path / "run")
    out = tmp_path / "report"
    with record(out, tmp_path / "states") as points:
        write_report(run, out, OPTIONS)
    final = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert len(final) == 3 + 15 and len(points) >= 2 * len(final)
    for point in points:
        for path in point.state.rglob("*"):
            rel = path.relative_to(point.state)
            if path.is_file() and not rel.name.endswith(".tmp"):
                assert path.read_bytes() == final[rel], (point.label, rel)
