"""Random ids in the UUID4 text form, made cheaply (message and task ids on the hot path)."""

from __future__ import annotations

import random

__all__ = ["fast_uuid4"]

_bits = random.Random().getrandbits  # seeded from os.urandom; reseeded after fork
_VERSION_MASK = ~((0xF000 << 64) | (0xC000 << 48))
_VERSION_BITS = (0x4000 << 64) | (0x8000 << 48)


def fast_uuid4() -> str:
    """A random version-4 UUID string (not for secrets: ids only), about 3x cheaper than
    ``str(uuid.uuid4())``."""
    h = ((_bits(128) & _VERSION_MASK) | _VERSION_BITS).to_bytes(16, "big").hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
