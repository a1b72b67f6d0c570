"""The delivery worker, one per node, a background task of the lifespan. Each look (every
``poll`` seconds, or sooner when a send ends):

1. hands new events out (chat/outbox.py ``take``, one node at a time): a delivery of each to
   every enabled endpoint of its space that wants its type, in the same transaction; the
   exposures of one look are batched into one ``campaign.exposure`` event per space;
2. claims what is ready (agents/webhooks/deliveries.py: a lease, the order per conversation),
   at most ``per_endpoint`` sends per endpoint at once and ``max_in_flight`` in all, and
   sends each in a task of its own: a slow endpoint fills its own slots only, never another
   endpoint's, and nothing here is on the chat's path;
3. records the answers of the sends that ended since the last look, in one transaction: a
   2xx is delivered; a 410 disables the endpoint; anything else (no answer, a redirect, an
   error) is tried again on the schedule (schedule.py). A conversation's next delivery is
   made due as its previous one ends.

About once an hour it also deletes what is past 30 days: the delivery log and the events
handed out. ``clock`` and ``jitter`` are the test's to set; ``step`` and ``settle`` let a
test drive it without the background task.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from agents.webhooks import events
from agents.webhooks.client import Answer, SafeClient
from agents.webhooks.deliveries import KEEP, Claimed, Deliveries, Outcome, queue
from agents.webhooks.endpoints import Endpoint, Endpoints
from agents.webhooks.schedule import Jitter, next_try, uniform
from agents.webhooks.signer import signed_headers
from chat import outbox
from chat.clock import utcnow
from chat.db import Database, is_outage
from chat.logging import get_logger
from chat.models import spaces

if TYPE_CHECKING:
    from chat.metrics import Metrics

__all__ = ["Worker"]

log = get_logger("causette.webhooks")

PAUSE = 5.0  # seconds after the database failed
HAND_OUT = 500  # events handed out per transaction
CLEANUP_EVERY = 3600.0
BACKLOG_EVERY = 5.0  # seconds between two readings of the backlog, for the metrics


class Worker:
    def __init__(
        self,
        db: Database,
        client: SafeClient,
        *,
        node: str,
        lease: timedelta,
        poll: float = 1.0,
        per_endpoint: int = 4,
        max_in_flight: int = 64,
        clock: Callable[[], datetime] = utcnow,
        jitter: Jitter | None = None,
        metrics: Metrics | None = None,
        disabled: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.db = db
        self.client = client
        self.deliveries = Deliveries(db)
        self.endpoints = Endpoints(db)
        self.node = node
        self.lease = lease
        self.poll = poll
        self.per_endpoint = per_endpoint
        self.max_in_flight = max_in_flight
        self.clock = clock
        self.jitter = jitter or uniform
        self.metrics = metrics
        self.disabled = disabled  # told of a space whose endpoint a 410 disabled
        self._in_flight: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._finished: list[tuple[Claimed, Endpoint, outbox.OutboxEvent, Answer]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._cleaned = time.monotonic() - CLEANUP_EVERY + 60.0  # the first a minute in
        self._measured = 0.0

    # -- lifetime --------------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhook-worker")
        log.info("webhook_worker_started", node=self.node)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            await self.flush()  # what was answered already: not sent again past the lease
        except Exception:
            log.warning("webhook_record_failed", exc_info=True)
        await self.client.close()

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            pause = self.poll
            try:
                await self.step()
                if time.monotonic() - self._cleaned >= CLEANUP_EVERY:
                    self._cleaned = time.monotonic()
                    await self.cleanup()
            except Exception as exc:  # the worker outlives any one failure: it looks later
                if is_outage(exc):
                    log.warning("webhook_store_unavailable", error=type(exc).__name__)
                else:
                    log.exception("webhook_worker_failed")
                pause = PAUSE
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), pause)

    # -- one look --------------------------------------------------------------------------

    async def step(self) -> int:
        """Record what was sent, hand new events out, claim what is ready, start sending it:
        how many sends began."""
        await self.flush()
        while await self.hand_out() == HAND_OUT:
            pass
        started = await self._dispatch()
        if self.metrics is not None and time.monotonic() - self._measured >= BACKLOG_EVERY:
            self._measured = time.monotonic()
            self.metrics.webhook_backlog(await self.deliveries.oldest_waiting(self.clock()))
        return started

    async def settle(self) -> None:
        """Wait for every send begun to end, and record them."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.flush()

    async def hand_out(self) -> int:
        """New events become deliveries, in one transaction: how many events."""
        async with self.db.read() as conn:
            if not await outbox.any_waiting(conn):
                return 0  # no write transaction for nothing
        now = self.clock()
        async with self.db.write() as conn:
            taken = await outbox.take(conn, now, HAND_OUT)
            if not taken:
                return 0
            targets: dict[str, list[Endpoint]] = {}
            for endpoint in await Endpoints.of_spaces(conn, {e.space_id for e in taken}):
                targets.setdefault(endpoint.space_id, []).append(endpoint)
            pairs: list[tuple[str, outbox.OutboxEvent]] = []
            exposures: dict[str, list[outbox.OutboxEvent]] = {}
            for event in taken:
                if event.type == "campaign.exposure":
                    exposures.setdefault(event.space_id, []).append(event)
                    continue
                pairs += [
                    (t.id, event) for t in targets.get(event.space_id, ()) if event.type in t.events
                ]
            for space_id, seen in exposures.items():
                wanting = [t for t in targets.get(space_id, ()) if "campaign.exposure" in t.events]
                if wanting:  # one event for the batch, its exposures read when it is sent
                    batch = await outbox.add(
                        conn, space_id, "campaign.exposure", {"batch": [e.id for e in seen]}, now
                    )
                    pairs += [(t.id, batch) for t in wanting]
            await queue(conn, pairs, now)
        return len(taken)

    async def _dispatch(self) -> int:
        room = self.max_in_flight - sum(self._in_flight.values())
        if room <= 0:
            return 0
        full = {e for e, n in self._in_flight.items() if n >= self.per_endpoint}
        free = {e: self.per_endpoint - n for e, n in self._in_flight.items()}
        jobs = await self.deliveries.claim(
            self.node,
            self.clock(),
            self.lease,
            free,
            per_endpoint=self.per_endpoint,
            full=full,
            limit=room,
        )
        if not jobs:
            return 0
        found = await self._context(jobs)
        for job in jobs:
            if job.id not in found:
                continue  # its endpoint or its event went in between (deleted, erased)
            self._in_flight[job.endpoint_id] = self._in_flight.get(job.endpoint_id, 0) + 1
            task = asyncio.create_task(self._send(job, *found[job.id]), name="webhook-send")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(found)

    async def _context(
        self, jobs: list[Claimed]
    ) -> dict[int, tuple[Endpoint, outbox.OutboxEvent, dict[str, object], str]]:
        """For each claimed delivery: its endpoint, its event, its data and its space's key."""
        async with self.db.read() as conn:
            endpoints = await Endpoints.by_ids(conn, {j.endpoint_id for j in jobs})
            found = await outbox.events_of(conn, {j.outbox_id for j in jobs})
            members = await outbox.events_of(
                conn,
                {
                    i
                    for e in found.values()
                    for i in e.payload.get("batch", ())
                    if isinstance(i, int)
                },
            )
            keys = {
                r.id: r.key
                for r in await conn.execute(
                    sa.select(spaces.c.id, spaces.c.key).where(
                        spaces.c.id.in_(sorted({e.space_id for e in found.values()}))
                    )
                )
            }
        out = {}
        for job in jobs:
            endpoint, event = endpoints.get(job.endpoint_id), found.get(job.outbox_id)
            if endpoint is None or event is None:
                continue
            batch = [members[i] for i in event.payload.get("batch", ()) if i in members]
            data = events.data_of(event, batch)
            out[job.id] = (endpoint, event, data, keys.get(event.space_id, ""))
        return out

    async def _send(
        self,
        job: Claimed,
        endpoint: Endpoint,
        event: outbox.OutboxEvent,
        data: dict[str, object],
        space_key: str,
    ) -> None:
        try:
            now = self.clock()
            body = events.body(event, data, space_key, is_minimal=endpoint.minimal)
            headers = signed_headers(endpoint.keys(now), event.event_id, now, body)
            if event.request_id:
                headers["causette-request-id"] = event.request_id
            answer = await self.client.post(endpoint.id, endpoint.url, body, headers)
            self._finished.append((job, endpoint, event, answer))
        except Exception:  # it stays claimed: ready again past its lease
            log.exception("webhook_send_failed", endpoint_id=endpoint.id)
        finally:
            left = self._in_flight.get(job.endpoint_id, 1) - 1
            if left > 0:
                self._in_flight[job.endpoint_id] = left
            else:
                self._in_flight.pop(job.endpoint_id, None)
            self._wake.set()  # a result to record, and a slot free

    async def flush(self) -> int:
        """Record the tries that ended, in one transaction (a failure to record leaves them
        claimed: tried again past their lease). How many."""
        done, self._finished = self._finished, []
        if not done:
            return 0
        now = self.clock()
        outcomes: list[Outcome] = []
        for job, _, _, answer in done:
            if answer.ok:
                outcomes.append((job, answer, "delivered", None))
            elif answer.status == 410:
                outcomes.append((job, answer, "failed", None))
            else:
                at = next_try(job.attempts + 1, now, answer.retry_after, self.jitter)
                outcomes.append((job, answer, "pending" if at else "failed", at))
        await self.deliveries.record(self.node, now, outcomes)
        for (job, endpoint, event, answer), (_, _, status, at) in zip(done, outcomes, strict=True):
            context = {
                "endpoint_id": endpoint.id,
                "event_id": event.event_id,
                "type": event.type,
                "attempt": job.attempts + 1,
                "status": answer.status,
                "latency_ms": answer.latency_ms,
            }
            if status == "delivered":
                self._count("delivered")
                log.info("webhook_delivered", **context)
            elif answer.status == 410:
                self._count("failed")
                log.warning("webhook_endpoint_gone", **context)
                space_id = await self.endpoints.disable(endpoint.id, "410 Gone")
                if space_id is not None and self.disabled is not None:
                    await self.disabled(space_id)
            elif status == "failed":
                self._count("failed")
                log.warning("webhook_given_up", error=answer.error, **context)
            else:
                assert at is not None
                self._count("retried")
                wait = (at - now).total_seconds()
                log.info("webhook_retry", error=answer.error, wait=wait, **context)
        return len(done)

    def _count(self, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.webhook_delivered(outcome)

    async def cleanup(self) -> tuple[int, int]:
        """Delete the log and the events handed out past 30 days: (deliveries, events); and
        make due any delivery left waiting with nothing before it (a safety net)."""
        if healed := await self.deliveries.heal(self.clock()):
            log.warning("webhook_deliveries_healed", deliveries=healed)
        before = self.clock() - KEEP
        deliveries = events_gone = 0
        while n := await self.deliveries.purge(before):
            deliveries += n
        while True:
            async with self.db.write() as conn:
                n = await outbox.purge(conn, before)
            events_gone += n
            if n == 0:
                break
        if deliveries or events_gone:
            log.info("webhook_cleanup", deliveries=deliveries, events=events_gone)
        return deliveries, events_gone
