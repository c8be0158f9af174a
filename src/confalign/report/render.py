"""Markdown and self-contained HTML from one computed report (and its figures).

Both renderers walk the same ``Page`` (sections of tables and figure ids, built by
``run_page`` or ``confalign.report.compare``); the HTML embeds every figure as a ``data:`` URI
and carries its CSS inline, so it references no file and no network resource.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from confalign.report import answer_dependence
from confalign.report import tables as T
from confalign.report.compute import RunReport
from confalign.report.figures import data_uri, figure_file
from confalign.report.grading import grading_tables
from confalign.report.templates import HTML_TEMPLATE


@dataclass
class Section:
    """A heading, a paragraph, tables, then figures (ids) with a caption."""

    title: str
    text: str = ""
    tables: list[T.Table] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    caption: str = ""
    level: int = 2
    collapsed: bool = False  # HTML: inside a closed <details>
    wide: bool = False  # HTML: figures shown at up to twice the usual width


@dataclass
class Page:
    title: str
    intro: list[str]
    sections: list[Section]


def run_page(report: RunReport, figures: Mapping[str, bytes]) -> Page:
    """The sections of a run's report, in reading order."""
    data = report.data
    info = data["metric_info"]
    run = data["run"]
    names = ", ".join(data["datasets"]) or "no data"
    page = Page(
        title=f"confalign report: {run.get('model') or 'model'} on {names}",
        intro=list(data["notes"]),
        sections=[Section("Run", tables=[T.run_table(run, data["settings"])])],
    )
    if not data["datasets"] and "answer_dependence" not in data:
        page.intro.append("The run has no stored results yet.")
    if data.get("recalibration"):
        page.sections.append(
            Section("Recalibration", tables=[T.recalibration_table(data["recalibration"])])
        )
    if data["datasets"] and data.get("grading"):
        page.sections.append(
            Section(
                "Grading",
                text="How each answer was judged right or wrong, by which rule, with examples "
                "to check by eye.",
                tables=grading_tables(data["grading"]),
                collapsed=True,
            )
        )
    for dataset, section in data["datasets"].items():
        page.sections += dataset_sections(dataset, section, info, figures)
    page.sections += answer_dependence.sections(data.get("answer_dependence"), figures)
    return page


def dataset_sections(
    dataset: str, section: Mapping[str, Any], info: Mapping[str, Any], figures: Mapping[str, bytes]
) -> list[Section]:
    """Summary, verbalized formats × modes, alignment, figures, all metrics, subjects."""
    out = [
        Section(
            f"{dataset} ({section['n_examples']} examples)",
            tables=[T.summary_table(dataset, section, info)],
        ),
        Section(
            "Reliability diagrams",
            figures=_ids(figures, f"{dataset}/reliability/"),
            caption="Accuracy against mean confidence per bin; the diagonal is perfect "
            "calibration.",
            level=3,
        ),
        Section(
            "Confidence histograms",
            figures=_ids(figures, f"{dataset}/histogram/"),
            caption="How often each confidence is given, split by correct and wrong answers.",
            level=3,
        ),
    ]
    out.append(
        Section(
            "Selective prediction",
            tables=[T.selective_table(dataset, section, info)],
            figures=_ids(figures, f"{dataset}/risk_coverage/"),
            caption="Error rate of the kept answers against the share kept, most confident "
            "first; dashed: the oracle order (every right answer first), dotted: a random "
            "order.",
            level=3,
            wide=True,
        )
    )
    verbal = T.verbalized_table(dataset, section, info)
    if verbal.rows:
        out.append(Section("Verbalized confidence: formats × modes", tables=[verbal], level=3))
        out.append(
            Section("Cv–Ci alignment", tables=[T.alignment_table(dataset, section, info)], level=3)
        )
        out.append(
            Section(
                "Cv against Ci",
                figures=_ids(figures, f"{dataset}/scatter/"),
                caption="Each point is one example: verbalized confidence (Cv) against internal "
                "confidence (Ci); the diagonal is perfect alignment.",
                level=3,
                collapsed=False,
            )
        )
    out.append(
        Section(
            "All metrics",
            tables=[T.all_metrics_table(dataset, section, info)],
            level=3,
            collapsed=True,
        )
    )
    subjects = T.subject_tables(dataset, section)
    if subjects:
        out.append(
            Section(
                "Per subject",
                text="Accuracy, mean confidence and ECE of each method per subject.",
                tables=subjects,
                level=3,
                collapsed=True,
            )
        )
    return out


