"""Capped exponential back-off with full jitter, shared by the outbox relay and the email drain.

After the ``attempt``-th failure (0 for the first) the next try waits
``uniform(0, min(cap, base * 2**attempt))`` seconds. Full jitter, rather than a fixed doubling,
spreads the retries of many messages that failed together (a provider outage) over the whole
window instead of sending them back in one burst at the same instants.
"""

from __future__ import annotations

import random
from typing import Final, Protocol

# 2**60 times any sane base is far beyond any cap; the clamp only keeps the float finite.
_MAX_EXPONENT: Final = 60


class Uniform(Protocol):
    """The one method of ``random.Random`` the back-off needs (tests inject a recording one)."""

    def uniform(self, a: float, b: float) -> float: ...


def ceiling(attempt: int, *, base: float, cap: float) -> float:
    """The largest delay the ``attempt``-th failure may wait: ``min(cap, base * 2**attempt)``."""
    return min(cap, base * float(1 << min(max(attempt, 0), _MAX_EXPONENT)))


def full_jitter(attempt: int, *, base: float, cap: float, rng: Uniform) -> float:
    return rng.uniform(0.0, ceiling(attempt, base=base, cap=cap))


def default_rng() -> Uniform:
    """Jitter only spreads load; it protects no secret, but SystemRandom costs nothing here."""
    return random.SystemRandom()
