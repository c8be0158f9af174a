"""``python kill_child.py ROOT LABEL ARGS...``: run ``confalign ARGS`` and SIGKILL it at the
kill point ``LABEL`` under ``ROOT`` (``kill_points.kill_at``): a real kill, mid-write."""

from __future__ import annotations

import sys
from pathlib import Path

from kill_points import kill_at

from confalign.cli import main

if __name__ == "__main__":
    root, label, *args = sys.argv[1:]
    sys.argv = ["confalign", *args]
    with kill_at(Path(root), label):
        main()
