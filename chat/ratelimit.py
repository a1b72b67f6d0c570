"""Rate limits: token buckets per socket, and limits per address or per visitor shared by
every node.

**Per socket** (``TokenBucket``, in memory: a socket lives on one node). ``typing`` and
``track`` (hints, never stored) and the frames that describe the visitor (``context``,
``identify``, ``contact``, ``attributes``) each reach every agent socket of a space, so each
socket has two generous allowances, one for the hints and one for the profile (a page that
tracks every scroll cannot use up what its contact form needs). Beyond it a ``typing`` is
dropped (nothing to resend) and the others are answered ``rate_limited``, retryable. A
visitor socket also has an allowance of messages: a flood is answered ``rate_limited`` and
nothing is stored. Read receipts are not limited: they fan out only when the reader's seq
moves, so at most once per message.

**Shared** (``Limits``): what strangers can do without an account, counted per client
address (visitor tokens, new conversations, sign-in attempts) or per visitor (new
conversations). With Redis configured the counts live there, so that every node and worker
counts the same requests; else in this process. Each limit is a generic cell rate algorithm
(GCRA): ``rate`` per second on average, ``burst`` in a row, one number (the next allowed
time) per key, so memory stays small whatever the traffic. Redis keys hold a keyed hash of
the address, never the address, and expire once the bucket is full again. If Redis fails,
the limits fall back to this process's counts rather than refusing or waving everyone
through.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from chat.errors import RateLimited
from chat.logging import get_logger

__all__ = [
    "LIMITS",
    "Limiter",
    "Limits",
    "MemoryLimiter",
    "Rate",
    "RedisLimiter",
    "SocketLimits",
    "TokenBucket",
]

log = get_logger("causette.ratelimit")


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

    def wait(self) -> float:
        """Seconds until the next frame would pass."""
        return 0.0 if self.rate <= 0 else max(0.0, (1 - self._tokens) / self.rate)


@dataclass(frozen=True, slots=True)
class SocketLimits:
    """One socket's allowances: ``hints`` (typing, track), ``profile`` (context, identify,
    contact, attributes) and, on a visitor's socket, ``messages``."""

    hints: TokenBucket
    profile: TokenBucket
    messages: TokenBucket

    @classmethod
    def none(cls) -> SocketLimits:
        return cls(TokenBucket(0, 1), TokenBucket(0, 1), TokenBucket(0, 1))


_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*([a-z]+)\s*(?:,\s*(\d+)\s*)?$")


@dataclass(frozen=True, slots=True)
class Rate:
    """``count`` per ``seconds`` on average, ``burst`` in a row; written ``60/min,120``
    (``60/min`` alone: a burst of 60). A count of 0 means no limit."""

    count: float
    seconds: float
    burst: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        if text.strip().lower() in ("0", "off", "none"):
            return cls(0, 1, 1)
        match = _RATE.match(text.lower())
        if match is None or match.group(2) not in _UNITS:
            raise ValueError(
                f"{text!r} is not a rate: write COUNT/UNIT[,BURST] such as 60/min,120 "
                "(units s, min, hour), or 0 for no limit"
            )
        count = float(match.group(1))
        burst = int(match.group(3)) if match.group(3) else max(1, math.ceil(count))
        return cls(count, float(_UNITS[match.group(2)]), max(1, burst))

    @property
    def off(self) -> bool:
        return self.count <= 0

    @property
    def interval(self) -> float:
        """Seconds between two requests at the average rate."""
        return self.seconds / self.count


class Limiter(Protocol):
    async def take(self, key: str, rate: Rate) -> float:
        """Count one request under ``key``: 0 if it may go, else the seconds to wait."""
        ...

    async def close(self) -> None: ...

    async def forget(self, key: str) -> None:
        """Drop ``key``'s count (an erased visitor's)."""
        ...


