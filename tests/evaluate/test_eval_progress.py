"""The progress bar shows the dataset, the extractor, done/total, examples/s and an ETA."""

from __future__ import annotations

import io
import time

from rich.console import Console

from confalign.evaluate.progress import EvalProgress


def test_bar_shows_counts_throughput_and_eta() -> None:
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=False, color_system=None)
    with EvalProgress(console=console) as bars:
        bars.start("mmlu", total=10, done=4)
        bars.describe("internal_choice")
        for _ in range(3):
            time.sleep(0.02)
            bars.advance(1)
    text = out.getvalue()
    assert "mmlu · internal_choice" in text
    assert "7/10" in text and "ex/s" in text and "ETA" in text


def test_disabled_progress_prints_nothing(capsys) -> None:  # type: ignore[no-untyped-def]
    with EvalProgress(enabled=False) as bars:
        bars.start("mmlu", total=3, done=0)
        bars.advance(3)
    assert capsys.readouterr() == ("", "")
