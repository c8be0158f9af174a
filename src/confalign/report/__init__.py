"""Reports of a run, or of several runs side by side: ``metrics.json``, ``report.md`` and a
self-contained ``report.html`` (inline CSS, figures as ``data:`` URIs, no network reference).

    from confalign.report import ReportOptions, write_report, write_comparison

    report, files = write_report("runs/demo")             # -> runs/demo/report/
    report.data["datasets"]["mmlu_offline"]["methods"]["choice"]["metrics"]["ece"]
    comparison, files = write_comparison(["runs/base", "runs/dca"], "comparison")

Compute and rendering are apart: ``compute_report`` turns stored rows into one structure (the
JSON), and the Markdown and HTML are rendered from it and from the figures drawn on the same
arrays. Every number comes from ``confalign.metrics``.
"""

from confalign.report.alignment import PairArrays
from confalign.report.compare import compare_reports, write_comparison
from confalign.report.compute import REPORT_FORMAT, MethodArrays, RunReport, compute_report
from confalign.report.estimates import ReportOptions
from confalign.report.tables import summary_lines
from confalign.report.write import ReportFiles, build_report, load_run, write_report

__all__ = [
    "REPORT_FORMAT",
    "MethodArrays",
    "PairArrays",
    "ReportFiles",
    "ReportOptions",
    "RunReport",
    "build_report",
    "compare_reports",
    "compute_report",
    "load_run",
    "summary_lines",
    "write_comparison",
    "write_report",
]
