"""The in-process broker: one process, no network, the default."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from chat.broker.base import Delivery, Reconnected

__all__ = ["MemoryBroker"]


class MemoryBroker:
    def __init__(self) -> None:
        self._channels: set[str] = set()
        self._queue: asyncio.Queue[Delivery | None] = asyncio.Queue()

    async def connect(self) -> None:
        return None

    async def disconnect(self) -> None:
        self._queue.put_nowait(None)

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)

    def publish(self, channel: str, payload: str) -> None:
        if channel in self._channels:
            self._queue.put_nowait(Delivery(channel, payload))

    async def listen(self) -> AsyncIterator[Delivery | Reconnected]:
        while (item := await self._queue.get()) is not None:
            yield item

    async def ping(self) -> None:
        return None
