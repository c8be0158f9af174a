"""The run store's errors: all are ``ValueError``s, so the CLI shows them as one line, exit 2.

Every message names the file or directory at fault and what is wrong with it.
"""

from __future__ import annotations


class RunStoreError(ValueError):
    """A run directory cannot be used as asked (missing, not a run, in use, unwritable)."""


class DamagedRunError(RunStoreError):
    """A run directory's manifest or database is damaged, foreign or of an unknown version.

    Raised before anything in the directory is modified (no repair is attempted).
    """


class OutputDirError(RunStoreError):
    """An output directory cannot be used: not a directory, not writable, or holding files
    confalign did not write."""


class RunWriteError(RunStoreError):
    """A write into a run or output directory failed (disk full, permission revoked, the
    directory removed); what was being written was rolled back or left untouched."""
