"""The events outbox: what happened (a message, a conversation assigned, a rating...), written
by the owner of the change on its own connection, in the transaction that made it happen, for
webhooks (agents/webhooks/) to deliver. The one writer of ``events_outbox``.

An event is written only when some endpoint of its space wants its type: ``Interest`` is this
node's small map of which types have a subscriber in which space (kept by agents/webhooks/,
told of every change through the broker). Chat traffic of a space without webhooks costs one
dictionary lookup.

The consumer hands rows out once (``take``: one node at a time, in id order), which is the
order in which a conversation's events were committed: each is written after the change took
the conversation's row lock. Rows stay 30 days after, for redelivery, unless erasure or
retention (``EventsKeeper``) deletes them first: queued payloads hold message bodies and
visitor names.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from chat.clock import as_utc, iso, utcnow
from chat.holds import HoldSet
from chat.keeper import Counts, Keeper
from chat.models import events_outbox

__all__ = [
    "EVENT_TYPES",
    "PG_MESSAGE_EVENTS",
    "SQLITE_INSERT",
    "EventType",
    "EventsKeeper",
    "Interest",
    "Outbox",
    "OutboxEvent",
    "add",
    "any_waiting",
    "conversation_data",
    "current_request_id",
    "events_of",
    "find",
    "message_data",
    "new_event_id",
    "purge",
    "sqlite_row",
    "take",
]

EventType = Literal[
    "message.created",
    "conversation.created",
    "conversation.assigned",
    "conversation.status_changed",
    "csat.submitted",
    "campaign.exposure",
    "goal.converted",
    "visitor.erased",
    "retention.completed",
    "webhook.test",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
HANDOUT_LOCK_ID = 0x0CA05E0B0  # PostgreSQL advisory lock: one node hands events out at a time

_o = events_outbox.c

Loader = Callable[[AsyncConnection], Awaitable[Mapping[str, Collection[str]]]]


def new_event_id() -> str:
    return "evt_" + uuid.uuid4().hex


def current_request_id() -> str | None:
    """The id of the request or socket this task serves (chat/middleware.py binds it)."""
    value = structlog.contextvars.get_contextvars().get("request_id")
    return value if isinstance(value, str) else None


class Interest:
    """Which event types have a subscriber (an enabled endpoint) in which space, as this
    node last read it."""

    def __init__(self) -> None:
        self.loaded = False
        self._spaces: dict[str, frozenset[str]] = {}
        self._by_type: dict[str, frozenset[str]] = {}

    def wants(self, space_id: str, type: str) -> bool:
        types = self._spaces.get(space_id)
        return types is not None and type in types

    def spaces(self, type: str) -> frozenset[str]:
        """The spaces that want this type (empty for most deployments)."""
        return self._by_type.get(type, frozenset())

    def replace(self, wanted: Mapping[str, Collection[str]]) -> None:
        self._spaces = {s: frozenset(t) for s, t in wanted.items() if t}
        self._index()
        self.loaded = True

    def update(self, space_id: str, types: Collection[str]) -> None:
        if types:
            self._spaces[space_id] = frozenset(types)
        else:
            self._spaces.pop(space_id, None)
        self._index()

    def _index(self) -> None:
        by_type: dict[str, set[str]] = {}
        for space_id, types in self._spaces.items():
            for t in types:
                by_type.setdefault(t, set()).add(space_id)
        self._by_type = {t: frozenset(s) for t, s in by_type.items()}


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    id: int
    event_id: str
    space_id: str
    type: str
    conversation_id: str | None
    visitor_id: str | None
    payload: dict[str, Any]
    created_at: datetime
    request_id: str | None


def _event(row: Any) -> OutboxEvent:
    return OutboxEvent(
        id=int(row.id),
        event_id=row.event_id,
        space_id=row.space_id,
        type=row.type,
        conversation_id=row.conversation_id,
        visitor_id=row.visitor_id,
        payload=row.payload if isinstance(row.payload, dict) else {},
        created_at=as_utc(row.created_at),
        request_id=row.request_id,
    )


class Outbox:
    """What the owners of changes emit through. ``loader`` reads the interest when nobody
    keeps it (a command-line process): on first use, on the emitter's connection."""

    def __init__(self, loader: Loader | None = None) -> None:
        self.interest = Interest()
        self.loader = loader

    def wants(self, space_id: str, type: str) -> bool:
        return self.interest.wants(space_id, type)

    async def wanted(self, conn: AsyncConnection, space_id: str, type: str) -> bool:
        if not self.interest.loaded and self.loader is not None:
            self.interest.replace(await self.loader(conn))
        return self.interest.wants(space_id, type)

    async def emit(
        self,
        conn: AsyncConnection,
        space_id: str,
        type: str,
        payload: dict[str, Any],
        *,
        conversation_id: str | None = None,
        visitor_id: str | None = None,
        at: datetime | None = None,
    ) -> str | None:
        """Write the event in the caller's transaction if its space wants it: its id."""
        if not await self.wanted(conn, space_id, type):
            return None
        event_id = new_event_id()
        await conn.execute(
            events_outbox.insert().values(
                event_id=event_id,
                space_id=space_id,
                type=type,
                conversation_id=conversation_id,
                visitor_id=visitor_id,
                payload=payload,
                created_at=at or utcnow(),
                request_id=current_request_id(),
            )
        )
        return event_id


