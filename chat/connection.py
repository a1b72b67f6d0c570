"""One socket's delivery state: a bounded queue, a send pump, and a cursor per conversation.

Every message reaches the socket through ``_deliver``, which keeps the promise of the
protocol: in seq order, each once. An event whose seq is already past is dropped; one that
skips ahead means something was missed (a broker outage, events crossing on the way), so the
gap is read from the store first. Replay after ``hello`` and catch-up after an outage are the
same operation: a ``Sync`` of one conversation from its cursor.

A burst (the announcements a broker outage held back, arriving at once) must not cost a
client that reads its socket its connection. What the store can give again (message events,
Syncs) only takes the first half of the queue: past it, the queue just notes which
conversations to read again, and the pump catches them up from the store when the queue is
empty, or after every half queue of frames if it never empties. The other half stays free for
what exists nowhere else (acks, typing, conversation state), which may therefore reach the
client before the messages of a burst; messages still arrive in seq order, once each. A
client that has not taken a frame for ``stuck_after`` seconds (a send waiting that long on
its socket), or whose queue is full all the same, is closed with 1013: it resumes when it
reads again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chat.errors import StoreUnavailable
from chat.events import CloseSockets, Control, Event, Rename
from chat.frames import ServerFrame, dump
from chat.principals import Principal, VisitorPrincipal
from chat.ratelimit import SocketLimits
from chat.store import Store
from chat.types import CloseCode

if TYPE_CHECKING:
    from chat.frames import Ack
    from chat.metrics import Metrics

__all__ = ["Connection", "Peer", "Sync"]

Send = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Peer:
    """The other end, as its handshake said: its address (what the shared limits count new
    conversations by) and its browser (part of a visitor's context)."""

    address: str = "unknown"
    user_agent: str = ""


@dataclass(frozen=True, slots=True)
class Sync:
    """Deliver everything stored in this conversation past the cursor."""

    conversation_id: str


@dataclass(frozen=True, slots=True)
class _Frame:
    text: str
    received: float | None = None  # an ack: when its message frame was received


@dataclass(frozen=True, slots=True)
class _ResyncAll:
    pass


_Item = Event | Sync | _Frame | _ResyncAll


def _recoverable(item: _Item) -> bool:
    """Whether the store can give this again: a message, a catch-up."""
    return isinstance(item, Sync | _ResyncAll) or (
        isinstance(item, Event) and item.kind == "message"
    )


class Connection:
    def __init__(
        self,
        principal: Principal,
        store: Store,
        send: Send,
        *,
        queue_size: int,
        page: int,
        on_resync: Callable[[Connection], Awaitable[list[str]]] | None = None,
        limits: SocketLimits | None = None,
        peer: Peer | None = None,
        stuck_after: float = 10.0,
        metrics: Metrics | None = None,
    ) -> None:
        self.id = uuid.uuid4().hex
        self._principal = principal
        self.store = store
        self._send = send
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=queue_size)
        self._soft_limit = max(1, queue_size // 2)  # for what the store can give again
        self._behind: set[str] = set()  # conversations to read again, past the soft limit
        self._resync_wanted = False  # a resync of everything, past the soft limit
        self._stuck_after = stuck_after
        self._sending_since: float | None = None  # a send waiting on the socket, since when
        self._since_catch_up = 0  # frames taken while conversations were left behind
        self._in_flight: set[str] = set()  # client_ids being stored: acked, not echoed
        self._page = page
        self._on_resync = on_resync
        self._cursors: dict[str, int] = {}
        self._last_written: str | None = None
        self._acked: set[tuple[str, int]] = set()  # own messages: acked, not echoed
        self._overflowed = False
        self._slow: str | None = None  # why it overflowed: queue_full, or stuck
        self._close_code: int | None = None  # set by a control event: close with this code
        self.sent_frames = 0
        self._pump_task: asyncio.Task[None] | None = None
        self.limits = limits or SocketLimits.none()  # see chat/ratelimit.py
        self.peer = peer or Peer()
        self._ack_latency = metrics.ack_observer(principal.kind) if metrics else None

    # -- what others read ------------------------------------------------------------------

    @property
    def principal(self) -> Principal:
        """Who is on the other end (a visitor's name follows what it last said it is)."""
        return self._principal

    @property
    def last_written(self) -> str | None:
        """The conversation this socket last wrote to: Store.append's hint."""
        return self._last_written

    @property
    def conversations(self) -> list[str]:
        """The conversations this socket follows (it has a cursor in)."""
        return list(self._cursors)

    @property
    def overflowed(self) -> bool:
        """Its queue overflowed: it is closed 1013, and resumes when it reconnects."""
        return self._overflowed

    @property
    def slow(self) -> str | None:
        """Why it overflowed, if it did: ``queue_full``, or ``stuck`` (it took no frame for
        ``stuck_after`` seconds)."""
        return self._slow

    @property
    def close_code(self) -> int | None:
        """The code to close with, when a control event or the store ended the pump."""
        return self._close_code

    @property
    def pump_task(self) -> asyncio.Task[None] | None:
        return self._pump_task

    # -- set-up ----------------------------------------------------------------------------

    def follow(self, conversation_id: str, seq: int) -> None:
        """Deliver this conversation's messages past ``seq`` (the hello's resume, or where
        the store is now)."""
        self._cursors[conversation_id] = seq

    def start(self) -> asyncio.Task[None]:
        """Start the send pump."""
        self._pump_task = asyncio.create_task(self.pump(), name=f"pump-{self.id}")
        return self._pump_task

    def rename(self, name: str | None) -> None:
        """A visitor's next frames carry this name."""
        if isinstance(self._principal, VisitorPrincipal):
            self._principal = dataclasses.replace(self._principal, name=name)

    @contextlib.contextmanager
    def storing(self, client_id: str) -> Iterator[None]:
        """While this socket's message is being stored: a catch-up between its commit and its
        ack must not echo it back."""
        self._in_flight.add(client_id)
        try:
            yield
        finally:
            self._in_flight.discard(client_id)

    # -- producers (never wait) ------------------------------------------------------------

    def offer(self, item: _Item) -> None:
        if self.overflowed:
            return
        if isinstance(item, Event) and item.kind == "control":
            control = item.control_value()
            if isinstance(control, Rename):  # at once: this socket's next frames carry it
                self.rename(control.name)
                return
        if self._queue.qsize() >= self._soft_limit and _recoverable(item):
            if self._stuck():
                self._overflow("stuck")  # not a burst: a client that does not read
            elif isinstance(item, Event | Sync):
                self._behind.add(item.conversation_id)
            else:
                self._resync_wanted = True
            return
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self._overflow("stuck" if self._stuck() else "queue_full")

    def _stuck(self) -> bool:
        since = self._sending_since
        return since is not None and time.monotonic() - since >= self._stuck_after

    def _overflow(self, why: str) -> None:
        if not self._overflowed:
            self._slow = why
        self._overflowed = True
        if self._pump_task is not None:
            self._pump_task.cancel()

    def send_frame(self, frame: ServerFrame) -> None:
        self.offer(_Frame(dump(frame)))

    def send_ack(self, ack: Ack, received: float) -> None:
        """Queue the ack of a message frame received at ``received`` (``time.monotonic``):
        the metrics see how long it took until the ack goes to the socket."""
        self.offer(_Frame(dump(ack), received))

    def acked(self, conversation_id: str, seq: int) -> None:
        """This connection wrote (conversation, seq): it got an ack, so it gets no copy."""
        self._last_written = conversation_id
        if seq > self._cursors.get(conversation_id, 0):
            self._acked.add((conversation_id, seq))

    def sync(self, conversation_id: str) -> None:
        self.offer(Sync(conversation_id))

    def resync(self) -> None:
        self.offer(_ResyncAll())

    # -- the pump --------------------------------------------------------------------------

    async def pump(self) -> None:
        """Send what is queued, in order, until the socket fails or the task is cancelled.

        A gap that cannot be read from the store (the database is away) ends the pump with
        ``close_code`` 1013: the client reconnects and resumes from its last seq later, which
        loses nothing, where skipping the gap would."""
        if self.overflowed:  # before the pump started (a long replay at hello, say)
            return
        try:
            await self._pump()
        except StoreUnavailable:
            self._close_code = CloseCode.TRY_AGAIN_LATER

    async def _pump(self) -> None:
        get = self._queue.get
        while True:
            if (self._resync_wanted or self._behind) and (
                self._queue.empty() or self._since_catch_up >= self._soft_limit
            ):
                self._since_catch_up = 0
                await self._catch_up_behind()
                continue
            item = await get()
            if self._behind or self._resync_wanted:
                self._since_catch_up += 1
            if isinstance(item, Event):
                if item.kind == "message":
                    await self._deliver(item)
                elif item.kind == "control":
                    if self._closed_by(item.control_value()):
                        return
                elif item.origin != self.id:
                    await self._write(item.text)
            elif isinstance(item, _Frame):
                if item.received is not None and self._ack_latency is not None:
                    self._ack_latency(time.monotonic() - item.received)
                await self._write(item.text)
            elif isinstance(item, Sync):
                await self._catch_up(item.conversation_id, None)
            elif self._on_resync is not None:
                for conversation_id in await self._on_resync(self):
                    await self._catch_up(conversation_id, None)

    def _closed_by(self, control: Control | None) -> bool:
        """Whether a control event closes this socket (see chat/events.py)."""
        if not isinstance(control, CloseSockets):
            return False
        version = getattr(self._principal, "token_version", None)
        below = control.below_version
        if below is not None and version is not None and version >= below:
            return False  # signed in again since: this socket is already the new session's
        self._close_code = control.code
        return True

    async def _catch_up_behind(self) -> None:
        """What a burst left past the soft limit, from the store (see the module doc)."""
        if self._resync_wanted:
            self._resync_wanted = False
            if self._on_resync is not None:
                for conversation_id in await self._on_resync(self):
                    await self._catch_up(conversation_id, None)
            return
        await self._catch_up(self._behind.pop(), None)

    async def _write(self, text: str) -> None:
        self._sending_since = time.monotonic()
        await self._send(text)
        self._sending_since = None
        self.sent_frames += 1

    async def _deliver(self, event: Event) -> None:
        cursor = self._cursors.get(event.conversation_id, 0)
        if event.seq <= cursor:
            return
        if event.seq > cursor + 1:
            await self._catch_up(event.conversation_id, event.seq)
            return
        self._cursors[event.conversation_id] = event.seq
        key = (event.conversation_id, event.seq)
        if key in self._acked:
            self._acked.discard(key)
            return
        await self._write(event.text)

    async def _catch_up(self, conversation_id: str, until: int | None) -> None:
        """Send stored messages past the cursor, up to ``until`` (everything if None)."""
        while True:
            cursor = self._cursors.get(conversation_id, 0)
            if until is not None and cursor >= until:
                return
            rows = await self.store.messages_after(conversation_id, cursor, self._page)
            for message in rows:
                if message.seq != self._cursors.get(conversation_id, 0) + 1:
                    return  # seqs commit in order, so this cannot happen; never skip one
                self._cursors[conversation_id] = message.seq
                key = (conversation_id, message.seq)
                if key in self._acked:
                    self._acked.discard(key)
                    continue
                if message.client_id in self._in_flight and message.author_id == self._principal.id:
                    continue  # committed, its ack on the way: this socket gets the ack only
                await self._write(dump(message.frame()))
            if len(rows) < self._page:
                return
