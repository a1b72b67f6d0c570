"""The Redis broker: one subscriber connection and one publisher connection per process.

Publishing never waits: ``publish`` appends to a bounded queue that a background task writes
as pipelined PUBLISH batches (whatever accumulated while the last batch was in flight goes in
the next one). With Redis away, batches are kept and retried; if the queue overflows, the
oldest are dropped and every node is asked to resync once Redis is back.

The subscriber reconnects with backoff. Pub/sub loses what is published while a subscriber
is away, so each reconnection yields ``Reconnected`` once Redis has confirmed every channel
again: the hub then catches every local connection up from the database, which is the truth,
and whatever is committed after that read is published to a confirmed subscription. A
subscription that goes quiet is probed with PING, so a link that died without a word (a host
gone, a cable pulled) is noticed too.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from chat.broker.base import Delivery, Reconnected
from chat.broker.resp import RedisAddress, RespConnection, RespError, encode_command
from chat.logging import get_logger

if TYPE_CHECKING:
    from chat.metrics import Metrics

__all__ = ["RESYNC_CHANNEL", "RedisBroker", "default_prefix"]

log = get_logger("causette.broker")

RESYNC_CHANNEL = "resync"  # "every node, read the store again" (before the prefix)
_FAILURES = (OSError, ConnectionError, EOFError, TimeoutError, asyncio.IncompleteReadError)


def default_prefix(address: RedisAddress) -> str:
    """Pub/sub ignores the database number: channels are shared by every client of a Redis.
    Prefixing them with it keeps deployments that were given different databases apart, as
    their operators expect."""
    return f"causette:{address.db}:"


def _reason(exc: BaseException) -> str:
    """What went wrong, for the log: "Connection refused", "WRONGPASS ...", never a secret
    (Redis does not echo credentials)."""
    return str(exc)[:200] or type(exc).__name__


def _backoff(attempt: int) -> float:
    """Seconds before reconnection attempt ``attempt`` (1, 2, ...): doubling, capped, with
    jitter so that the nodes of a deployment do not all knock at once."""
    return min(2.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0)


class RedisBroker:
    def __init__(
        self,
        url: str,
        *,
        prefix: str | None = None,
        max_pending: int = 100_000,
        batch: int = 1024,
        subscribe_timeout: float = 2.0,
        health_interval: float = 15.0,
        metrics: Metrics | None = None,
    ) -> None:
        self._address = RedisAddress.from_url(url)
        # every channel on the wire is prefixed; callers only ever see their own names
        self.prefix = default_prefix(self._address) if prefix is None else prefix
        self._wire_prefix = self.prefix.encode()
        self._channels: set[str] = {RESYNC_CHANNEL}
        # (channel, payload, when queued): the lag of each batch is its oldest's
        self._pending: collections.deque[tuple[bytes, bytes, float]] = collections.deque()
        self._metrics = metrics
        self._max_pending = max_pending
        self._batch = batch
        self._subscribe_timeout = subscribe_timeout
        self._health_interval = health_interval
        self._dropped = False
        self._wakeup = asyncio.Event()
        self._sub: RespConnection | None = None
        self._sub_waiters: dict[str, list[asyncio.Future[None]]] = {}
        # set once the first connection attempt has succeeded or failed: until then a
        # subscribe waits for it rather than return unconfirmed
        self._settled = asyncio.Event()
        self._unconfirmed = False  # a subscribe returned unconfirmed: resync when back
        self._publisher: asyncio.Task[None] | None = None
        self._closed = False

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

    async def publish_now(self, channel: str, payload: str) -> None:
        """Publish one message on a connection of its own and wait for Redis to take it:
        for a process that publishes once and exits (the command line), not for a server,
        which publishes through its pipelined queue (``publish``)."""
        conn = await RespConnection.open(self._address, connect_timeout=2.0)
        try:
            conn.write(encode_command(b"PUBLISH", self._wire(channel), payload.encode()))
            async with asyncio.timeout(2.0):
                await conn.drain()
                await conn.read_one()
        finally:
            await conn.close()

    # -- subscriptions ---------------------------------------------------------------------

    async def subscribe(self, channel: str) -> None:
        """Subscribe, and wait until Redis confirms, so nothing published after this
        returns is missed. With Redis away, return at once: the reconnection resyncs."""
        self._channels.add(channel)
        if not self._settled.is_set():  # starting: wait for the first connection attempt
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._settled.wait(), self._subscribe_timeout)
        sub = self._sub
        if sub is None:
            self._unconfirmed = True
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sub_waiters.setdefault(channel, []).append(waiter)
        try:
            sub.write(encode_command(b"SUBSCRIBE", self._wire(channel)))
            await asyncio.wait_for(asyncio.shield(waiter), self._subscribe_timeout)
        except (*_FAILURES, RespError) as exc:
            # unconfirmed: treat the link as broken, so that the reconnection subscribes
            # every channel again and yields Reconnected
            self._unconfirmed = True
            if self._sub is sub:
                log.warning("broker_subscribe_unconfirmed", error=type(exc).__name__)
                sub.abort()
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
                sub.write(encode_command(b"UNSUBSCRIBE", self._wire(channel)))

    def _wire(self, channel: str) -> bytes:
        return self._wire_prefix + channel.encode()

    def _name(self, wire: bytes) -> str:
        return wire.removeprefix(self._wire_prefix).decode(errors="replace")

    def _confirmed(self, channel: str) -> None:
        for waiter in self._sub_waiters.pop(channel, []):
            if not waiter.done():
                waiter.set_result(None)

    async def listen(self) -> AsyncIterator[Delivery | Reconnected]:
        down_since: float | None = None  # when the link was lost; None while it is up
        attempt = 0
        while not self._closed:
            try:
                conn = await RespConnection.open(self._address)
            except _FAILURES as exc:
                if down_since is None:
                    down_since = time.monotonic()
                    log.warning("broker_down", error=type(exc).__name__, reason=_reason(exc))
                self._settled.set()
                attempt += 1
                await asyncio.sleep(_backoff(attempt))
                continue
            attempt = 0
            self._sub = conn
            self._settled.set()
            try:
                # every channel again; Reconnected only once Redis confirmed them all
                channels = sorted(self._channels)
                awaiting: set[str] | None = set(channels)
                for i in range(0, len(channels), 500):
                    conn.write(
                        encode_command(
                            b"SUBSCRIBE", *(self._wire(c) for c in channels[i : i + 500])
                        )
                    )
                await conn.drain()
                probing = False
                while True:
                    try:
                        async with asyncio.timeout(self._health_interval):
                            replies = await conn.read_some()
                    except TimeoutError:
                        if probing:
                            raise  # no answer to the PING either: the link is dead
                        conn.write(encode_command(b"PING"))
                        probing = True
                        continue
                    probing = False
                    for reply in replies:
                        kind = reply[0]
                        if kind == b"message":
                            channel = self._name(reply[1])
                            if channel == RESYNC_CHANNEL:
                                log.info("broker_resync_requested")
                                yield Reconnected(0.0)
                                continue
                            # a foreign payload is the hub's to refuse, not a broken link
                            yield Delivery(channel, reply[2].decode(errors="replace"))
                        elif kind == b"subscribe":
                            channel = self._name(reply[1])
                            self._confirmed(channel)
                            if awaiting is None:
                                continue
                            awaiting.discard(channel)
                            if awaiting:
                                continue
                            awaiting = None
                            if down_since is None and not self._unconfirmed:
                                log.info("broker_connected")
                                continue
                            seconds = round(time.monotonic() - (down_since or time.monotonic()), 3)
                            down_since, self._unconfirmed = None, False
                            log.info("broker_up", down_seconds=seconds)
                            if self._metrics is not None:
                                self._metrics.broker_reconnected("subscriber")
                            yield Reconnected(seconds)
            except (*_FAILURES, RespError) as exc:
                if self._closed:
                    return
                if down_since is None:
                    down_since = time.monotonic()
                    log.warning("broker_down", error=type(exc).__name__, reason=_reason(exc))
            finally:
                self._sub = None
                for waiters in self._sub_waiters.values():  # their subscribe returns now
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_exception(ConnectionError("subscription lost"))
                await conn.close()
            attempt = 1  # a server that accepts and drops at once is not hammered
            await asyncio.sleep(_backoff(attempt))

    # -- publishing ------------------------------------------------------------------------

    def publish(self, channel: str, payload: str) -> None:
        if len(self._pending) >= self._max_pending:
            self._pending.popleft()
            self._dropped = True
            if self._metrics is not None:
                self._metrics.broker_dropped.inc()
        self._pending.append((self._wire(channel), payload.encode(), time.monotonic()))
        self._wakeup.set()

    async def _publish_loop(self) -> None:
        conn: RespConnection | None = None
        attempt = 0
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                while self._pending:
                    if conn is None:
                        try:
                            conn = await RespConnection.open(self._address)
                        except _FAILURES:
                            if self._metrics is not None:
                                self._metrics.broker_pending.set(len(self._pending))
                            attempt += 1
                            await asyncio.sleep(_backoff(attempt))
                            continue
                        if attempt:
                            log.info("broker_publisher_up", pending=len(self._pending))
                            if self._metrics is not None:
                                self._metrics.broker_reconnected("publisher")
                        attempt = 0
                    if self._dropped:  # some were lost: every node reads the store again
                        self._dropped = False
                        resync = (self._wire(RESYNC_CHANNEL), b"overflow", time.monotonic())
                        self._pending.append(resync)
                    batch = [
                        self._pending.popleft() for _ in range(min(self._batch, len(self._pending)))
                    ]
                    try:
                        conn.write(b"".join(encode_command(b"PUBLISH", c, p) for c, p, _ in batch))
                        async with asyncio.timeout(5.0):
                            await conn.drain()
                            await conn.read_n(len(batch))
                    except (*_FAILURES, RespError) as exc:
                        # keep them: a subscriber that saw nothing missing would never resync
                        # (some may have reached Redis already: receivers drop repeats by seq)
                        self._pending.extendleft(reversed(batch))
                        if attempt == 0:
                            log.warning(
                                "broker_publisher_down",
                                error=type(exc).__name__,
                                reason=_reason(exc),
                                pending=len(self._pending),
                            )
                        if self._metrics is not None:
                            self._metrics.broker_pending.set(len(self._pending))
                        attempt += 1
                        await conn.close()
                        conn = None
                        await asyncio.sleep(_backoff(attempt))
                        continue
                    if self._metrics is not None:
                        self._metrics.published(time.monotonic() - batch[0][2])
                        self._metrics.broker_pending.set(len(self._pending))
        finally:
            if conn is not None:
                await conn.close()
