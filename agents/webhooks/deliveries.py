"""Each event's delivery to each endpoint, and the delivery log: the one writer of
``webhook_deliveries``.

A delivery is ``pending`` (due at ``next_at``), ``sending`` (claimed by one node until
``claimed_until``), then ``delivered`` or ``failed`` (given up, or the endpoint said 410). A
node owns a delivery only when its conditional UPDATE moved it to ``sending``; past the lease,
a node that died while sending is taken for dead and the delivery is ready again (so a
delivery may arrive twice: at least once, never not at all).

Order: of a conversation's deliveries to an endpoint, one at a time is pending or sending,
the others ``waiting`` behind it, in id order (the order of the events); when it ends
(delivered or given up) the next one becomes pending, in the same transaction. So the ready
set is only ever the heads, however long a receiver has been away. Queueing and ending take
a PostgreSQL advisory lock (exclusive, shared), so that a delivery queued behind one that ends
meanwhile is never left waiting; an hourly ``heal`` would promote one anyway. Events without
a conversation are not held back.

The log keeps each delivery's last try (status, latency, the first 4 KB of the answer) for
30 days. A redelivery is a new delivery of the same event (same ``webhook-id``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from agents.models import webhook_deliveries, webhook_endpoints
from agents.webhooks.client import Answer
from chat import outbox
from chat.clock import as_utc, iso
from chat.db import Database
from chat.errors import NotFound
from chat.holds import HoldSet
from chat.keeper import Counts, Keeper
from chat.models import events_outbox

__all__ = ["Claimed", "Deliveries", "DeliveryKeeper", "Outcome", "queue"]

KEEP = timedelta(days=30)
REDELIVER_MAX = 1000  # events one redelivery of a range queues at most
ORDER_LOCK_ID = 0x0CA05E0B1  # queueing (exclusive) and ending (shared) on PostgreSQL
UNFINISHED = ("pending", "sending", "waiting")

_d = webhook_deliveries.c
_o = events_outbox.c
_earlier = webhook_deliveries.alias("earlier")
_head = webhook_deliveries.alias("head")


# a try's result: (the delivery, the answer, its new status, when to try again if pending)
Outcome = tuple["Claimed", Answer, str, datetime | None]


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    endpoint_id: str
    outbox_id: int
    attempts: int  # tries before this one
    origin: str
    conversation_id: str | None = None


def _ready(now: datetime) -> sa.ColumnElement[bool]:
    waiting = sa.and_(_d.status == "pending", _d.next_at <= now)
    abandoned = sa.and_(_d.status == "sending", _d.claimed_until < now)
    return sa.or_(waiting, abandoned)


async def _order_lock(conn: AsyncConnection, *, shared: bool = False) -> None:
    if conn.dialect.name == "postgresql":
        take = sa.func.pg_advisory_xact_lock_shared if shared else sa.func.pg_advisory_xact_lock
        await conn.execute(sa.select(take(ORDER_LOCK_ID)))


async def queue(
    conn: AsyncConnection,
    pairs: Iterable[tuple[str, outbox.OutboxEvent]],
    now: datetime,
    origin: str = "event",
) -> list[int]:
    """A delivery of each (endpoint, event), due now, in this order, on the caller's
    connection: their ids. One behind an unfinished delivery of its conversation to its
    endpoint waits for it."""
    pairs = list(pairs)
    if not pairs:
        return []
    await _order_lock(conn)
    keys = {(e, ev.conversation_id) for e, ev in pairs if ev.conversation_id is not None}
    busy: set[tuple[str, str | None]] = set()
    if keys:
        found = await conn.execute(
            sa.select(_d.endpoint_id, _d.conversation_id)
            .where(
                _d.endpoint_id.in_(sorted({e for e, _ in keys})),
                _d.conversation_id.in_(sorted({str(c) for _, c in keys})),
                _d.status.in_(UNFINISHED),
            )
            .group_by(_d.endpoint_id, _d.conversation_id)
        )
        busy = {(r.endpoint_id, r.conversation_id) for r in found}
    rows = []
    for endpoint_id, event in pairs:
        key = (endpoint_id, event.conversation_id)
        behind = event.conversation_id is not None and key in busy
        if event.conversation_id is not None:
            busy.add(key)
        rows.append(
            {
                "endpoint_id": endpoint_id,
                "outbox_id": event.id,
                "conversation_id": event.conversation_id,
                "origin": origin,
                "status": "waiting" if behind else "pending",
                "attempts": 0,
                "next_at": now,
                "created_at": now,
                "updated_at": now,
            }
        )
    made = await conn.execute(
        webhook_deliveries.insert().returning(_d.id, sort_by_parameter_order=True), rows
    )
    return [int(i) for i in made.scalars()]


def _log_row(row: Any) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "event_id": row.event_id,
        "type": row.type,
        "event_at": iso(as_utc(row.event_at)),
        "origin": row.origin,
        "status": row.status,
        "attempts": row.attempts,
        "next_at": iso(as_utc(row.next_at)) if row.status == "pending" else None,
        "response_status": row.response_status,
        "latency_ms": row.latency_ms,
        "response": row.response,
        "error": row.error,
        "created_at": iso(as_utc(row.created_at)),
        "updated_at": iso(as_utc(row.updated_at)),
        "delivered_at": iso(as_utc(row.delivered_at)) if row.delivered_at else None,
    }


class Deliveries:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- what the worker does --------------------------------------------------------------

    async def claim(
        self,
        node: str,
        now: datetime,
        lease: timedelta,
        free: Mapping[str, int],
        *,
        per_endpoint: int,
        full: Iterable[str] = (),
        limit: int = 64,
    ) -> list[Claimed]:
        """Ready deliveries this node now sends, at most ``free[endpoint]`` (else
        ``per_endpoint``) of each endpoint, none of ``full`` (whose sends are all taken)."""
        rank = sa.func.row_number().over(partition_by=_d.endpoint_id, order_by=(_d.next_at, _d.id))
        ready = (
            sa.select(_d.id, _d.endpoint_id, _d.next_at, rank.label("rank"))
            .select_from(
                webhook_deliveries.join(webhook_endpoints, webhook_endpoints.c.id == _d.endpoint_id)
            )
            .where(webhook_endpoints.c.enabled == sa.true(), _ready(now))
        )
        busy = sorted(full)
        if busy:
            ready = ready.where(_d.endpoint_id.not_in(busy))
        ranked = ready.subquery()
        async with self.db.read() as conn:
            candidates = (
                await conn.execute(
                    sa.select(ranked.c.id, ranked.c.endpoint_id)
                    .where(ranked.c.rank <= per_endpoint)
                    .order_by(ranked.c.next_at, ranked.c.id)
                    .limit(limit)
                )
            ).all()
        taken: dict[str, int] = {}
        chosen = []
        for row in candidates:
            n = taken.get(row.endpoint_id, 0)
            if n < free.get(row.endpoint_id, per_endpoint):
                taken[row.endpoint_id] = n + 1
                chosen.append(row.id)
        if not chosen:
            return []
        async with self.db.write() as conn:
            got = await conn.execute(
                webhook_deliveries.update()
                .where(_d.id.in_(chosen), _ready(now))
                .values(
                    status="sending", claimed_until=now + lease, claimed_by=node, updated_at=now
                )
                .returning(
                    _d.id, _d.endpoint_id, _d.outbox_id, _d.attempts, _d.origin, _d.conversation_id
                )
            )
            claimed = [Claimed(*row) for row in got]
        return sorted(claimed, key=lambda c: c.id)

    async def oldest_waiting(self, now: datetime) -> float:
        """Seconds the oldest due delivery has waited (0 when none)."""
        async with self.db.read() as conn:
            due = await conn.scalar(
                sa.select(sa.func.min(_d.next_at)).where(_d.status == "pending", _d.next_at <= now)
            )
        return max(0.0, (now - as_utc(due)).total_seconds()) if due is not None else 0.0

    async def record(self, node: str, now: datetime, outcomes: Iterable[Outcome]) -> None:
        """The tries this node made, in one transaction of two statements: each delivery
        delivered, failed, or pending again at its next try, if this node still holds it
        (else another node took it over past the lease, and records its own); then, for each
        conversation whose delivery ended, the next one waiting is due, unless one is still
        pending or being sent (a delivery another node took over)."""
        rows = [
            {
                "b_id": job.id,
                "b_status": status,
                "b_attempts": job.attempts + 1,
                "b_response_status": answer.status,
                "b_latency_ms": answer.latency_ms,
                "b_response": answer.text or None,
                "b_error": (answer.error or "")[:200] or None,
                "b_next_at": at,
                "b_delivered_at": now if status == "delivered" else None,
            }
            for job, answer, status, at in outcomes
        ]
        ended = sorted(
            {
                (job.endpoint_id, job.conversation_id)
                for job, _, status, _ in outcomes
                if status != "pending" and job.conversation_id is not None
            }
        )
        if not rows:
            return
        b = sa.bindparam
        async with self.db.write() as conn:
            await _order_lock(conn, shared=True)
            await conn.execute(
                webhook_deliveries.update()
                .where(_d.id == b("b_id"), _d.status == "sending", _d.claimed_by == node)
                .values(
                    status=b("b_status"),
                    attempts=b("b_attempts"),
                    claimed_until=None,
                    response_status=b("b_response_status"),
                    latency_ms=b("b_latency_ms"),
                    response=b("b_response"),
                    error=b("b_error"),
                    next_at=sa.func.coalesce(b("b_next_at", type_=_d.next_at.type), _d.next_at),
                    delivered_at=b("b_delivered_at", type_=_d.delivered_at.type),
                    updated_at=now,
                ),
                rows,
            )
            if ended:
                await self._next(conn, ended, now)

    @staticmethod
    async def _next(
        conn: AsyncConnection, keys: Sequence[tuple[str, str | None]], now: datetime
    ) -> None:
        """Of each (endpoint, conversation), the first delivery waiting is due now, unless
        one is still pending or being sent."""
        first = (
            sa.select(sa.func.min(_earlier.c.id))
            .where(
                _earlier.c.status == "waiting",
                sa.tuple_(_earlier.c.endpoint_id, _earlier.c.conversation_id).in_(keys),
            )
            .group_by(_earlier.c.endpoint_id, _earlier.c.conversation_id)
        )
        busy = sa.exists().where(
            _head.c.endpoint_id == _d.endpoint_id,
            _head.c.conversation_id == _d.conversation_id,
            _head.c.status.in_(("pending", "sending")),
        )
        await conn.execute(
            webhook_deliveries.update()
            .where(_d.id.in_(first), _d.status == "waiting", ~busy)
            .values(status="pending", next_at=now, updated_at=now)
        )

    async def heal(self, now: datetime) -> int:
        """Make due the first waiting delivery of each conversation and endpoint that has
        nothing unfinished before it (none should: a safety net, hourly). How many."""
        blocking = sa.exists().where(
            _earlier.c.endpoint_id == _d.endpoint_id,
            _earlier.c.conversation_id == _d.conversation_id,
            _earlier.c.id < _d.id,
            _earlier.c.status.in_(UNFINISHED),
        )
        async with self.db.write() as conn:
            await _order_lock(conn, shared=True)
            orphans = (
                (
                    await conn.execute(
                        sa.select(_d.id).where(_d.status == "waiting", ~blocking).limit(1000)
                    )
                )
                .scalars()
                .all()
            )
            if orphans:
                await conn.execute(
                    webhook_deliveries.update()
                    .where(_d.id.in_(orphans), _d.status == "waiting")
                    .values(status="pending", next_at=now, updated_at=now)
                )
        return len(orphans)

    async def purge(self, before: datetime, limit: int = 1000) -> int:
        ids = (
            sa.select(_d.id).where(_d.created_at < before).order_by(_d.id).limit(limit)
        ).scalar_subquery()
        async with self.db.write() as conn:
            gone = await conn.execute(webhook_deliveries.delete().where(_d.id.in_(ids)))
        return int(gone.rowcount or 0)

    # -- what admins do --------------------------------------------------------------------

    async def log(
        self, endpoint_id: str, *, limit: int = 50, before: int | None = None,
        status: str | None = None,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """The endpoint's deliveries, newest first."""
        query = (
            sa.select(
                webhook_deliveries,
                _o.event_id,
                _o.type,
                _o.created_at.label("event_at"),
            )
            .select_from(webhook_deliveries.join(events_outbox, _o.id == _d.outbox_id))
            .where(_d.endpoint_id == endpoint_id)
        )
        if before is not None:
            query = query.where(_d.id < before)
        if status is not None:
            query = query.where(_d.status == status)
        async with self.db.read() as conn:
            rows = await conn.execute(query.order_by(_d.id.desc()).limit(limit))
            return [_log_row(r) for r in rows]

    async def one(self, endpoint_id: str, delivery_id: int) -> dict[str, Any]:
        found = await self.log(endpoint_id, limit=1, before=delivery_id + 1)
        if not found or found[0]["id"] != str(delivery_id):
            raise NotFound("No such delivery.", code="delivery_not_found")
        return found[0]

    async def redeliver_event(
        self, endpoint_id: str, space_id: str, event_id: str, now: datetime
    ) -> int:
        """Send one event of the space to the endpoint again (see ``_again``): 1."""
        async with self.db.write() as conn:
            event = await outbox.find(conn, space_id, event_id)
            if event is None:
                raise NotFound("No such event.", code="event_not_found")
            return await self._again(conn, endpoint_id, {event.id: event}, now)

    async def redeliver_range(
        self, endpoint_id: str, since: datetime, until: datetime | None, now: datetime
    ) -> int:
        """Send again, in their order, the events of [since, until) this endpoint was sent
        (at most REDELIVER_MAX): how many."""
        sent = (
            sa.select(_d.outbox_id)
            .join(events_outbox, _o.id == _d.outbox_id)
            .where(_d.endpoint_id == endpoint_id, _o.created_at >= since)
        )
        if until is not None:
            sent = sent.where(_o.created_at < until)
        sent = sent.group_by(_d.outbox_id).order_by(_d.outbox_id).limit(REDELIVER_MAX)
        async with self.db.write() as conn:
            ids = list((await conn.execute(sent)).scalars())
            return await self._again(conn, endpoint_id, await outbox.events_of(conn, ids), now)

    @staticmethod
    async def _again(
        conn: AsyncConnection,
        endpoint_id: str,
        found: Mapping[int, outbox.OutboxEvent],
        now: datetime,
    ) -> int:
        """Each event again: one still waiting for a retry is due now (after an outage, no
        need to wait hours for the schedule), one being sent or waiting its turn is left to
        it, any other is queued anew (the same webhook-id). How many."""
        ids = sorted(found)
        unfinished = set(
            (
                await conn.execute(
                    sa.select(_d.outbox_id).where(
                        _d.endpoint_id == endpoint_id,
                        _d.outbox_id.in_(ids),
                        _d.status.in_(UNFINISHED),
                    )
                )
            ).scalars()
        )
        await conn.execute(
            webhook_deliveries.update()
            .where(
                _d.endpoint_id == endpoint_id,
                _d.outbox_id.in_(ids),
                _d.status == "pending",
                _d.next_at > now,
            )
            .values(next_at=now, updated_at=now)
        )
        pairs = [(endpoint_id, found[i]) for i in ids if i not in unfinished]
        await queue(conn, pairs, now, origin="redelivery")
        return len(ids)

    async def test(
        self, endpoint_id: str, space_id: str, now: datetime, request_id: str | None
    ) -> int:
        """A ``webhook.test`` event for this endpoint only: the delivery's id."""
        data = {"endpoint_id": endpoint_id, "message": "A test event from causette."}
        async with self.db.write() as conn:
            event = await outbox.add(
                conn, space_id, "webhook.test", data, now, request_id=request_id
            )
            [new] = await queue(conn, [(endpoint_id, event)], now, origin="test")
        return new


