"""The before/after table's Markdown: formatting and columns that stay columns."""

from __future__ import annotations

import math

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
