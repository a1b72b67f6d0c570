"""One socket's delivery state (chat/connection.py) under bursts, stalls and races, on a real
store of both backends. The far end of the socket is a stand-in that takes frames while it
"reads" and holds the sender while it does not: what a WebSocket does to a server whose
client stops reading."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from chat.connection import Connection
from chat.db import Database, migrate
from chat.events import Event
from chat.principals import VisitorPrincipal
from chat.store import Store, StoredMessage


@pytest.fixture
async def store(empty_database: str) -> AsyncIterator[Store]:
    await asyncio.to_thread(migrate, empty_database)
    db = Database(empty_database)
    try:
        yield Store(db)
    finally:
        await db.dispose()


class Socket:
    """Frames the connection sent, in order; ``reading`` cleared: sends wait, as on a socket
    whose client stopped reading."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.reading = asyncio.Event()
        self.reading.set()
        self._changed = asyncio.Event()
        self.on_frame: Callable[[dict[str, Any]], None] | None = None

    async def send(self, text: str) -> None:
        await self.reading.wait()
        frame = json.loads(text)
        self.frames.append(frame)
        self._changed.set()
        if self.on_frame is not None:
            self.on_frame(frame)

    def seqs(self, conversation_id: str) -> list[int]:
        return [
            f["seq"]
            for f in self.frames
            if f["type"] == "message" and f["conversation_id"] == conversation_id
        ]

    async def until(self, done: Callable[[], bool], timeout: float = 20.0) -> None:
        async def wait() -> None:
            while not done():
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(wait(), timeout)


async def conversation(store: Store, n: int) -> tuple[VisitorPrincipal, list[StoredMessage]]:
    """A visitor of the default space and its conversation of ``n`` stored messages."""
    found = await store.space_by_key("default")
    assert found is not None
    space_id = found[0]
    visitor = await store.visitor_principal(await store.create_visitor(space_id), space_id)
    stored: list[StoredMessage] = []
    conversation_id = None
    for i in range(n):
        result = await store.append(visitor, conversation_id, str(uuid.uuid4()), f"m{i}")
        conversation_id = result.message.conversation_id
        stored.append(result.message)
    return visitor, stored


def event(message: StoredMessage) -> Event:
    """The announcement another node makes of a stored message."""
    return Event.message(message, "another-socket")


def connect(store: Store, principal: VisitorPrincipal, socket: Socket, **kwargs: Any) -> Connection:
    conn = Connection(
        principal, store, socket.send, queue_size=kwargs.pop("queue_size", 16), page=50, **kwargs
    )
    conn.start()
    return conn


async def stop(conn: Connection) -> None:
    assert conn.pump_task is not None
    conn.pump_task.cancel()
    await asyncio.gather(conn.pump_task, return_exceptions=True)


async def test_a_burst_ten_times_the_queue_reaches_a_reading_client_whole(store: Store) -> None:
    """A queue of 16 frames; 160 announcements arrive at once while the client's socket is
    momentarily full. Figures: not closed; the 160 messages arrive once each, in seq order
    (those past half the queue read back from the store)."""
    visitor, stored = await conversation(store, 160)
    socket = Socket()
    socket.reading.clear()  # the first send waits: everything else arrives meanwhile
    conn = connect(store, visitor, socket)
    try:
        for message in stored:
            conn.offer(event(message))
        assert not conn.overflowed
        socket.reading.set()
        conversation_id = stored[0].conversation_id
        await socket.until(lambda: len(socket.seqs(conversation_id)) >= 160)
        await asyncio.sleep(0)  # anything more would be queued by now: let it show
        assert socket.seqs(conversation_id) == list(range(1, 161))
        assert not conn.overflowed
    finally:
        await stop(conn)