def _ids(figures: Mapping[str, bytes], prefix: str) -> list[str]:
    return [k for k in figures if k.startswith(prefix)]


# ------------------------------------------------------------------------------------ markdown
def render_markdown(page: Page, *, figure_dir: str | None = "figures") -> str:
    """The page as Markdown; figures link ``<figure_dir>/<file>.png`` (none if None)."""
    lines = [f"# {page.title}", ""]
    lines += [p + "\n" for p in page.intro]
    for s in page.sections:
        lines += ["#" * s.level + f" {s.title}", ""]
        if s.text:
            lines += [s.text, ""]
        for table in s.tables:
            lines += _md_table(table, show_title=table.title != s.title)
        if s.figures and figure_dir is not None:
            if s.caption:
                lines += [s.caption, ""]
            lines += [f"![{f}]({figure_dir}/{figure_file(f)})" for f in s.figures] + [""]
    return "\n".join(lines).rstrip() + "\n"


def _md_table(table: T.Table, *, show_title: bool = True) -> list[str]:
    lines = [f"**{table.title}**", ""] if table.title and show_title else []
    lines.append("| " + " | ".join(md_escape(c) for c in table.columns) + " |")
    lines.append("|" + "---|" * len(table.columns))
    for row in table.rows:
        lines.append("| " + " | ".join(md_escape(md_cell(c)) for c in row) + " |")
    lines.append("")
    if table.note:
        lines += [f"_{table.note}_", ""]
    return lines


def md_cell(cell: T.Cell) -> str:
    """A string as is; an estimate as ``0.123 [0.101, 0.150]``; None as a dash."""
    if cell is None:
        return "—"
    if isinstance(cell, str):
        return cell
    value = T.number(cell.get("value"))
    if cell.get("low") is None or cell.get("high") is None:
        return value
    return f"{value} [{T.number(cell['low'])}, {T.number(cell['high'])}]"


def md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# ---------------------------------------------------------------------------------------- html
def render_html(page: Page, figures: Mapping[str, bytes]) -> str:
    """The page as one HTML file: inline CSS, figures as ``data:`` URIs, no script."""
    import jinja2

    env = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["cell"] = html_cell
    env.filters["align"] = cell_alignment
    template = env.from_string(HTML_TEMPLATE)
    images = {k: data_uri(v) for k, v in figures.items()}
    return template.render(page=page, images=images)


def html_cell(cell: T.Cell) -> Any:
    """A cell as escaped HTML: an estimate shows its interval in smaller type."""
    from markupsafe import Markup

    if cell is None:
        return Markup("—")
    if isinstance(cell, str):
        return Markup(html_lib.escape(cell))
    value = html_lib.escape(T.number(cell.get("value")))
    if cell.get("low") is None or cell.get("high") is None:
        return Markup(value)
    low, high = T.number(cell["low"]), T.number(cell["high"])
    return Markup(f'{value}<br><span class="ci">[{low}, {high}]</span>')


def cell_alignment(cell: T.Cell) -> str:
    """``"num"`` for numbers, rates and estimates (right-aligned), ``"txt"`` for words."""
    if cell is None or not isinstance(cell, str):
        return "num"
    return "num" if re.match(r"^[-+—]?\s*[\d.]", cell) else "txt"