# -- the payloads of the core's events --------------------------------------------------------


def message_data(
    *,
    conversation_id: str,
    visitor_id: str,
    message_id: int,
    seq: int,
    client_id: str,
    author_kind: str,
    author_id: str | None,
    author_name: str | None,
    body: str,
    created_at: datetime,
) -> dict[str, Any]:
    return {
        "conversation_id": conversation_id,
        "visitor_id": visitor_id,
        "message": {
            "id": str(message_id),
            "seq": seq,
            "client_id": client_id,
            "author": {"kind": author_kind, "id": author_id, "name": author_name},
            "body": body,
            "created_at": iso(created_at),
        },
    }


def conversation_data(conv: Any) -> dict[str, Any]:
    """A conversation (chat/store.py's, or a row of its table) as events carry it."""
    return {
        "conversation": {
            "id": conv.id,
            "visitor_id": conv.visitor_id,
            "status": conv.status,
            "assignee_id": conv.assignee_id,
            "team_id": conv.team_id,
            "created_at": iso(conv.created_at),
            "updated_at": iso(conv.updated_at),
        }
    }


# -- the batch writer's statements (chat/writer.py runs them in its own transaction) ----------

# SQLite: one executemany per batch, the rows from ``sqlite_row``
SQLITE_INSERT = """
    INSERT INTO events_outbox (event_id, space_id, type, conversation_id, visitor_id, payload,
        created_at, request_id)
    VALUES (?, ?, 'message.created', ?, ?, ?, ?, ?)"""


def sqlite_row(
    data: dict[str, Any], space_id: str, request_id: str | None, stamp: str
) -> tuple[Any, ...]:
    return (
        new_event_id(),
        space_id,
        data["conversation_id"],
        data["visitor_id"],
        json.dumps(data, ensure_ascii=False),
        stamp,
        request_id,
    )


# PostgreSQL: a CTE of the batch statement, over its ``ins`` (messages inserted), ``bump``
# (their conversations) and ``numbered`` (the input, with the author's name ``aname``, the
# request id ``rid`` and a fresh event id ``evid``); $7 the spaces that want message.created,
# $6 the time and $11 its ISO text
PG_MESSAGE_EVENTS = """,
events AS (
    INSERT INTO events_outbox
        (event_id, space_id, type, conversation_id, visitor_id, payload, created_at, request_id)
    SELECT n.evid, b.space_id, 'message.created', n.conv, b.visitor_id,
        json_build_object(
            'conversation_id', n.conv,
            'visitor_id', b.visitor_id,
            'message', json_build_object(
                'id', i.id::text, 'seq', i.seq, 'client_id', n.cid,
                'author', json_build_object('kind', n.kind, 'id', n.author, 'name', n.aname),
                'body', n.body, 'created_at', $11::text)),
        $6, n.rid
    FROM ins i
    JOIN bump b ON b.id = i.conversation_id
    JOIN numbered n ON n.conv = i.conversation_id AND n.cid = i.client_id
    WHERE b.space_id = ANY($7::text[])
    ORDER BY i.conversation_id, i.seq
)"""


# -- what the consumer does (agents/webhooks/) ------------------------------------------------


async def take(conn: AsyncConnection, now: datetime, limit: int = 500) -> list[OutboxEvent]:
    """The oldest events not handed out yet, now handed out, in id order: in the caller's
    transaction, which writes what it makes of them before it commits. On PostgreSQL one
    node at a time (the others find nothing and come back later): two nodes taking turns
    could otherwise commit a conversation's later event before its earlier one."""
    if conn.dialect.name == "postgresql":
        got = await conn.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(HANDOUT_LOCK_ID)))
        if not got:
            return []
    oldest = (
        sa.select(_o.id)
        .where(_o.dispatched_at.is_(None))
        .order_by(_o.id)
        .limit(limit)
        .scalar_subquery()
    )
    rows = await conn.execute(
        events_outbox.update()
        .where(_o.id.in_(oldest), _o.dispatched_at.is_(None))
        .values(dispatched_at=now)
        .returning(*events_outbox.c)
    )
    return sorted((_event(r) for r in rows), key=lambda e: e.id)


