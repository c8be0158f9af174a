"""A rich progress bar per dataset (on stderr): done/total, throughput and ETA.

One unit of work is one example through one extractor, so a dataset evaluated with two
extractors counts each example twice; the throughput column reads examples per second.
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class ThroughputColumn(ProgressColumn):
    """Examples per second over rich's recent-speed window."""

    def render(self, task: Task) -> Text:
        speed = task.speed
        return Text("  -- ex/s" if speed is None else f"{speed:6.2f} ex/s", style="cyan")


class EvalProgress:
    """Context manager; ``start`` a bar per dataset, ``advance`` it per batch.

    With ``enabled=False`` every call is a no-op (library use, tests).
    """

    def __init__(self, *, enabled: bool = True, console: Console | None = None) -> None:
        self._progress: Progress | None = None
        if enabled:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                ThroughputColumn(),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=console or Console(stderr=True),
                speed_estimate_period=60.0,
            )
        self._task: TaskID | None = None
        self._dataset = ""

    def __enter__(self) -> EvalProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def start(self, dataset: str, *, total: int, done: int) -> None:
        """A new bar for ``dataset``: ``total`` units, ``done`` already stored."""
        self._dataset = dataset
        if self._progress is not None:
            # work already stored shows as done; rich measures speed from advances only.
            self._task = self._progress.add_task(dataset, total=total, completed=done)

    def describe(self, what: str) -> None:
        """Show what runs now (``mmlu · choice``)."""
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, description=f"{self._dataset} · {what}")

    def advance(self, n: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, n)
