"""The broker's client path alone: CPU per message to publish and receive through Redis.

Compares causette's RedisBroker (pipelined PUBLISH batches, one SUBSCRIBE stream parsed by
hiredis) with the naive redis-py asyncio path (one PUBLISH per message awaited by the sender,
a pattern subscription read with get_message). Both run in this process against the same
Redis; the figure is this process's CPU time divided by the messages received.

    python bench/broker.py --redis-url redis://127.0.0.1:6379/0 --messages 20000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chat.broker.base import Delivery
from chat.broker.redis import RedisBroker

PAYLOAD = "message\x1fconv\x1f1\x1forigin\x1fclient\x1f" + '{"type":"message","body":"x"}' * 4


async def causette_path(url: str, messages: int, channels: int) -> int:
    broker = RedisBroker(url)
    await broker.connect()
    names = [f"bench:{uuid.uuid4().hex}:{i}" for i in range(channels)]
    received = 0
    done = asyncio.Event()

    async def listen() -> None:
        nonlocal received
        async for item in broker.listen():
            if isinstance(item, Delivery):
                received += 1
                if received == messages:
                    done.set()

    reader = asyncio.create_task(listen())
    for name in names:
        await broker.subscribe(name)
    for i in range(messages):
        broker.publish(names[i % channels], PAYLOAD)
        if i % 100 == 99:
            await asyncio.sleep(0)  # senders are many coroutines: let the writer run
    await asyncio.wait_for(done.wait(), 60)
    reader.cancel()
    await broker.disconnect()
    return received


async def naive_path(url: str, messages: int, channels: int) -> int:
    import redis.asyncio as redis

    client = redis.Redis.from_url(url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    prefix = f"bench:{uuid.uuid4().hex}"
    await pubsub.psubscribe(f"{prefix}:*")
    received = 0
    done = asyncio.Event()

    async def listen() -> None:
        nonlocal received
        while received < messages:
            message = await pubsub.get_message(timeout=1.0)
            if message is not None:
                received += 1
        done.set()

    reader = asyncio.create_task(listen())
    for i in range(messages):
        await client.publish(f"{prefix}:{i % channels}", PAYLOAD)
    await asyncio.wait_for(done.wait(), 120)
    reader.cancel()
    await pubsub.aclose()
    await client.aclose()
    return received


def measure(name: str, run: Callable[[], Awaitable[int]]) -> None:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    received = asyncio.run(run())  # type: ignore[arg-type]
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    print(
        f"{name:10} {received} messages in {wall:.2f} s = {received / wall:,.0f} msg/s, "
        f"client CPU {cpu / received * 1e6:.1f} µs/message"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--channels", type=int, default=100)
    args = parser.parse_args()
    if args.messages < 1 or args.channels < 1:
        parser.error("--messages and --channels must be positive")
    print(f"load average before: {os.getloadavg()}")
    measure("naive", lambda: naive_path(args.redis_url, args.messages, args.channels))
    measure("causette", lambda: causette_path(args.redis_url, args.messages, args.channels))


if __name__ == "__main__":
    main()
