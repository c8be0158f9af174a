"""peft calls that stay quiet on the pinned transformers.

peft 0.21 probes ``model.is_gradient_checkpointing`` when it wraps a model, and transformers
5.24+ deprecated that property with a FutureWarning that users would see on every training and
every ``eval --adapter``. It is peft's call, not ours, so only that one warning is silenced,
and only around the wrapping; ``tests/cli/test_no_deprecations.py`` fails on any other.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def peft_wrapping() -> Iterator[None]:
    """Silence peft's deprecated ``is_gradient_checkpointing`` probe inside the block."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning
        )
        yield
