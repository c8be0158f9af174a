"""Stop an evaluation cleanly: the first Ctrl-C (SIGINT) or SIGTERM asks the pipeline to stop
after the batch in flight, which is then written; a second Ctrl-C aborts at once (the batch in
flight is lost, everything committed before it is kept)."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType


class EvalInterrupted(Exception):
    """The evaluation stopped on request after a completed batch; the run can be resumed."""

    def __init__(self, run_dir: Path, stored: int) -> None:
        self.run_dir, self.stored = run_dir, stored
        super().__init__(
            f"interrupted: {stored} results are stored in {run_dir}; "
            "run the same command again (same --output) to resume"
        )


class StopRequest:
    """Set by the signal handler; the pipeline checks ``requested`` between batches."""

    def __init__(self) -> None:
        self.requested = False
        self.signal_name = ""


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """Install SIGINT/SIGTERM handlers for the duration (main thread only; elsewhere a no-op)."""
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.requested = True
        stop.signal_name = signal.Signals(signum).name
        print(
            f"\n{stop.signal_name}: stopping after the current batch "
            "(press Ctrl-C again to abort it)",
            file=sys.stderr,
            flush=True,
        )

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
