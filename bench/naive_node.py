"""A causette node on the naive redis-py broker, for the "before" side of bench/relay.py.

The path the broker replaced, kept here so that its cost can be measured end to end: the
sender's publish is one task awaiting one PUBLISH, and the process holds one pattern
subscription to every channel, filtering locally what it has no socket for.
It keeps the Broker contract's semantics the relay relies on (publish never blocks, a
subscription is confirmed), not its recovery after an outage: it is not for production.

    python bench/naive_node.py serve --host 127.0.0.1 --port 8001   # as `causette serve`
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import causette.app
from chat.broker.base import Delivery, Reconnected

PATTERN = "*"  # every channel of the deployment


class NaiveRedisBroker:
    def __init__(self, url: str) -> None:
        import redis.asyncio as redis

        self._client = redis.Redis.from_url(url)
        self._pubsub: Any = self._client.pubsub(ignore_subscribe_messages=True)
        self._channels: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    async def connect(self) -> None:
        await self._pubsub.psubscribe(PATTERN)

    async def disconnect(self) -> None:
        await self._pubsub.aclose()
        await self._client.aclose()

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)  # the pattern already covers it

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)

    def publish(self, channel: str, payload: str) -> None:
        task = asyncio.create_task(self._client.publish(channel, payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def listen(self) -> AsyncIterator[Delivery | Reconnected]:
        while True:
            message = await self._pubsub.get_message(timeout=1.0)
            if message is None or message.get("type") != "pmessage":
                continue
            channel = message["channel"].decode()
            if channel in self._channels:  # every node scans every message
                yield Delivery(channel, message["data"].decode())

    async def ping(self) -> None:
        await self._client.ping()


def _naive_broker_from_url(
    url: str | None, *, prefix: str | None = None, metrics: Any = None
) -> Any:
    if not url:
        raise SystemExit("naive_node.py needs CAUSETTE_REDIS_URL")
    return NaiveRedisBroker(url)


if __name__ == "__main__":
    causette.app.broker_from_url = _naive_broker_from_url  # type: ignore[assignment]
    from causette.cli import main

    sys.argv[0] = "causette"
    main()