class MemoryLimiter:
    """Every key's next allowed time, in this process. Keys whose bucket is full again are
    forgotten once there are many."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000):
        self._tat: dict[str, float] = {}
        self._clock = clock
        self._max_keys = max_keys

    async def forget(self, key: str) -> None:
        self._tat.pop(key, None)

    async def take(self, key: str, rate: Rate) -> float:
        return self.take_now(key, rate)

    def take_now(self, key: str, rate: Rate) -> float:
        if rate.off:
            return 0.0
        now = self._clock()
        tat = max(self._tat.get(key, now), now) + rate.interval
        wait = tat - now - rate.burst * rate.interval
        if wait > 1e-6:  # not > 0: (now + interval) - now is not interval in floating point
            return wait
        if len(self._tat) >= self._max_keys and key not in self._tat:
            self._forget_idle(now)
        self._tat[key] = tat
        return 0.0

    def _forget_idle(self, now: float) -> None:
        for k in [k for k, t in self._tat.items() if t <= now]:
            del self._tat[k]
        if len(self._tat) >= self._max_keys:  # all busy: forget the oldest half
            for k in sorted(self._tat, key=self._tat.__getitem__)[: self._max_keys // 2]:
                del self._tat[k]

    async def close(self) -> None:
        self._tat.clear()


# GCRA in one round trip; Redis's own clock, so every node agrees. Times in microseconds.
_GCRA = """
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new = tat + interval
local wait = new - now - burst * interval
if wait > 0 then return math.ceil(wait) end
redis.call('SET', KEYS[1], string.format('%d', new), 'PX', math.ceil((new - now) / 1000) + 1000)
return 0
"""


class RedisLimiter:
    """The counts in Redis, shared by every node; this process's own if Redis fails."""

    def __init__(self, url: str, *, prefix: str, secret: str) -> None:
        import redis.asyncio as redis

        self._redis: Any = redis.from_url(
            url, socket_timeout=0.5, socket_connect_timeout=0.5, health_check_interval=30
        )
        self._script = self._redis.register_script(_GCRA)
        self._prefix = f"{prefix}rl:"
        self._salt = hashlib.sha256(f"causette.ratelimit.v1:{secret}".encode()).digest()
        self._fallback = MemoryLimiter()
        self._warned_at = -math.inf

    def _key(self, key: str) -> str:
        digest = hashlib.blake2b(key.encode(), key=self._salt[:32], digest_size=12).hexdigest()
        return f"{self._prefix}{digest}"

    async def take(self, key: str, rate: Rate) -> float:
        if rate.off:
            return 0.0
        try:
            wait_us = await self._script(
                keys=[self._key(key)], args=[round(rate.interval * 1e6), rate.burst]
            )
        except Exception as exc:  # Redis away or failing: count here meanwhile
            now = time.monotonic()
            if now - self._warned_at > 60:
                self._warned_at = now
                log.warning("rate_limit_store_unavailable", error=type(exc).__name__)
            return self._fallback.take_now(key, rate)
        return int(wait_us) / 1e6

    async def forget(self, key: str) -> None:
        await self._fallback.forget(key)
        try:
            await self._redis.delete(self._key(key))
        except Exception as exc:  # the key expires on its own within the hour
            log.warning("rate_limit_forget_failed", error=type(exc).__name__)

    async def close(self) -> None:
        await self._redis.aclose()


LIMITS = {  # name: what is counted; its rate is the setting CAUSETTE_LIMIT_<NAME>
    "visitor_tokens": "new visitor tokens (POST /api/visitors) per client address",
    "conversations_per_ip": "new conversations per client address",
    "conversations_per_visitor": "new conversations per visitor",
    "sign_ins": "sign-in attempts (console and API) per client address",
    "agent_email_taken": "new agents refused for an email already taken, per admin",
}


class Limits:
    """The shared limits, by name (see LIMITS); ``check`` raises RateLimited when one is hit."""

    def __init__(self, limiter: Limiter, rates: dict[str, Rate], *, enabled: bool) -> None:
        self.limiter = limiter
        self.rates = rates
        self.enabled = enabled

    async def check(self, name: str, key: str) -> None:
        rate = self.rates[name]
        if not self.enabled or rate.off:
            return
        wait = await self.limiter.take(f"{name}:{key}", rate)
        if wait > 0:
            raise RateLimited(
                f"Too many requests; try again in {math.ceil(wait)} s.", retry_after=wait
            )

    async def forget_visitor(self, visitor_id: str) -> None:
        """What is counted of a visitor (its erasure leaves nothing of it in Redis)."""
        for name in LIMITS:
            if name.endswith("_per_visitor"):
                await self.limiter.forget(f"{name}:{visitor_id}")

    async def close(self) -> None:
        await self.limiter.close()
