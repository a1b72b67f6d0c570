"""The Redis broker: one subscriber connection and one publisher connection per process.

Publishing never waits: ``publish`` appends to a bounded queue that a background task writes
as pipelined PUBLISH batches (whatever accumulated while the last batch was in flight goes in
the next one). With Redis away, batches are kept and retried; if the queue overflows, the
oldest are dropped and every node is asked to resync once Redis is back.

The subscriber reconnects with backoff. Pub/sub loses what is published while a subscriber
is away, so each reconnection yields ``Reconnected``: the hub then catches every local
connection up from the database, which is the truth.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import time
from collections.abc import AsyncIterator

from chat.broker.base import Delivery, Reconnected
from chat.broker.resp import RedisAddress, RespConnection, RespError, encode_command
from chat.logging import get_logger

__all__ = ["RESYNC_CHANNEL", "RedisBroker"]

log = get_logger("causette.broker")

RESYNC_CHANNEL = "causette:resync"
_FAILURES = (OSError, ConnectionError, EOFError, TimeoutError, asyncio.IncompleteReadError)


class RedisBroker:
    def __init__(
        self,
        url: str,
        *,
        max_pending: int = 100_000,
        batch: int = 1024,
        subscribe_timeout: float = 2.0,
    ) -> None:
        self._address = RedisAddress.from_url(url)
        self._channels: set[str] = {RESYNC_CHANNEL}
        self._pending: collections.deque[tuple[bytes, bytes]] = collections.deque()
        self._max_pending = max_pending
        self._batch = batch
        self._subscribe_timeout = subscribe_timeout
        self._dropped = False
        self._wakeup = asyncio.Event()
        self._sub: RespConnection | None = None
        self._sub_waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._publisher: asyncio.Task[None] | None = None
        self._closed = False
        self.published = 0
        self.delivered = 0

    # -- lifecycle -------------------------------------------------------------------------

    async def connect(self) -> None:
        self._publisher = asyncio.create_task(self._publish_loop(), name="redis-publisher")

    async def disconnect(self) -> None:
        self._closed = True
        if self._publisher is not None:
            self._publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._publisher
        if self._sub is not None:
            await self._sub.close()

    async def ping(self) -> None:
        conn = await RespConnection.open(self._address, connect_timeout=2.0)
        try:
            conn.write(encode_command(b"PING"))
            async with asyncio.timeout(2.0):
                await conn.read_one()
        finally:
            await conn.close()

    # -- subscriptions ---------------------------------------------------------------------

    async def subscribe(self, channel: str) -> None:
        """Subscribe, and wait until Redis confirms, so nothing published after this
        returns is missed. With Redis away, return at once: the reconnection resyncs."""
        self._channels.add(channel)
        sub = self._sub
        if sub is None:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sub_waiters.setdefault(channel, []).append(waiter)
        try:
            sub.write(encode_command(b"SUBSCRIBE", channel.encode()))
            await asyncio.wait_for(asyncio.shield(waiter), self._subscribe_timeout)
        except (*_FAILURES, RespError):
            pass
        finally:
            waiters = self._sub_waiters.get(channel, [])
            if waiter in waiters:
                waiters.remove(waiter)
            if not waiters:
                self._sub_waiters.pop(channel, None)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        sub = self._sub
        if sub is not None:
            with contextlib.suppress(*_FAILURES, RespError):
                sub.write(encode_command(b"UNSUBSCRIBE", channel.encode()))

    async def listen(self) -> AsyncIterator[Delivery | Reconnected]:
        down_since: float | None = None
        first = True
        attempt = 0
        while not self._closed:
            try:
                conn = await RespConnection.open(self._address)
            except _FAILURES as exc:
                down_since = down_since or time.monotonic()
                if attempt == 0:
                    log.warning("broker_down", error=type(exc).__name__)
                attempt += 1
                await asyncio.sleep(min(2.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0))
                continue
            self._sub = conn
            try:
                channels = sorted(self._channels)
                for i in range(0, len(channels), 500):
                    conn.write(
                        encode_command(b"SUBSCRIBE", *(c.encode() for c in channels[i : i + 500]))
                    )
                await conn.drain()
                if down_since is not None or not first:
                    seconds = round(time.monotonic() - down_since, 3) if down_since else 0.0
                    log.info("broker_up", down_seconds=seconds)
                    yield Reconnected(seconds)
                elif first:
                    log.info("broker_connected")
                first, down_since, attempt = False, None, 0
                while True:
                    for reply in await conn.read_some():
                        kind = reply[0]
                        if kind == b"message":
                            channel = reply[1].decode()
                            if channel == RESYNC_CHANNEL:
                                yield Reconnected(0.0)
                                continue
                            self.delivered += 1
                            yield Delivery(channel, reply[2].decode())
                        elif kind == b"subscribe":
                            for waiter in self._sub_waiters.pop(reply[1].decode(), []):
                                if not waiter.done():
                                    waiter.set_result(None)
            except (*_FAILURES, RespError) as exc:
                if self._closed:
                    return
                down_since = time.monotonic()
                log.warning("broker_down", error=type(exc).__name__)
            finally:
                self._sub = None
                await conn.close()

    # -- publishing ------------------------------------------------------------------------

    def publish(self, channel: str, payload: str) -> None:
        if len(self._pending) >= self._max_pending:
            self._pending.popleft()
            self._dropped = True
        self._pending.append((channel.encode(), payload.encode()))
        self._wakeup.set()

    async def _publish_loop(self) -> None:
        conn: RespConnection | None = None
        attempt = 0
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                if conn is None:
                    try:
                        conn = await RespConnection.open(self._address)
                    except _FAILURES:
                        attempt += 1
                        await asyncio.sleep(min(2.0, 0.05 * 2**attempt) * random.uniform(0.5, 1))
                        continue
                    if attempt:
                        log.info("broker_publisher_up", pending=len(self._pending))
                    attempt = 0
                    if self._dropped:
                        self._dropped = False
                        self._pending.append((RESYNC_CHANNEL.encode(), b"overflow"))
                batch = [
                    self._pending.popleft() for _ in range(min(self._batch, len(self._pending)))
                ]
                try:
                    conn.write(b"".join(encode_command(b"PUBLISH", c, p) for c, p in batch))
                    async with asyncio.timeout(5.0):
                        await conn.drain()
                        await conn.read_n(len(batch))
                    self.published += len(batch)
                except (*_FAILURES, RespError) as exc:
                    # keep them: a subscriber that saw nothing missing would never resync
                    self._pending.extendleft(reversed(batch))
                    if attempt == 0:
                        log.warning(
                            "broker_publisher_down",
                            error=type(exc).__name__,
                            pending=len(self._pending),
                        )
                    attempt = max(attempt, 1)
                    await conn.close()
                    conn = None
