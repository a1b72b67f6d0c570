"""Brokers: in-process by default, Redis when CAUSETTE_REDIS_URL is set."""

from __future__ import annotations

from chat.broker.base import Broker, Delivery, Reconnected
from chat.broker.memory import MemoryBroker

__all__ = ["Broker", "Delivery", "MemoryBroker", "Reconnected", "broker_from_url"]


def broker_from_url(url: str | None, *, prefix: str | None = None) -> Broker:
    """The broker for CAUSETTE_REDIS_URL; ``prefix`` names its channels on a shared Redis
    (default ``causette:<db>:``, see chat/broker/redis.py)."""
    if not url or url == "memory://":
        return MemoryBroker()
    if url.startswith(("redis://", "rediss://", "unix://")):
        from chat.broker.redis import RedisBroker

        return RedisBroker(url, prefix=prefix)
    raise ValueError(f"Unsupported broker URL scheme: {url.split(':', 1)[0]!r}")
