"""Seeds and orderings that are the same in every Python process (never ``hash()``)."""

from __future__ import annotations

import hashlib
import random


def stable_hash(*parts: object) -> int:
    """A 64-bit integer from the SHA-256 of ``parts`` (joined by a unit separator)."""
    data = "\x1f".join(str(p) for p in parts).encode("utf-8")
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "big")


def stable_rng(*parts: object) -> random.Random:
    """A ``random.Random`` seeded by ``stable_hash(*parts)``."""
    return random.Random(stable_hash(*parts))
