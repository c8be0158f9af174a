"""What ``confalign datasets list`` and ``show`` print, as plain text lines."""

from __future__ import annotations

from dataclasses import dataclass

from confalign.data.benchmarks import BENCHMARKS
from confalign.data.example import LETTERS, QAExample
from confalign.data.rows import LoadResult


@dataclass(frozen=True)
class BenchmarkInfo:
    name: str
    hub: str
    offline: str
    size: str
    splits: str
    description: str
    needs_network: bool


def benchmark_infos() -> list[BenchmarkInfo]:
    """One row per registered benchmark (size: rows of its default split, when known)."""
    infos = []
    for name in BENCHMARKS:
        b = BENCHMARKS.get(name)
        hub = "-"
        if b.hub_id:
            hub = b.hub_id + (f" ({b.config})" if b.config else "")
        size = b.sizes.get(b.default_split)
        infos.append(
            BenchmarkInfo(
                name=name,
                hub=hub,
                offline="no: needs network" if b.needs_network else b.availability(),
                size=f"{size:,} ({b.default_split})" if size else "?",
                splits=", ".join(b.splits),
                description=b.description,
                needs_network=b.needs_network,
            )
        )
    return infos


def format_table(infos: list[BenchmarkInfo]) -> list[str]:
    """The benchmarks as an aligned text table."""
    header = ("name", "hub id (config)", "offline", "size", "splits")
    rows = [(i.name, i.hub, i.offline, i.size, i.splits) for i in infos]
    widths = [max(len(r[c]) for r in (header, *rows)) for c in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return [line(header), *(line(r) for r in rows)]


def describe_example(ex: QAExample) -> list[str]:
    """One example as text lines: id and subject, question, options (gold marked) or answers."""
    lines = [f"[{ex.id}]" + (f"  subject: {ex.subject}" if ex.subject else "")]
    lines += [f"  {q}" for q in ex.question.splitlines() or [""]]
    if ex.is_multiple_choice:
        for i, choice in enumerate(ex.choices):
            mark = "*" if i == ex.gold else " "
            lines.append(f"  {mark} {LETTERS[i]}. {choice}")
    else:
        lines.append(f"  answer: {ex.gold_text}")
        if ex.aliases:
            shown = ", ".join(ex.aliases[:8]) + (", ..." if len(ex.aliases) > 8 else "")
            lines.append(f"  aliases: {shown}")
    return lines


def describe_load(result: LoadResult) -> list[str]:
    """A summary line of a load and each of its examples."""
    skipped = (
        f"; skipped {result.n_skipped} row(s) that are not questions" if result.skipped else ""
    )
    head = (
        f"{result.name}: {len(result.examples)} of {result.n_available:,} examples "
        f"(split {result.split or '-'}; source {result.source}){skipped}"
    )
    lines = [head]
    for ex in result.examples:
        lines += ["", *describe_example(ex)]
    return lines
