"""Brokers: in-process by default, Redis when CAUSETTE_REDIS_URL is set."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chat.broker.base import Broker, Delivery, Reconnected
from chat.broker.memory import MemoryBroker

if TYPE_CHECKING:
    from chat.metrics import Metrics

__all__ = ["Broker", "Delivery", "MemoryBroker", "Reconnected", "broker_from_url"]


def broker_from_url(
    url: str | None, *, prefix: str | None = None, metrics: Metrics | None = None
) -> Broker:
    """The broker for CAUSETTE_REDIS_URL; ``prefix`` names its channels on a shared Redis
    (default ``causette:<db>:``, see chat/broker/redis.py); Redis's publish lag and
    reconnections go to ``metrics`` (the memory broker has neither)."""
    if not url or url == "memory://":
        return MemoryBroker()
    if url.startswith(("redis://", "rediss://", "unix://")):
        from chat.broker.redis import RedisBroker

        return RedisBroker(url, prefix=prefix, metrics=metrics)
    raise ValueError(f"Unsupported broker URL scheme: {url.split(':', 1)[0]!r}")
