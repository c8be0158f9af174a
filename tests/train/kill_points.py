"""Every state a kill can leave a run folder in, recorded from one uninterrupted run.

``record(root, store)`` patches the writers (``open`` for writing, ``torch.save``, safetensors'
``save_file``, ``os.replace``/``os.rename``) for paths under ``root``; at each of them it copies
``root`` into ``store``: before every write and rename (a kill between two operations, so also
after the previous one) and during every write (the copy holds that file cut to half its bytes:
a kill mid-write). What a SIGKILL at that moment leaves on disk is exactly that copy, so
restoring one and running the same command again is a kill and a restart. Imported by name.

``kill_child.py`` does it for real: a child process that SIGKILLs itself mid-write.
"""

from __future__ import annotations

import builtins
import os
import shutil
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class KillPoint:
    """``label``: ``before|during <operation> <path under root>``; ``state``: the folder."""

    label: str
    state: Path

    @property
    def path(self) -> str:
        return self.label.split(" ", 2)[2]


Act = Callable[[str, "Path | None"], None]  # (label, the file cut mid-write or None)


class _Recorder:
    def __init__(self, root: Path, act: Act) -> None:
        self.root, self.act = root.resolve(), act
        self.busy = False  # acting: its own opens are not events
        self.active = True
        self.pending: Path | None = None  # opened for writing, cut at the next event

    def under(self, target: Any) -> Path | None:
        if not isinstance(target, str | os.PathLike):
            return None
        path = Path(os.fspath(target)).absolute()
        return path if path.is_relative_to(self.root) else None

    def point(self, label: str, cut: Path | None = None) -> None:
        self.busy = True
        try:
            self.act(label, cut)
        finally:
            self.busy = False

    def before(self, what: str, path: Path) -> None:
        self.flush()
        self.point(f"before {what} {path.relative_to(self.root)}")

    def during(self, what: str, path: Path) -> None:
        self.point(f"during {what} {path.relative_to(self.root)}", cut=path)

    def flush(self) -> None:
        """The file last opened for writing is closed by now: a kill mid-write of it."""
        if self.pending is not None:
            path, self.pending = self.pending, None
            self.during("write", path)


def _wrap_open(rec: _Recorder, real: Callable[..., Any]) -> Callable[..., Any]:
    def patched(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        writes = rec.active and not rec.busy and bool(set(mode) & set("wax+"))
        path = rec.under(file) if writes else None
        if path is not None:
            rec.before("write", path)
        fh = real(file, mode, *args, **kwargs)
        if path is not None:
            rec.pending = path
        return fh

    return patched


def _wrap_save(rec: _Recorder, real: Callable[..., Any]) -> Callable[..., Any]:
    """``torch.save(obj, f)``, safetensors' ``save_file(tensors, f)``: the file is argument 1."""

    def patched(*args: Any, **kwargs: Any) -> Any:
        path = rec.under(args[1]) if rec.active and not rec.busy and len(args) > 1 else None
        if path is not None:
            rec.before("write", path)
        out = real(*args, **kwargs)
        if path is not None:
            rec.during("write", path)
        return out

    return patched


def _wrap_rename(rec: _Recorder, real: Callable[..., Any]) -> Callable[..., Any]:
    def patched(src: Any, dst: Any, *args: Any, **kwargs: Any) -> Any:
        path = rec.under(src) if rec.active and not rec.busy else None
        if path is not None:
            rec.before("rename", path)
        return real(src, dst, *args, **kwargs)

    return patched


def _rebind(swaps: dict[int, Any]) -> None:
    """In every loaded module, replace each object whose id is a key by its value (a module's
    ``from x import f`` holds its own reference; modules imported meanwhile are covered)."""
    for module in list(sys.modules.values()):
        try:
            found = [(k, v) for k, v in vars(module).items() if id(v) in swaps]
        except TypeError:
            continue
        for name, value in found:
            setattr(module, name, swaps[id(value)])


@contextmanager
def patched_writers(root: Path, act: Act) -> Iterator[None]:
    """Call ``act`` at every kill point under ``root`` while inside."""
    import safetensors.torch
    import torch

    rec = _Recorder(root, act)
    save_file = safetensors.torch.save_file
    originals = [builtins.open, torch.save, save_file, os.replace, os.rename]
    wrapped = [
        _wrap_open(rec, builtins.open),  # also io.open and pathlib's opens: the same object
        _wrap_save(rec, torch.save),
        _wrap_save(rec, save_file),
        _wrap_rename(rec, os.replace),
        _wrap_rename(rec, os.rename),
    ]
    _rebind({id(o): w for o, w in zip(originals, wrapped, strict=True)})
    try:
        yield
        rec.flush()
    finally:
        rec.active = False
        _rebind({id(w): o for o, w in zip(originals, wrapped, strict=True)})


@contextmanager
def record(root: Path, store: Path) -> Iterator[list[KillPoint]]:
    """While inside, copy ``root`` into ``store`` at every kill point; the list fills with them."""
    points: list[KillPoint] = []

    def snapshot(label: str, cut: Path | None) -> None:
        if not root.exists():
            return  # a kill before the folder exists: a fresh run
        repeats = sum(p.label == label or p.label.startswith(f"{label} #") for p in points)
        label = f"{label} #{repeats + 1}" if repeats else label  # the same file written again
        state = store / f"{len(points):04d}"
        shutil.copytree(root, state, symlinks=True)
        if cut is not None and (half := state / cut.relative_to(root.resolve())).is_file():
            os.truncate(half, half.stat().st_size // 2)
        points.append(KillPoint(label, state))

    with patched_writers(root, snapshot):
        yield points


def kill_at(root: Path, label: str) -> Any:
    """Patched writers that SIGKILL this process at the kill point ``label`` (mid-write: with
    the file cut to half its bytes first)."""

    def kill(at: str, cut: Path | None) -> None:
        if at == label:
            if cut is not None:
                os.truncate(cut, cut.stat().st_size // 2)
            os.kill(os.getpid(), signal.SIGKILL)

    return patched_writers(root, kill)


def restore(point: KillPoint, root: Path) -> None:
    """Put the folder a kill at ``point`` left back in place of ``root``."""
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(point.state, root, symlinks=True)
