"""Files and folders that a kill (SIGKILL, power loss) leaves either as they were or complete,
and that a rerun loads only when they are whole.

- ``atomic_write(path, data)``: a temporary sibling, fsync, ``os.replace``, fsync of the folder.
- ``atomic_dir(path)``: a temporary folder filled, then renamed into place.
- ``write_checked`` / ``read_checked``: a cache a rerun loads, with a ``<name>.sha256`` sidecar
  (``sha256sum -c`` reads it): a cut-short JSONL still parses, a checksum does not match. A
  missing or mismatching checksum is said in one line and the caller recomputes the file.
- ``seal_dir`` / ``seal_problem``: a folder that other code writes in place, file by file (the
  Trainer's checkpoints), counts as complete once sealed: its files fsynced, then a record of
  each file's size and SHA-256 written last.
- ``jsonl_appender``: an append-only JSONL log; a last line a kill cut short is dropped first.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from confalign.runs.errors import RunWriteError
from confalign.runs.outdir import reason, writing

SEAL = "complete.json"
_CHUNK = 1 << 20


def notice(line: str) -> None:
    """Say one line on stderr (a file recomputed, a checkpoint set aside)."""
    print(line, file=sys.stderr, flush=True)


def atomic_write(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """Write ``data`` (text is UTF-8) to ``path`` through a temporary sibling, flushed to disk,
    then renamed over ``path``: a failure leaves the previous file (or none) and no temporary,
    and raises ``RunWriteError`` naming ``path``."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        with tmp.open("wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except OSError as exc:
        with suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise RunWriteError(
            f"cannot write {target}: {reason(exc)} (the file on disk is unchanged)"
        ) from None
    return target


@contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary sibling folder to fill; on success it is fsynced and replaces ``path``
    (a previous folder is removed only after the new one is in place). On failure the temporary
    folder is removed, ``path`` is unchanged, and an ``OSError`` becomes a ``RunWriteError``."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    old = target.with_name(f".{target.name}.old")
    try:
        with writing(target):
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            yield tmp
            _fsync_tree(tmp)
            shutil.rmtree(old, ignore_errors=True)
            if target.exists():
                os.replace(target, old)
            os.replace(tmp, target)
            _fsync_dir(target.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not target.exists():
            os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def checksum_path(path: str | os.PathLike[str]) -> Path:
    """The checksum sidecar of ``path``: ``<name>.sha256`` beside it."""
    target = Path(path)
    return target.with_name(f"{target.name}.sha256")


def write_checked(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """``atomic_write`` ``data``, then its checksum sidecar (a kill between the two leaves a
    mismatch, so the file is recomputed, never trusted)."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    target = atomic_write(path, payload)
    atomic_write(checksum_path(target), f"{hashlib.sha256(payload).hexdigest()}  {target.name}\n")
    return target


def read_checked(path: str | os.PathLike[str]) -> bytes | None:
    """The bytes of a ``write_checked`` file; None when it is absent, or damaged (no checksum,
    a checksum that does not match, unreadable): then one line says it is recomputed."""
    target = Path(path)
    if not target.exists():
        return None
    sidecar = checksum_path(target)
    try:
        data = target.read_bytes()
        recorded = sidecar.read_text().split()[:1] if sidecar.exists() else None
    except (OSError, UnicodeDecodeError) as exc:
        why = f"unreadable ({exc})"
    else:
        if recorded is None:
            why = f"no {sidecar.name} (cut short, or written by an older confalign)"
        elif recorded != [hashlib.sha256(data).hexdigest()]:
            why = f"does not match {sidecar.name} (cut short or changed)"
        else:
            return data
    notice(f"{target}: {why}; recomputing it")
    return None


def seal_dir(folder: str | os.PathLike[str]) -> Path:
    """Seal a filled ``folder``: fsync its files, then write ``SEAL`` (each file's size and
    SHA-256) atomically, last. Returns the seal's path."""
    root = Path(folder)
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path != root / SEAL:
            files[path.relative_to(root).as_posix()] = {
                "size": path.stat().st_size,
                "sha256": _file_digest(path, sync=True),
            }
    _fsync_tree(root, files=False)
    return atomic_write(root / SEAL, json.dumps({"files": files}, indent=1) + "\n")


def seal_problem(folder: str | os.PathLike[str]) -> str | None:
    """Why ``folder`` is not a complete sealed folder (no seal, a file missing or changed since
    sealing), or None when it is."""
    root = Path(folder)
    try:
        listed = json.loads((root / SEAL).read_text())["files"]
        expected = {name: (int(m["size"]), str(m["sha256"])) for name, m in listed.items()}
    except FileNotFoundError:
        return f"no {SEAL}: it was being written"
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return f"{SEAL} is unreadable"
    for name, (size, digest) in expected.items():
        path = root / name
        try:
            if path.stat().st_size != size or _file_digest(path) != digest:
                return f"{name} differs from {SEAL}"
        except OSError:
            return f"{name} is missing"
    return None


@contextmanager
def jsonl_appender(path: str | os.PathLike[str]) -> Iterator[Callable[[str], None]]:
    """Yield ``append(line)``, which appends one JSON line to ``path`` and syncs it to disk.
    A last line a kill cut short (it does not parse) is dropped first, in one line said; a
    whole last line without its newline gets the newline, so the next record starts afresh."""
    target = Path(path)
    _mend_tail(target)
    with target.open("a", encoding="utf-8") as fh:

        def append(line: str) -> None:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())

        yield append


def _mend_tail(path: Path) -> None:
    if not path.exists():
        return
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return
    start = data.rfind(b"\n") + 1
    try:
        json.loads(data[start:])
    except ValueError:
        with path.open("r+b") as fh:
            fh.truncate(start)
        notice(
            f"{path}: dropped its last line, cut short by a kill ({len(data) - start} bytes); "
            "that record is recomputed"
        )
        return
    with path.open("ab") as fh:
        fh.write(b"\n")


def _file_digest(path: Path, *, sync: bool = False) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
        if sync:
            os.fsync(fh.fileno())
    return digest.hexdigest()


def _fsync_tree(root: Path, *, files: bool = True) -> None:
    """fsync every file (with ``files``) and folder under ``root``, ``root`` included."""
    for path in root.rglob("*"):
        if path.is_dir():
            _fsync_dir(path)
        elif files and path.is_file():
            with path.open("rb") as fh:
                os.fsync(fh.fileno())
    _fsync_dir(root)


def _fsync_dir(folder: Path) -> None:
    # A rename is durable once its folder is synced; some file systems refuse (best effort).
    with suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
