"""One process's view of the broker: subscriptions counted per channel, events fanned out
to each local connection's bounded queue. Nothing here waits on a client.

The delivery latency of the metrics is measured here, on the node that stores a message:
from its publish, right after the commit, to the moment its announcement comes back through
the broker and is handed to this node's sockets (the sender's own socket is always one of
them). No clock is compared across hosts, and nothing is added to the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Protocol

from chat.broker import Broker, Delivery, Reconnected
from chat.events import Event, decode, encode
from chat.logging import get_logger

if TYPE_CHECKING:
    from chat.metrics import Metrics

__all__ = ["Hub", "Subscriber"]

log = get_logger("causette.hub")

_TIMED = 10_000  # message announcements awaited back at most (an outage loses the oldest)


class Subscriber(Protocol):
    id: str

    def offer(self, event: Event) -> None:
        """Take an event without waiting; a full queue is the subscriber's problem."""

    def resync(self) -> None:
        """Events may have been lost: catch up from the store."""


class Hub:
    def __init__(self, broker: Broker, metrics: Metrics | None = None) -> None:
        self.broker = broker
        self._metrics = metrics
        self._published: dict[tuple[str, int], float] = {}  # (conversation, seq): when
        self._local: dict[str, set[Subscriber]] = {}
        self._lock = asyncio.Lock()
        self._reader: asyncio.Task[None] | None = None
        self.broker_up = True

    async def start(self) -> None:
        await self.broker.connect()
        self._reader = asyncio.create_task(self._read(), name="hub-reader")

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self.broker.disconnect()

    @contextlib.asynccontextmanager
    async def subscription(
        self, subscriber: Subscriber, channels: Iterable[str]
    ) -> AsyncIterator[None]:
        channels = tuple(channels)
        async with self._lock:
            for channel in channels:
                members = self._local.setdefault(channel, set())
                if not members:
                    await self.broker.subscribe(channel)
                members.add(subscriber)
        try:
            yield
        finally:
            async with self._lock:
                for channel in channels:
                    members = self._local.get(channel, set())
                    members.discard(subscriber)
                    if not members:
                        self._local.pop(channel, None)
                        with contextlib.suppress(Exception):
                            await self.broker.unsubscribe(channel)

    def publish(self, channels: Iterable[str], event: Event) -> None:
        if event.kind == "message" and self._metrics is not None:
            published = self._published
            if len(published) >= _TIMED:
                del published[next(iter(published))]
            published[(event.conversation_id, event.seq)] = time.monotonic()
        payload = encode(event)
        for channel in channels:
            self.broker.publish(channel, payload)

    def deliver_local_once(self, channels: Iterable[str], event: Event) -> None:
        """Hand an event once to each local subscriber of any of these channels."""
        seen: set[int] = set()
        for channel in channels:
            for subscriber in tuple(self._local.get(channel, ())):
                if id(subscriber) not in seen:
                    seen.add(id(subscriber))
                    subscriber.offer(event)

    async def _read(self) -> None:
        """Fan the broker's stream out, for as long as the process lives: a stream that
        fails unexpectedly is logged and opened again, and everyone catches up."""
        failed = False
        while True:
            try:
                async for item in self.broker.listen():
                    if failed:
                        failed = False
                        self._resync_all(Reconnected(0.0))
                    if isinstance(item, Reconnected):
                        self._resync_all(item)
                        continue
                    self._dispatch(item)
                return  # the broker was disconnected
            except Exception:
                log.exception("hub_reader_failed")
                failed = True
            await asyncio.sleep(1.0)

    def _dispatch(self, delivery: Delivery) -> None:
        members = self._local.get(delivery.channel)
        if not members:
            return
        try:
            event = decode(delivery.payload)
        except ValueError:
            log.warning("event_undecodable", channel=delivery.channel)
            return
        for subscriber in tuple(members):
            subscriber.offer(event)
        if event.kind == "message" and self._published:
            since = self._published.pop((event.conversation_id, event.seq), None)
            if since is not None and self._metrics is not None:
                self._metrics.delivered(time.monotonic() - since)

    def resync_all(self, reason: str) -> None:
        """Catch every local connection up from the store (e.g. a node that may have died
        between a commit and its publish)."""
        log.info("resync", reason=reason)
        self._resync_all(Reconnected(0.0))

    def _resync_all(self, item: Reconnected) -> None:
        subscribers = {s for members in self._local.values() for s in members}
        log.info("broker_resync", connections=len(subscribers), down_seconds=item.down_seconds)
        for subscriber in subscribers:
            subscriber.resync()
