"""The broker contract: how server processes tell each other that something happened.

A broker carries short text payloads on named channels. It is a doorbell, not a store: what
it drops while a subscriber is away is read back from the database (see chat/connection.py).
Each process holds one subscription stream; chat/hub.py fans it out to local connections.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Broker", "Delivery", "Reconnected"]


@dataclass(frozen=True, slots=True)
class Delivery:
    channel: str
    payload: str


@dataclass(frozen=True, slots=True)
class Reconnected:
    """The subscription came back after an outage: anything published meanwhile is lost."""

    down_seconds: float


class Broker(Protocol):
    async def connect(self) -> None: ...

    async def disconnect(self) -> None: ...

    async def subscribe(self, channel: str) -> None: ...

    async def unsubscribe(self, channel: str) -> None: ...

    def publish(self, channel: str, payload: str) -> None:
        """Queue a payload for the channel; never blocks the caller and never raises."""

    def listen(self) -> AsyncIterator[Delivery | Reconnected]: ...

    async def ping(self) -> None:
        """Raise if the broker cannot be reached."""