class DeliveryKeeper(Keeper):
    """The log of a conversation's deliveries goes with the conversation, and with its
    visitor's erasure (an answer may quote what it was sent); that of the visitor's own
    events with them. Listed before the core's EventsKeeper: the counts are of this table."""

    conversation_columns = (webhook_deliveries.c.conversation_id,)

    async def count_events(
        self, conn: AsyncConnection, space_id: str, cutoff: datetime, holds: HoldSet
    ) -> Counts:
        n = await conn.scalar(
            sa.select(sa.func.count()).where(self._of_events(space_id, cutoff, holds))
        )
        return {"webhook_deliveries": int(n or 0)}

    @staticmethod
    def _of_events(space_id: str, cutoff: datetime, holds: HoldSet) -> sa.ColumnElement[bool]:
        expired = sa.select(_o.id).where(outbox.EventsKeeper.expired(space_id, cutoff, holds))
        return _d.outbox_id.in_(expired.scalar_subquery())

    async def purge_events(
        self, conn: AsyncConnection, space_id: str, cutoff: datetime, holds: HoldSet, limit: int
    ) -> Counts:
        ids = (
            sa.select(_d.id)
            .where(self._of_events(space_id, cutoff, holds))
            .order_by(_d.id)
            .limit(limit)
            .scalar_subquery()
        )
        gone = await conn.execute(webhook_deliveries.delete().where(_d.id.in_(ids)))
        return {"webhook_deliveries": int(gone.rowcount or 0)}

    async def erase_visitor(
        self,
        conn: AsyncConnection,
        space_id: str,
        visitor_id: str,
        anonymous_id: str,
        conversation_ids: list[str],
        holds: HoldSet,
    ) -> Counts:
        own = sa.select(_o.id).where(
            outbox.EventsKeeper.of_visitors(space_id),
            _o.visitor_id == visitor_id,
            sa.not_(holds.keeps_event(_o.visitor_id, _o.created_at)),
        )
        mine: sa.ColumnElement[bool] = _d.outbox_id.in_(own.scalar_subquery())
        if conversation_ids:
            mine = sa.or_(mine, _d.conversation_id.in_(conversation_ids))
        gone = await conn.execute(webhook_deliveries.delete().where(mine))
        return {"webhook_deliveries": int(gone.rowcount or 0)}
