"""``report.html`` in a real browser: headless Chromium shows its tables and images, and the
page requests nothing from the network (see ``browser.py`` for how this is observed).

Skipped where Debian's ``chromium`` is not installed (``apt-get install chromium``). Set
``CONFALIGN_SCREENSHOT_DIR`` to keep the full-page screenshots for a human to look at.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from confalign.report import ReportOptions, write_comparison, write_report

sys.path.insert(0, str(Path(__file__).resolve().parent))
from browser import chromium_path, visit
from report_helpers import make_run

pytestmark = pytest.mark.skipif(
    chromium_path() is None,
    reason="headless Chromium not installed (/usr/bin/chromium; apt-get install chromium)",
)


def keep(name: str, png: bytes, tmp_path: Path) -> Path:
    folder = Path(os.environ.get("CONFALIGN_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(png)
    return path


def test_the_detector_sees_a_network_request(tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><img src="http://example.invalid/x.png"><p>x</p>')
    assert visit(page).network_requests == ["http://example.invalid/x.png"]


def test_report_renders_offline_with_tables_and_images(tmp_path: Path) -> None:
    _, files = write_report(make_run(tmp_path / "run"), None, ReportOptions(n_bootstrap=20))
    seen = visit(files.html)
    assert seen.network_requests == []
    assert seen.requests[0] == files.html.resolve().as_uri()
    summary = seen.summary
    assert summary["title"].startswith("confalign report")
    assert summary["tables"] >= 5  # run, summary, formats x modes, alignment, all metrics...
    images = summary["images"]
    # per method: reliability + histogram (4 + 4), one risk-coverage plot, the Cv histograms
    # again in the alignment section (2) and the Cv-vs-Ci scatters (6)
    assert len(images) == 17
    assert all(i["complete"] and i["width"] > 100 for i in images), images
    assert "Reliability diagrams" in summary["headings"]
    assert "Cv–Ci alignment" in summary["headings"]
    assert "verbalized/probability/prefill" in summary["text"]
    shot = keep("report.png", seen.screenshot, tmp_path)
    assert shot.stat().st_size > 50_000  # a page with figures, not a blank one


def test_comparison_renders_offline(tmp_path: Path) -> None:
    runs = [make_run(tmp_path / "a", 0), make_run(tmp_path / "b", 1, shift=0.2)]
    _, files = write_comparison(runs, tmp_path / "cmp", ReportOptions(n_bootstrap=0))
    seen = visit(files.html)
    assert seen.network_requests == []
    assert seen.summary["tables"] > 10
    assert all(i["complete"] and i["width"] > 100 for i in seen.summary["images"])
    keep("comparison.png", seen.screenshot, tmp_path)
