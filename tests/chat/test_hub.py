"""The hub outlives a broker stream that fails: it logs, opens the stream again, and every
local subscriber catches up from the store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from structlog.testing import capture_logs

from chat.broker import Delivery, MemoryBroker, Reconnected
from chat.events import Event, encode
from chat.hub import Hub


class BrokenOnce(MemoryBroker):
    """A memory broker whose first stream breaks on its first delivery."""

    def __init__(self) -> None:
        super().__init__()
        self.streams = 0

    async def listen(self) -> AsyncIterator[Delivery | Reconnected]:
        self.streams += 1
        broken = self.streams == 1
        async for item in super().listen():
            if broken:
                raise RuntimeError("a bug in the stream")
            yield item


class Recorder:
    id = "recorder"

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.resyncs = 0
        self.changed = asyncio.Event()

    def offer(self, event: Event) -> None:
        self.events.append(event)
        self.changed.set()

    def resync(self) -> None:
        self.resyncs += 1
        self.changed.set()


async def test_a_failed_stream_is_reopened_and_subscribers_resync() -> None:
    """Figures: after the stream fails once, 1 hub_reader_failed logged, the stream opened
    again (2 streams), the subscriber asked to resync once, and the next event delivered."""
    broker = BrokenOnce()
    hub = Hub(broker)
    recorder = Recorder()
    with capture_logs() as logs:
        await hub.start()
        try:
            async with hub.subscription(recorder, ["c"]):
                event = Event("message", "conv", 1, "x", "cid", "{}")
                broker.publish("c", encode(event))  # breaks the first stream, and is lost
                second = Event("message", "conv", 2, "x", "cid2", "{}")
                broker.publish("c", encode(second))

                async def delivered() -> None:
                    while second not in recorder.events:
                        recorder.changed.clear()
                        await recorder.changed.wait()

                await asyncio.wait_for(delivered(), 10.0)
        finally:
            await hub.stop()
    assert broker.streams == 2
    assert recorder.resyncs == 1
    assert recorder.events == [second]
    assert [entry["event"] for entry in logs].count("hub_reader_failed") == 1
