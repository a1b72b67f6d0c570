"""When a failed delivery is tried again: the Standard Webhooks schedule. The first try goes at
once; after each failure the next waits 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, then
24 h (ten tries over about three and a half days), each within 10 % either way (jitter: the
deliveries that failed together do not all come back together), and never sooner than the
receiver's ``Retry-After`` (capped at a day). After the tenth failure it is given up. Pure.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta

__all__ = ["ATTEMPTS", "DELAYS", "JITTER", "Jitter", "next_try", "uniform"]

DELAYS = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
)
ATTEMPTS = len(DELAYS) + 1
JITTER = 0.1
MAX_RETRY_AFTER = timedelta(days=1)

Jitter = Callable[[], float]  # a number in [-1, 1]


def uniform() -> float:
    return random.uniform(-1.0, 1.0)


def next_try(
    attempts: int,
    now: datetime,
    retry_after: float | None = None,
    jitter: Jitter = uniform,
) -> datetime | None:
    """When to try again after ``attempts`` tries failed (None: give up)."""
    if attempts >= ATTEMPTS:
        return None
    delay = DELAYS[attempts - 1] * (1 + JITTER * max(-1.0, min(1.0, jitter())))
    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(timedelta(seconds=retry_after), MAX_RETRY_AFTER))
    return now + delay