async def add(
    conn: AsyncConnection,
    space_id: str,
    type: str,
    payload: dict[str, Any],
    now: datetime,
    *,
    request_id: str | None = None,
) -> OutboxEvent:
    """An event made by the consumer itself (a test event, a batch of exposures), handed
    out already."""
    row = (
        await conn.execute(
            events_outbox.insert()
            .values(
                event_id=new_event_id(),
                space_id=space_id,
                type=type,
                payload=payload,
                created_at=now,
                request_id=request_id,
                dispatched_at=now,
            )
            .returning(*events_outbox.c)
        )
    ).one()
    return _event(row)


async def events_of(conn: AsyncConnection, ids: Collection[int]) -> dict[int, OutboxEvent]:
    if not ids:
        return {}
    rows = await conn.execute(sa.select(events_outbox).where(_o.id.in_(sorted(ids))))
    return {int(r.id): _event(r) for r in rows}


async def find(conn: AsyncConnection, space_id: str, event_id: str) -> OutboxEvent | None:
    row = (
        await conn.execute(
            sa.select(events_outbox).where(_o.space_id == space_id, _o.event_id == event_id)
        )
    ).first()
    return _event(row) if row is not None else None


async def any_waiting(conn: AsyncConnection) -> bool:
    """Whether some event waits to be handed out (a read: most looks find none)."""
    found = await conn.execute(sa.select(_o.id).where(_o.dispatched_at.is_(None)).limit(1))
    return found.first() is not None


async def purge(conn: AsyncConnection, before: datetime, limit: int = 1000) -> int:
    """Delete at most ``limit`` events handed out and written before ``before`` (with them
    go their deliveries, by their foreign key)."""
    ids = (
        sa.select(_o.id)
        .where(_o.created_at < before, _o.dispatched_at.is_not(None))
        .order_by(_o.id)
        .limit(limit)
        .scalar_subquery()
    )
    gone = await conn.execute(events_outbox.delete().where(_o.id.in_(ids)))
    return int(gone.rowcount or 0)


# -- retention and erasure --------------------------------------------------------------------


class EventsKeeper(Keeper):
    """Queued events go with their conversation (retention of messages, erasure); the
    visitor's own (exposures, conversions) with the ``events`` kind, and with its erasure.
    An erasure's own ``visitor.erased`` names no one and stays."""

    conversation_columns = (events_outbox.c.conversation_id,)

    @staticmethod
    def of_visitors(space_id: str) -> sa.ColumnElement[bool]:
        """True of the space's events about a visitor but no conversation."""
        return sa.and_(
            _o.space_id == space_id, _o.conversation_id.is_(None), _o.visitor_id.is_not(None)
        )

    @staticmethod
    def expired(space_id: str, cutoff: datetime, holds: HoldSet) -> sa.ColumnElement[bool]:
        """True of the space's visitor events (not a conversation's) past ``cutoff``, not
        held: the ``events`` kind of retention."""
        return sa.and_(
            EventsKeeper.of_visitors(space_id),
            _o.created_at < cutoff,
            sa.not_(holds.keeps_event(_o.visitor_id, _o.created_at)),
        )

    async def count_events(
        self, conn: AsyncConnection, space_id: str, cutoff: datetime, holds: HoldSet
    ) -> Counts:
        n = await conn.scalar(
            sa.select(sa.func.count()).where(self.expired(space_id, cutoff, holds))
        )
        return {"events_outbox": int(n or 0)}

    async def purge_events(
        self, conn: AsyncConnection, space_id: str, cutoff: datetime, holds: HoldSet, limit: int
    ) -> Counts:
        ids = (
            sa.select(_o.id)
            .where(self.expired(space_id, cutoff, holds))
            .order_by(_o.id)
            .limit(limit)
            .scalar_subquery()
        )
        gone = await conn.execute(events_outbox.delete().where(_o.id.in_(ids)))
        return {"events_outbox": int(gone.rowcount or 0)}

    async def erase_visitor(
        self,
        conn: AsyncConnection,
        space_id: str,
        visitor_id: str,
        anonymous_id: str,
        conversation_ids: list[str],
        holds: HoldSet,
    ) -> Counts:
        mine: sa.ColumnElement[bool] = sa.and_(
            self.of_visitors(space_id),
            _o.visitor_id == visitor_id,
            sa.not_(holds.keeps_event(_o.visitor_id, _o.created_at)),
        )
        if conversation_ids:
            mine = sa.or_(mine, _o.conversation_id.in_(conversation_ids))
        gone = await conn.execute(events_outbox.delete().where(mine))
        return {"events_outbox": int(gone.rowcount or 0)}
