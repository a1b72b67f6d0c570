"""The broker contract, run against every implementation: MemoryBroker and RedisBroker (on a
redis-server of this module's own, so that one test may kill it)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from chat.broker import Broker, Delivery, MemoryBroker, Reconnected
from chat.broker.redis import RedisBroker
from tests.services import RedisServer, redis_publish


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


class Listening:
    """A broker with its one subscription stream read into a queue, as the hub reads it."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.inbox: asyncio.Queue[Delivery | Reconnected] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Listening:
        await self.broker.connect()
        self._task = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self.broker.disconnect()

    async def _read(self) -> None:
        async for item in self.broker.listen():
            self.inbox.put_nowait(item)

    async def next(self, timeout: float = 10.0) -> Delivery | Reconnected:
        return await asyncio.wait_for(self.inbox.get(), timeout)

    async def delivery(self, timeout: float = 10.0) -> Delivery:
        """The next delivery, passing over any Reconnected."""
        while True:
            item = await self.next(timeout)
            if isinstance(item, Delivery):
                return item


@pytest.fixture(params=["memory", "redis"])
async def listening(
    request: pytest.FixtureRequest, redis_server: RedisServer
) -> AsyncIterator[Listening]:
    broker: Broker = MemoryBroker() if request.param == "memory" else RedisBroker(redis_server.url)
    async with Listening(broker) as harness:
        yield harness


def channel() -> str:
    return f"c:{uuid.uuid4().hex}"


async def test_a_subscriber_gets_what_is_published_after_subscribe_returns(
    listening: Listening,
) -> None:
    """Figure: 1 delivery, on the right channel, with the payload unchanged (unicode and
    the event separator included)."""
    name = channel()
    await listening.broker.subscribe(name)
    payload = 'message\x1fconv\x1f1\x1forigin\x1fcid\x1f{"body": "héllo ✓"}'
    listening.broker.publish(name, payload)
    got = await listening.delivery()
    assert got == Delivery(name, payload)


async def test_order_is_kept_per_channel(listening: Listening) -> None:
    """Figure: 2 channels of 500 payloads each, published interleaved arrive in publish order on
    each channel, none missing, none repeated."""
    a, b = channel(), channel()
    await listening.broker.subscribe(a)
    await listening.broker.subscribe(b)
    for i in range(500):
        listening.broker.publish(a, str(i))
        listening.broker.publish(b, str(i))
    seen: dict[str, list[int]] = {a: [], b: []}
    for _ in range(1000):
        got = await listening.delivery()
        seen[got.channel].append(int(got.payload))
    assert seen == {a: list(range(500)), b: list(range(500))}


async def test_nothing_arrives_after_unsubscribe(listening: Listening) -> None:
    """Figure: 0 deliveries on an unsubscribed channel. A payload on a still-subscribed
    channel published after it arrives first, so the dropped one would have come before."""
    gone, kept = channel(), channel()
    await listening.broker.subscribe(gone)
    await listening.broker.subscribe(kept)
    listening.broker.publish(gone, "before")
    assert await listening.delivery() == Delivery(gone, "before")
    await listening.broker.unsubscribe(gone)
    listening.broker.publish(gone, "after")
    listening.broker.publish(kept, "marker")
    assert await listening.delivery() == Delivery(kept, "marker")
    assert listening.inbox.empty()


async def test_unsubscribed_channels_are_never_delivered(listening: Listening) -> None:
    """Figure: of 3 channels, only the 1 subscribed one is delivered (100 payloads each)."""
    wanted = channel()
    await listening.broker.subscribe(wanted)
    others = [channel(), channel()]
    for i in range(100):
        for name in others:
            listening.broker.publish(name, str(i))
        listening.broker.publish(wanted, str(i))
    got = [await listening.delivery() for _ in range(100)]
    assert {d.channel for d in got} == {wanted}
    assert [int(d.payload) for d in got] == list(range(100))


async def test_ping_answers_while_the_broker_is_up(listening: Listening) -> None:
    """Figure: ping returns (no exception) on a live broker."""
    await listening.broker.ping()


# -- Redis only --------------------------------------------------------------------------


async def test_redis_subscribe_returns_only_once_redis_confirmed(redis_server: RedisServer) -> None:
    """Figure: for 20 channels in a row, a PUBLISH from another connection made right after
    ``subscribe`` returns reaches exactly 1 subscriber, and its payload is delivered."""
    async with Listening(RedisBroker(redis_server.url)) as harness:
        for i in range(20):
            name = channel()
            await harness.broker.subscribe(name)
            assert await redis_publish(redis_server.url, name, str(i)) == 1
            assert await harness.delivery() == Delivery(name, str(i))


