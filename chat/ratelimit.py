"""Token buckets per socket, for the frames that fan out to every agent of a space.

``typing`` and ``track`` (hints, never stored) and the frames that describe the visitor
(``context``, ``identify``, ``contact``, ``attributes``) each reach every agent socket of a
space: a client sending them in a loop would turn one socket into load on every agent.
Browsers send them a few times a minute, so each socket has two generous allowances, one
for the hints and one for the profile (a page that tracks every scroll cannot use up what
its contact form needs): ``rate`` a second on average, ``burst`` in a row. Beyond it a
``typing`` is dropped (nothing to resend) and the others are answered ``rate_limited``,
retryable. Not limited here: messages (stored, acked, bounded by the body limit) and read
receipts (they fan out only when the reader's seq moves, so at most once per message).
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["TokenBucket"]


class TokenBucket:
    __slots__ = ("_at", "_clock", "_tokens", "burst", "rate")

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._clock = clock
        self._tokens = float(self.burst)
        self._at = clock()

    def take(self) -> bool:
        """Whether one more frame may go now; a rate of 0 or less never limits."""
        if self.rate <= 0:
            return True
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
