"""The cell rate algorithm on a fake clock, in memory and in a real Redis: exactly the burst
at once, then the rate, for every shape of setting."""

from __future__ import annotations

import uuid

import pytest

from chat.ratelimit import MemoryLimiter, Rate, RedisLimiter
from tests.servers import REDIS_URL

SPECS = ["1/hour", "3/min", "60/min,120", "5/s,20", "6/hour,3", "0.5/s,1"]


@pytest.mark.parametrize("spec", SPECS)
def test_a_burst_then_the_rate(spec: str) -> None:
    now = [98765.4321]  # a monotonic clock far from zero, as on a machine up for days
    limiter = MemoryLimiter(clock=lambda: now[0])
    rate = Rate.parse(spec)
    granted = sum(limiter.take_now("k", rate) == 0 for _ in range(rate.burst * 3))
    assert granted == rate.burst
    wait = limiter.take_now("k", rate)
    assert wait == pytest.approx(rate.interval, rel=1e-6)
    now[0] += rate.interval * 10  # ten intervals later: ten more (at most a burst), not eleven
    assert sum(limiter.take_now("k", rate) == 0 for _ in range(50)) == min(10, rate.burst)
    assert limiter.take_now("other key", rate) == 0


def test_rates_are_read_as_written() -> None:
    assert Rate.parse("60/min,120") == Rate(60, 60, 120)
    assert Rate.parse("5/s") == Rate(5, 1, 5)
    assert Rate.parse("0").off and Rate.parse("off").off
    for bad in ("lots", "5/fortnight", "-1/s", "5/s,", "/s"):
        with pytest.raises(ValueError, match="COUNT/UNIT"):
            Rate.parse(bad)


async def test_redis_counts_the_same_as_memory() -> None:
    limiter = RedisLimiter(REDIS_URL, prefix=f"causette-test-{uuid.uuid4().hex[:8]}:", secret="s")
    try:
        rate = Rate.parse("2/hour,4")
        waits = [await limiter.take("k", rate) for _ in range(6)]
        assert waits[:4] == [0, 0, 0, 0]
        assert all(w == pytest.approx(1800, rel=0.01) for w in waits[4:])
    finally:
        await limiter.close()
