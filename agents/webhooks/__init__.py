"""Webhooks: a space's events, signed (Standard Webhooks), delivered at least once to the
endpoints its admins set up, in order per conversation, however long a receiver is away.

The core writes each event to its outbox in the transaction of what caused it (chat/outbox.py);
here, ``endpoints.py`` owns the endpoints, ``deliveries.py`` the deliveries and their log,
``subscriptions.py`` tells the core which events to write, ``worker.py`` hands events out, claims
and sends, on the schedule of ``schedule.py``, through ``client.py`` (public addresses only),
signed by ``signer.py``, with the bodies of ``events.py``; ``rest.py`` is the admins' API.
``Webhooks`` puts them together for the lifespan (and the command line).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Mapping
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from agents.webhooks.client import Guard, SafeClient
from agents.webhooks.deliveries import Deliveries, DeliveryKeeper
from agents.webhooks.endpoints import Endpoints, interest
from agents.webhooks.schedule import Jitter
from agents.webhooks.subscriptions import Subscriptions, announce
from agents.webhooks.worker import Worker
from chat.clock import utcnow
from chat.context import AppContext
from chat.outbox import Outbox

__all__ = ["DeliveryKeeper", "Webhooks", "cli_outbox"]


async def _wanted(conn: AsyncConnection) -> Mapping[str, Collection[str]]:
    return await interest(conn)


def cli_outbox() -> Outbox:
    """An outbox for a process that keeps no interest (the command line): it reads which
    events are wanted when it first emits one."""
    return Outbox(loader=_wanted)


class Webhooks:
    def __init__(self, ctx: AppContext, *, clock: Callable[[], datetime] = utcnow,
                 jitter: Jitter | None = None) -> None:  # fmt: skip
        settings = ctx.settings
        self.hub = ctx.hub
        self.guard = Guard(settings.webhook_allowed_networks)
        self.endpoints = Endpoints(ctx.db)
        self.deliveries = Deliveries(ctx.db)
        self.subscriptions = Subscriptions(ctx.db, ctx.hub, ctx.store.outbox.interest)
        self.worker = Worker(
            ctx.db,
            SafeClient(self.guard, total=settings.webhook_timeout_seconds),
            node=uuid.uuid4().hex[:16],
            lease=timedelta(seconds=settings.webhook_lease_seconds),
            poll=settings.webhook_poll_seconds,
            clock=clock,
            jitter=jitter,
            metrics=ctx.metrics,
            disabled=self.changed,
        )

    async def start(self) -> None:
        await self.subscriptions.start()
        if self.worker.poll > 0:  # 0: this node sends nothing (another node does)
            await self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()
        await self.subscriptions.stop()

    async def changed(self, space_id: str) -> None:
        """A space's endpoints changed: this node knows at once, the others soon."""
        await self.subscriptions.refresh(space_id)
        announce(self.hub, space_id)
        self.worker.wake()
