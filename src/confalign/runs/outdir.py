"""Output directories that a command fills and a rerun of the same command resumes.

Checked before any work starts (no side effects, so a config can call it before a model
loads), created with a write probe, written atomically, every failure one line naming the
path. The run store uses these for ``confalign eval``; ``confalign train`` uses them for its
checkpoints, pairs and adapter (whole files and folders: ``confalign.runs.atomic``)::

    resuming = check_output_dir(out, marker="manifest.json")  # config time; OutputDirError
    ...load the model...
    make_output_dir(out)                     # creates it; proves it writable
    with writing(out / "checkpoint-100"):    # OSError -> RunWriteError naming the path
        trainer.save_state()
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

from confalign.runs.errors import OutputDirError, RunWriteError

PROBE_NAME = ".write-test"
_SHOWN = 3  # foreign entries named in a message


def check_output_dir(
    path: str | os.PathLike[str],
    *,
    marker: str,
    ignore: Collection[str] = (),
    kind: str = "output directory",
) -> bool:
    """Whether ``path`` can be written as an output directory; True when it holds a previous
    run to resume (its ``marker`` file exists), False when it is new or empty.

    Raises ``OutputDirError`` (naming the path) when ``path`` is not a directory, is not
    writable, or holds entries other than ``marker`` and ``ignore`` without holding ``marker``
    (someone else's files). ``kind`` names the directory in messages (``run directory``).
    Creates and modifies nothing.
    """
    root = Path(path)
    if root.exists() and not root.is_dir():
        raise OutputDirError(f"output directory {root} exists and is not a directory")
    if not root.exists():
        parent = _existing_ancestor(root)
        if not parent.is_dir():
            raise OutputDirError(f"cannot write to output directory {root}: {parent} is a file")
        _check_writable(parent, root)
        return False
    if (root / marker).exists():
        _check_writable(root, root)
        return True
    # A kill while the folder was being claimed leaves only our probe or the marker's temporary
    # (``atomic_write``'s ``.NAME.tmp``): ours, so the same command goes on.
    ours = {*ignore, PROBE_NAME, f".{marker}.tmp"}
    foreign = sorted(p.name for p in root.iterdir() if p.name not in ours)
    if foreign:
        shown = ", ".join(foreign[:_SHOWN]) + (", ..." if len(foreign) > _SHOWN else "")
        raise OutputDirError(
            f"{root} is not a confalign {kind}: it holds files confalign did not write "
            f"({shown}) and no {marker}; choose another directory or empty this one"
        )
    _check_writable(root, root)
    return False


def make_output_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` (and its parents) and prove it writable by creating and removing a
    probe file; raises ``OutputDirError`` naming the path and the reason."""
    root = Path(path)
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / PROBE_NAME
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputDirError(f"cannot write to output directory {root}: {reason(exc)}") from None
    return root


@contextmanager
def writing(
    path: str | os.PathLike[str], *, also: tuple[type[Exception], ...] = ()
) -> Iterator[None]:
    """Turn an ``OSError`` raised inside (disk full, permission denied, directory removed) into
    a one-line ``RunWriteError`` naming the file (``path`` when the error names none).

    ``also``: further exception types that mean a failed write here, e.g. ``RuntimeError``
    around ``torch.save``, which reports a full disk as ``RuntimeError(... file write failed)``.
    """
    try:
        yield
    except OSError as exc:
        where = exc.filename if exc.filename else os.fspath(path)
        raise RunWriteError(f"cannot write {where}: {reason(exc)}") from None
    except also as exc:
        text = " ".join(str(exc).split()) or type(exc).__name__
        raise RunWriteError(f"cannot write {os.fspath(path)}: {text}") from None


def reason(exc: OSError) -> str:
    """An ``OSError``'s reason without the path: ``No space left on device``."""
    return exc.strerror or str(exc) or type(exc).__name__


def _existing_ancestor(path: Path) -> Path:
    for parent in path.absolute().parents:
        if parent.exists():
            return parent
    return Path(path.absolute().anchor)


def _check_writable(directory: Path, root: Path) -> None:
    # os.access is advisory (root passes it, a read-only mount may not be seen):
    # make_output_dir's probe is the real test when work starts.
    if not os.access(directory, os.W_OK | os.X_OK):
        where = "" if directory == root else f" ({directory} is not writable)"
        raise OutputDirError(f"cannot write to output directory {root}: permission denied{where}")
