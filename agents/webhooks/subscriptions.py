"""This node's interest in events (chat/outbox.py ``Interest``: which types have an enabled
endpoint in which space), kept fresh: read whole at start, before the server takes traffic;
one space again on ``Changed("webhooks", space)`` from the broker, which every change to an
endpoint publishes (on its own node the change is applied before the answer); everything
again after a broker outage and every ``reread`` seconds.

An endpoint made on another node gets the events of this node from the moment the broker's
message arrives (milliseconds; at worst the next reread when the broker is away).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from agents.webhooks.endpoints import interest
from chat.db import Database
from chat.events import Changed, Event
from chat.hub import Hub
from chat.logging import get_logger
from chat.outbox import Interest

__all__ = ["CHANNEL", "Subscriptions", "announce"]

log = get_logger("causette.webhooks")

CHANNEL = "webhooks"
TOPIC = "webhooks"


def announce(hub: Hub, space_id: str) -> None:
    """Tell every node that the space's endpoints changed."""
    hub.publish((CHANNEL,), Event.control(Changed(TOPIC, space_id)))


class Subscriptions:
    """The hub's subscriber of the webhooks channel, and the keeper of the interest."""

    def __init__(self, db: Database, hub: Hub, kept: Interest, *, reread: float = 30.0) -> None:
        self.db = db
        self.hub = hub
        self.kept = kept
        self.id = f"webhook-interest-{uuid.uuid4()}"
        self._reread = reread
        self._dirty: set[str] = set()
        self._all = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.load()
        ready = asyncio.Event()
        self._task = asyncio.create_task(self._run(ready), name="webhook-interest")
        await ready.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def load(self) -> None:
        async with self.db.read() as conn:
            self.kept.replace(await interest(conn))

    async def refresh(self, space_id: str) -> None:
        async with self.db.read() as conn:
            wanted = await interest(conn, space_id)
        self.kept.update(space_id, wanted.get(space_id, ()))

    async def _run(self, ready: asyncio.Event) -> None:
        async with self.hub.subscription(self, (CHANNEL,)):
            ready.set()
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._reread)
                self._wake.clear()
                whole = self._all or not self._dirty
                dirty, self._dirty, self._all = self._dirty, set(), False
                try:
                    if whole:
                        await self.load()
                    else:
                        for space_id in dirty:
                            await self.refresh(space_id)
                except Exception:  # the database may be away: read it all next time
                    self._all = True
                    log.warning("webhook_interest_refresh_failed", exc_info=True)

    # the hub's subscriber: broker events and outages

    def offer(self, event: Event) -> None:
        control = event.control_value()
        if isinstance(control, Changed) and control.topic == TOPIC:
            self._dirty.add(control.key)
            self._wake.set()

    def resync(self) -> None:
        self._all = True
        self._wake.set()
