"""Checkpoints a kill cannot spoil. The Trainer writes ``checkpoint-N`` in place, file by file;
once every process has written its part, the main process seals it (``runs.atomic.seal_dir``)
and only then removes older ones, keeping ``keep``. A run resumes from the newest checkpoint
whose seal holds; a newer one that does not (a kill while it was written) is set aside, renamed
``checkpoint-N.incomplete-K`` and never deleted, with one line naming it.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from confalign.runs import notice, seal_problem
from confalign.runs.atomic import SEAL

NAME = re.compile(r"^checkpoint-(\d+)$")  # transformers' PREFIX_CHECKPOINT_DIR-<global step>
_DOOMED = ".deleting"


def checkpoint_dirs(folder: Path) -> list[Path]:
    """The ``checkpoint-N`` folders in ``folder``, newest (largest N) first."""
    if not folder.is_dir():
        return []
    found = [(int(m[1]), p) for p in folder.iterdir() if (m := NAME.match(p.name)) and p.is_dir()]
    return [p for _, p in sorted(found, reverse=True)]


def resume_point(folder: Path, *, main: bool) -> str | None:
    """The newest complete checkpoint in ``folder`` (None: start from the first step). On the
    main process each incomplete one newer than it, and any unsealed older one, is set aside
    with one line; leftovers of an interrupted removal are cleared."""
    chosen: Path | None = None
    incomplete: list[tuple[Path, str]] = []
    for path in checkpoint_dirs(folder):
        if chosen is None:
            why = seal_problem(path)
        else:  # older than the one resumed from: only what was never sealed is set aside
            why = None if (path / SEAL).exists() else f"no {SEAL}: it was being written"
        if why is None:
            chosen = chosen or path
        else:
            incomplete.append((path, why))
    if main:
        start = f"resuming from {chosen.name}" if chosen else "starting from the first step"
        for path, why in incomplete:
            aside = _set_aside(path)
            notice(f"{path} is incomplete ({why}): set aside as {aside.name}; {start}")
        for doomed in folder.glob(f".*{_DOOMED}"):
            shutil.rmtree(doomed, ignore_errors=True)
    return str(chosen) if chosen else None


def rotate(folder: Path, keep: int | None) -> None:
    """Remove sealed checkpoints beyond the newest ``keep`` (None or < 1: keep all). Each is
    renamed before removal, so a kill mid-removal leaves no half checkpoint under its name."""
    if keep is None or keep < 1:
        return
    sealed = [p for p in checkpoint_dirs(folder) if (p / SEAL).exists()]
    for old in sealed[keep:]:
        doomed = old.with_name(f".{old.name}{_DOOMED}")
        os.replace(old, doomed)
        shutil.rmtree(doomed)


def _set_aside(path: Path) -> Path:
    n = 1
    while (aside := path.with_name(f"{path.name}.incomplete-{n}")).exists():
        n += 1
    os.replace(path, aside)
    return aside
