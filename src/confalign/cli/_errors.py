"""One place that turns a user's mistake into one line on stderr and exit code 2.

Bad input (a malformed dataset row, an unknown name, an unwritable folder, a run directory
made by another configuration, a backend that cannot do what was asked) raises one of
``USER_ERRORS`` somewhere below the CLI; a command wraps its work in ``user_errors()`` and the
user sees ``error: <message>`` and no traceback. Set ``CONFALIGN_TRACEBACK=1`` to see the
traceback instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn, TypeVar

import typer

from confalign.backends.base import CapabilityError
from confalign.backends.default_model import DefaultModelMissingError

T = TypeVar("T")
USER_ERROR_EXIT = 2
INTERRUPTED_EXIT = 130  # the shell's code for a process stopped by SIGINT
USER_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,  # configs, DataError, RunStoreError and ConfigMismatchError derive from it
    KeyError,  # registries: unknown name
    OSError,  # missing files, permissions
    CapabilityError,  # a backend that cannot serve a method or mode
    DefaultModelMissingError,  # the embedded model's package is not installed
)


def one_line(exc: BaseException | str) -> str:
    """The error's message on one line (a KeyError's message without its quotes)."""
    if isinstance(exc, KeyError) and exc.args:
        text = str(exc.args[0])
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def fail(message: BaseException | str, code: int = USER_ERROR_EXIT) -> NoReturn:
    """Print ``error: <message>`` on stderr and exit with ``code``."""
    typer.echo(f"error: {one_line(message)}", err=True)
    raise typer.Exit(code)


@contextmanager
def user_errors(*more: type[BaseException]) -> Iterator[None]:
    """Exit 2 with a one-line message on ``USER_ERRORS`` (and ``more``) raised inside."""
    try:
        yield
    except (*USER_ERRORS, *more) as exc:
        if os.environ.get("CONFALIGN_TRACEBACK"):
            raise
        fail(exc)


def interruptible(run: Callable[[], T], output: Path | str) -> T:
    """``run()`` of a long command that stores as it goes; on Ctrl-C/SIGTERM (in training,
    or in an evaluation step, which stops after its current batch) one line naming what is
    kept and exit code 130."""
    from confalign.evaluate import EvalInterrupted

    try:
        return run()
    except (KeyboardInterrupt, EvalInterrupted):
        typer.echo(
            f"interrupted: everything stored in {output} is kept; the same command continues "
            "from there (the last checkpoint, the last stored batch)",
            err=True,
        )
        raise typer.Exit(INTERRUPTED_EXIT) from None