async def test_a_client_that_takes_nothing_is_closed_only_once_stuck(store: Store) -> None:
    """The client stops reading. Figures: a burst within the first 0.2 s (``stuck_after``)
    does not close it; once a send has waited longer than that, the next messages close it
    (overflowed, pump ended)."""
    visitor, stored = await conversation(store, 40)
    socket = Socket()
    socket.reading.clear()
    conn = connect(store, visitor, socket, stuck_after=0.2)
    try:
        for message in stored[:20]:
            conn.offer(event(message))
        assert not conn.overflowed
        await asyncio.sleep(0.3)  # the stall is the behaviour under test: let it last
        for message in stored[20:]:
            conn.offer(event(message))
        assert conn.overflowed
        assert conn.pump_task is not None
        await asyncio.wait_for(asyncio.gather(conn.pump_task, return_exceptions=True), 5.0)
    finally:
        await stop(conn)


async def test_conversations_left_behind_are_caught_up_while_the_queue_stays_busy(
    store: Store,
) -> None:
    """A burst leaves conversations A and B past half the queue; then the queue never empties
    (4 frames circulate: each one sent is replaced by another, 300 in all). Figures: B's 3
    messages arrive long before the busy stream ends (within its first 100 frames), in
    order, once; so do A's 30."""
    visitor, in_a = await conversation(store, 30)
    _, in_b = await conversation(store, 3)
    socket = Socket()
    socket.reading.clear()
    conn = connect(store, visitor, socket)
    ticks = 0

    b = in_b[0].conversation_id
    ticks_when_b_done: list[int] = []

    def keep_busy(sent: dict[str, Any] | None = None) -> None:
        nonlocal ticks
        if sent is not None and sent.get("conversation_id") == b and sent.get("seq") == 3:
            ticks_when_b_done.append(ticks)
        if ticks < 300 and (sent is None or sent["type"] == "tick"):
            ticks += 1
            conn.send_frame({"type": "tick", "n": ticks})

    try:
        for message in in_a + in_b:
            conn.offer(event(message))
        for _ in range(4):
            keep_busy()
        socket.on_frame = keep_busy
        socket.reading.set()
        a = in_a[0].conversation_id
        await socket.until(lambda: ticks >= 300 and len(socket.seqs(a)) >= 30)
        await socket.until(lambda: socket.frames[-1].get("n") == 300)
        assert socket.seqs(b) == [1, 2, 3]
        assert ticks_when_b_done and ticks_when_b_done[0] < 100, ticks_when_b_done
        assert socket.seqs(a) == list(range(1, 31))
    finally:
        await stop(conn)


async def test_a_catch_up_between_commit_and_ack_does_not_echo_the_senders_message(
    store: Store,
) -> None:
    """The socket's own message is committed but its ack not yet queued when a catch-up
    reads the conversation. Figures: that message is not sent to its own socket (it gets
    the ack only); the other message of the catch-up is sent, once."""
    visitor, stored = await conversation(store, 2)
    mine, other = stored
    socket = Socket()
    conn = connect(store, visitor, socket)
    try:
        with conn.storing(mine.client_id):
            conn.sync(mine.conversation_id)
            await socket.until(lambda: len(socket.seqs(mine.conversation_id)) >= 1)
        conn.acked(mine.conversation_id, mine.seq)
        conn.send_frame({"type": "ping-marker"})
        await socket.until(lambda: socket.frames[-1]["type"] == "ping-marker")
        assert [f.get("client_id") for f in socket.frames if f["type"] == "message"] == [
            other.client_id
        ]
    finally:
        await stop(conn)


async def test_a_queue_overflowing_before_the_pump_starts_ends_it_at_once(store: Store) -> None:
    """Frames that cannot be read back (acks, state) overflow a queue of 2 before the pump
    has started (a long replay at hello). Figures: overflowed, and the pump returns at
    once instead of sending what was queued and waiting for more."""
    visitor, _ = await conversation(store, 1)
    socket = Socket()
    conn = Connection(visitor, store, socket.send, queue_size=2, page=50)
    for n in range(5):
        conn.send_frame({"type": "frame", "n": n})
    assert conn.overflowed
    await asyncio.wait_for(conn.pump(), 5.0)
    assert socket.frames == []