async def test_redis_deployments_sharing_one_redis_never_hear_each_other(
    redis_server: RedisServer,
) -> None:
    """Two deployments on one redis-server, one given database 0 and the other database 1
    (pub/sub itself ignores the number), then two given the same database and their own
    ``prefix``. Figure: for each pair, 50 payloads published on the same channel name by
    each side (the resync channel included) reach only their own side: 50 each, 0 across."""
    base = redis_server.url.rsplit("/", 1)[0]
    pairs = [
        (RedisBroker(f"{base}/0"), RedisBroker(f"{base}/1")),
        (RedisBroker(base, prefix="online:"), RedisBroker(base, prefix="retail:")),
    ]
    for first, second in pairs:
        async with Listening(first) as a, Listening(second) as b:
            name = channel()
            for side in (a, b):
                await side.broker.subscribe(name)
            for i in range(50):
                first.publish(name, f"a{i}")
                second.publish(name, f"b{i}")
            got_a = [(await a.delivery()).payload for _ in range(50)]
            got_b = [(await b.delivery()).payload for _ in range(50)]
            assert got_a == [f"a{i}" for i in range(50)]
            assert got_b == [f"b{i}" for i in range(50)]
            # a resync asked on one side is not the other's business either
            assert await redis_publish(base, "resync", "x", prefix=first.prefix) == 1
            assert isinstance(await a.next(), Reconnected)
            first.publish(name, "marker")
            second.publish(name, "marker")
            assert await a.delivery() == Delivery(name, "marker")
            assert await b.delivery() == Delivery(name, "marker")
            assert a.inbox.empty() and b.inbox.empty()


async def test_redis_publish_never_blocks_and_batches_reach_redis(
    redis_server: RedisServer,
) -> None:
    """Figure: 5,000 publishes return without awaiting anything; all 5,000 are delivered."""
    async with Listening(RedisBroker(redis_server.url)) as harness:
        name = channel()
        await harness.broker.subscribe(name)
        for i in range(5000):
            harness.broker.publish(name, str(i))  # synchronous: nothing to await
        got = [int((await harness.delivery()).payload) for _ in range(5000)]
        assert got == list(range(5000))


async def test_redis_reconnected_after_its_server_restarts(tmp_path: Path) -> None:
    """Figure: after a SIGKILL and restart of the redis-server on the same port, the stream
    yields exactly 1 ``Reconnected``; by then every channel is subscribed again (a PUBLISH
    from another connection reaches 1 subscriber), ping fails while Redis is down and
    answers after, and a publish made during the outage neither raises nor blocks."""
    redis = RedisServer(tmp_path).start()
    try:
        async with Listening(RedisBroker(redis.url)) as harness:
            names = [channel() for _ in range(3)]
            for name in names:
                await harness.broker.subscribe(name)
            harness.broker.publish(names[0], "before")
            assert await harness.delivery() == Delivery(names[0], "before")

            redis.kill()
            with pytest.raises((OSError, ConnectionError, TimeoutError)):
                await harness.broker.ping()
            harness.broker.publish(names[1], "during")  # kept for later, never raises
            redis.start()  # same port

            item = await harness.next(timeout=20.0)
            # "during" may be published before the subscription is back (then Redis drops
            # it, which is what Reconnected is for) or after (then it is delivered first)
            if item == Delivery(names[1], "during"):
                item = await harness.next(timeout=20.0)
            assert isinstance(item, Reconnected)
            assert item.down_seconds >= 0
            for i, name in enumerate(names):
                assert await redis_publish(redis.url, name, f"after-{i}") == 1
                got = await harness.delivery()
                if got == Delivery(names[1], "during"):
                    got = await harness.delivery()
                assert got == Delivery(name, f"after-{i}")
            await harness.broker.ping()
            rest = [harness.inbox.get_nowait() for _ in range(harness.inbox.qsize())]
            assert not any(isinstance(i, Reconnected) for i in rest)
    finally:
        redis.stop()


async def test_redis_subscribe_while_redis_is_down_is_caught_up_by_reconnected(
    tmp_path: Path,
) -> None:
    """Figure: ``subscribe`` during an outage returns at once (nothing waits on a dead
    Redis); once Redis is back, ``Reconnected`` is yielded and that channel is live."""
    redis = RedisServer(tmp_path).start()
    try:
        async with Listening(RedisBroker(redis.url)) as harness:
            first = channel()
            await harness.broker.subscribe(first)
            redis.kill()
            late = channel()
            await asyncio.wait_for(harness.broker.subscribe(late), 5.0)
            redis.start()
            while not isinstance(await harness.next(timeout=20.0), Reconnected):
                pass
            assert await redis_publish(redis.url, late, "x") == 1
            assert await harness.delivery() == Delivery(late, "x")
    finally:
        redis.stop()
