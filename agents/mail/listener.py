"""Email's ears on the relay: which visitors have a socket on this node, and agent replies.

An agent's reply to a conversation whose visitor left an address queues an email, due the
space's delay later (a couple of seconds at least, for the node that has the visitor to say
so). While a node has a socket of the visitor it holds the visitor's pending emails, renewing
the hold every ``TICK`` seconds; when the visitor's last socket on the node closes, the
hold ends and the emails are due the delay later at the earliest: the visitor gets email
only once it has had no chat open for that long. A new pending email is announced on the
broker, so that the node that has the visitor holds it at once.

Nothing here runs inside a visitor's or an agent's frame: each write is a task of its own,
and a failure is logged, never raised to the relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator, Coroutine
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from agents.mail.outbox import Outbox
from chat.clock import utcnow
from chat.connection import Connection
from chat.db import Database
from chat.events import Changed, Event
from chat.hub import Hub
from chat.logging import get_logger
from chat.models import conversations, spaces, visitors
from chat.principals import AgentPrincipal, Principal, VisitorPrincipal
from chat.relay import VisitorListener
from chat.store import StoredMessage

__all__ = ["CHANNEL", "HOLD", "SETTLE", "MailListener"]

log = get_logger("causette.mail")

CHANNEL = "email"  # "a visitor has a new pending email": whoever has its socket holds it
HOLD = timedelta(seconds=60)  # a hold outlives a node that died by this much at most
TICK = 20.0  # seconds between renewals of this node's holds
SETTLE = timedelta(seconds=2)  # the least delay: time for another node to hold the email


class MailListener(VisitorListener):
    def __init__(self, db: Database, hub: Hub, outbox: Outbox, node: str) -> None:
        self.db = db
        self.hub = hub
        self.outbox = outbox
        self.node = node
        self.id = f"email-{node}"  # as a hub subscriber
        self.queued = asyncio.Event()  # set when an email is queued here: the worker looks
        self._sockets: dict[str, set[str]] = {}  # visitor id -> its connections on this node
        # queueing, holding and releasing one visitor's emails, one at a time on this node: a
        # release that ran before an email was queued would leave that email held
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._ticker: asyncio.Task[None] | None = None
        self._subscription: contextlib.AbstractAsyncContextManager[None] | None = None

    async def start(self) -> None:
        self._subscription = self.hub.subscription(self, [CHANNEL])
        await self._subscription.__aenter__()
        self._ticker = asyncio.create_task(self._tick(), name="email-holds")

    async def stop(self) -> None:
        tasks = [*self._tasks, *([self._ticker] if self._ticker else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        if self._subscription is not None:
            await self._subscription.__aexit__(None, None, None)

    def present(self, visitor_id: str) -> bool:
        """Whether this node has a socket of the visitor open."""
        return visitor_id in self._sockets

    # -- the relay -------------------------------------------------------------------------

    async def message_stored(self, principal: Principal, message: StoredMessage) -> None:
        if isinstance(principal, AgentPrincipal):
            self._spawn(self._queue(message))

    async def joined(self, conn: Connection) -> None:
        visitor = conn.principal
        if not isinstance(visitor, VisitorPrincipal):
            return
        first = visitor.id not in self._sockets
        self._sockets.setdefault(visitor.id, set()).add(conn.id)
        if first:
            self._spawn(self._hold(visitor.id))

    def left(self, conn: Connection) -> None:
        visitor = conn.principal
        sockets = self._sockets.get(visitor.id)
        if sockets is None or conn.id not in sockets:
            return  # it never joined (its welcome failed)
        sockets.discard(conn.id)
        if not sockets:
            del self._sockets[visitor.id]
            self._spawn(self._released(visitor.id))

    # -- the broker ------------------------------------------------------------------------

    def offer(self, event: Event) -> None:
        """Another node (or this one) queued an email for a visitor: hold it if it is here."""
        try:
            visitor_id = str(json.loads(event.text)["key"])
        except (ValueError, KeyError, TypeError):
            return
        if self.present(visitor_id):
            self._spawn(self._hold(visitor_id))

    def resync(self) -> None:
        """The broker was away: announcements may be lost; hold again what is here."""
        if self._sockets:
            self._spawn(self.outbox.hold(list(self._sockets), self.node, utcnow() + HOLD))

    # -- the work --------------------------------------------------------------------------

    async def _queue(self, message: StoredMessage) -> None:
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    sa.select(visitors.c.email, spaces.c.email_delay_minutes)
                    .select_from(conversations)
                    .join(visitors, visitors.c.id == conversations.c.visitor_id)
                    .join(spaces, spaces.c.id == conversations.c.space_id)
                    .where(conversations.c.id == message.conversation_id)
                )
            ).first()
        if row is None or not row.email:
            return
        async with self._one_at_a_time(message.visitor_id):
            now = utcnow()
            due = now + max(timedelta(minutes=row.email_delay_minutes), SETTLE)
            held = (self.node, now + HOLD) if self.present(message.visitor_id) else None
            queued = await self.outbox.queue(
                message.conversation_id, message.space_id, now, due, held
            )
        if queued:
            event = Event.control(Changed(CHANNEL, message.visitor_id), origin=self.id)
            self.hub.publish([CHANNEL], event)
            log.info("email_queued", conversation_id=message.conversation_id)
        self.queued.set()

    async def _hold(self, visitor_id: str) -> None:
        async with self._one_at_a_time(visitor_id):
            if self.present(visitor_id):
                await self.outbox.hold([visitor_id], self.node, utcnow() + HOLD)

    async def _released(self, visitor_id: str) -> None:
        async with self._one_at_a_time(visitor_id):
            if self.present(visitor_id):
                return  # back on this node meanwhile: still held
            released = await self.outbox.release(visitor_id, self.node, utcnow())
        if released:
            self.queued.set()

    @contextlib.asynccontextmanager
    async def _one_at_a_time(self, visitor_id: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(visitor_id) or (asyncio.Lock(), 0)
        self._locks[visitor_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[visitor_id]
            if users == 1:
                del self._locks[visitor_id]
            else:
                self._locks[visitor_id] = (lock, users - 1)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK * random.uniform(0.8, 1.0))
            if not self._sockets:
                continue
            try:
                await self.outbox.hold(list(self._sockets), self.node, utcnow() + HOLD)
            except Exception:  # the database is away: the next tick tries again
                log.warning("email_holds_failed", exc_info=True)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(self._logged(coro))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _logged(coro: Coroutine[Any, Any, Any]) -> None:
        try:
            await coro
        except Exception:  # the chat goes on; the email waits for the next chance
            log.warning("email_listener_failed", exc_info=True)
