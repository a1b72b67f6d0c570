"""Legal holds: what neither retention nor erasure may delete, whatever its age.

A hold covers a whole space, one visitor, one conversation, or what happened in a date range
(a conversation that was active at some point of the range, an event or an audit entry dated
in it). Placing and releasing one needs a reason and is audited in the same transaction.
A release only ends the hold: the data goes back to the normal schedule and is deleted by
the next retention run if it is past its period, never by the release itself.

``HoldSet`` is what the retention job and erasure consult: the space's active holds, turned
into SQL conditions on each table's columns.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chat.audit import Actor, record
from chat.clock import as_utc, iso, utcnow
from chat.db import Database
from chat.errors import InvalidRequest, NotFound
from chat.models import conversations, legal_holds, visitors

__all__ = ["Hold", "HoldSet", "Holds", "active_holds"]

Scope = Literal["space", "visitor", "conversation", "range"]
MAX_REASON = 2000


@dataclass(frozen=True, slots=True)
class Hold:
    id: str
    space_id: str
    scope: str
    visitor_id: str | None
    conversation_id: str | None
    since: datetime | None
    until: datetime | None
    reason: str
    placed_by: str | None
    placed_at: datetime
    released_at: datetime | None
    released_by: str | None

    def public(self, space_key: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "space": space_key,
            "scope": self.scope,
            "visitor_id": self.visitor_id,
            "conversation_id": self.conversation_id,
            "since": iso(self.since) if self.since else None,
            "until": iso(self.until) if self.until else None,
            "reason": self.reason,
            "placed_by": self.placed_by,
            "placed_at": iso(self.placed_at),
            "released_at": iso(self.released_at) if self.released_at else None,
            "released_by": self.released_by,
            "active": self.released_at is None,
        }

    def describe(self) -> str:
        if self.scope == "space":
            return "the whole space"
        if self.scope == "visitor":
            return f"visitor {self.visitor_id}"
        if self.scope == "conversation":
            return f"conversation {self.conversation_id}"
        return (
            f"{iso(self.since) if self.since else '…'} to {iso(self.until) if self.until else '…'}"
        )


def _hold(row: Any) -> Hold:
    return Hold(
        id=row.id,
        space_id=row.space_id,
        scope=row.scope,
        visitor_id=row.visitor_id,
        conversation_id=row.conversation_id,
        since=as_utc(row.since) if row.since else None,
        until=as_utc(row.until) if row.until else None,
        reason=row.reason,
        placed_by=row.placed_by,
        placed_at=as_utc(row.placed_at),
        released_at=as_utc(row.released_at) if row.released_at else None,
        released_by=row.released_by,
    )


@dataclass(frozen=True, slots=True)
class HoldSet:
    """A space's active holds, as conditions: each ``keeps_*`` is true of the rows held."""

    holds: tuple[Hold, ...] = ()
    whole_space: bool = False
    visitors: frozenset[str] = frozenset()
    conversations: frozenset[str] = frozenset()
    ranges: tuple[tuple[datetime | None, datetime | None], ...] = field(default=())

    @classmethod
    def of(cls, holds: Collection[Hold]) -> HoldSet:
        active = tuple(h for h in holds if h.released_at is None)
        return cls(
            holds=active,
            whole_space=any(h.scope == "space" for h in active),
            visitors=frozenset(h.visitor_id for h in active if h.visitor_id),
            conversations=frozenset(h.conversation_id for h in active if h.conversation_id),
            ranges=tuple((h.since, h.until) for h in active if h.scope == "range"),
        )

    def _overlaps(self, start: Any, end: Any) -> list[sa.ColumnElement[bool]]:
        found: list[sa.ColumnElement[bool]] = []
        for since, until in self.ranges:
            parts: list[sa.ColumnElement[bool]] = []
            if until is not None:
                parts.append(start < until)
            if since is not None:
                parts.append(end >= since)
            found.append(sa.and_(sa.true(), *parts))
        return found

    def keeps_conversation(
        self, id_col: Any, visitor_col: Any, start_col: Any, end_col: Any
    ) -> sa.ColumnElement[bool]:
        """True of a conversation held: its own hold, its visitor's, or a range it was
        active in (from its creation to its last change)."""
        if self.whole_space:
            return sa.true()
        conds: list[sa.ColumnElement[bool]] = []
        if self.conversations:
            conds.append(id_col.in_(sorted(self.conversations)))
        if self.visitors:
            conds.append(visitor_col.in_(sorted(self.visitors)))
        conds.extend(self._overlaps(start_col, end_col))
        return sa.or_(sa.false(), *conds)

    def keeps_event(self, visitor_col: Any, at_col: Any) -> sa.ColumnElement[bool]:
        """True of an event (a goal event, an exposure, a conversion) held."""
        if self.whole_space:
            return sa.true()
        conds: list[sa.ColumnElement[bool]] = []
        if self.visitors and visitor_col is not None:
            conds.append(visitor_col.in_(sorted(self.visitors)))
        conds.extend(self._overlaps(at_col, at_col))
        return sa.or_(sa.false(), *conds)

    def keeps_visitor(self, id_col: Any, created_col: Any) -> sa.ColumnElement[bool]:
        if self.whole_space:
            return sa.true()
        conds: list[sa.ColumnElement[bool]] = []
        if self.visitors:
            conds.append(id_col.in_(sorted(self.visitors)))
        conds.extend(self._overlaps(created_col, created_col))
        return sa.or_(sa.false(), *conds)

    def keeps_entry(self, at_col: Any) -> sa.ColumnElement[bool]:
        """True of an audit entry held (the whole space, or a range it is dated in)."""
        if self.whole_space:
            return sa.true()
        return sa.or_(sa.false(), *self._overlaps(at_col, at_col))

    def reasons_for_visitor(self, visitor_id: str) -> list[dict[str, Any]]:
        """The holds that keep all of a visitor (its space's, its own)."""
        return [
            {"hold": h.id, "scope": h.scope, "reason": h.reason}
            for h in self.holds
            if h.scope == "space" or (h.scope == "visitor" and h.visitor_id == visitor_id)
        ]


async def active_holds(conn: AsyncConnection, space_id: str) -> HoldSet:
    rows = await conn.execute(
        sa.select(legal_holds).where(
            legal_holds.c.space_id == space_id, legal_holds.c.released_at.is_(None)
        )
    )
    return HoldSet.of([_hold(r) for r in rows])


class Holds:
    """The legal_holds table's owner."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def place(
        self,
        actor: Actor,
        space_id: str,
        scope: Scope,
        *,
        reason: str,
        visitor_id: str | None = None,
        conversation_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Hold:
        reason = (reason or "").strip()
        if not reason:
            raise InvalidRequest("A hold needs a reason.", ref="reason")
        if len(reason) > MAX_REASON:
            raise InvalidRequest(f"A reason is at most {MAX_REASON} characters.", ref="reason")
        if scope == "range":
            if since is None and until is None:
                raise InvalidRequest("A range hold needs since, until or both.", ref="since")
            if since is not None and until is not None and since >= until:
                raise InvalidRequest("since must come before until.", ref="until")
        now = utcnow()
        hold_id = str(uuid.uuid4())
        async with self.db.write() as conn:
            if scope == "visitor":
                found = await conn.scalar(
                    sa.select(visitors.c.id).where(
                        visitors.c.id == (visitor_id or ""), visitors.c.space_id == space_id
                    )
                )
                if found is None:
                    raise NotFound("No such visitor.", code="visitor_not_found")
            elif scope == "conversation":
                found = await conn.scalar(
                    sa.select(conversations.c.id).where(
                        conversations.c.id == (conversation_id or ""),
                        conversations.c.space_id == space_id,
                    )
                )
                if found is None:
                    raise NotFound("No such conversation.", code="conversation_not_found")
            values = {
                "id": hold_id,
                "space_id": space_id,
                "scope": scope,
                "visitor_id": visitor_id if scope == "visitor" else None,
                "conversation_id": conversation_id if scope == "conversation" else None,
                "since": since if scope == "range" else None,
                "until": until if scope == "range" else None,
                "reason": reason,
                "placed_by": actor.name,
                "placed_at": now,
            }
            await conn.execute(legal_holds.insert().values(**values))
            hold = _hold(SimpleNamespace(**values, released_at=None, released_by=None))
            await record(
                conn,
                actor,
                "hold.place",
                space_id=space_id,
                target_kind="hold",
                target_id=hold_id,
                target={"scope": scope, "covers": hold.describe()},
                reason=reason,
            )
        return hold

    async def release(
        self, actor: Actor, hold_id: str, space_ids: Collection[str], *, reason: str | None = None
    ) -> Hold:
        async with self.db.write() as conn:
            row = (
                await conn.execute(
                    sa.select(legal_holds).where(
                        legal_holds.c.id == hold_id, legal_holds.c.space_id.in_(list(space_ids))
                    )
                )
            ).first()
            if row is None:
                raise NotFound("No such hold.", code="hold_not_found")
            hold = _hold(row)
            if hold.released_at is not None:
                return hold
            now = utcnow()
            await conn.execute(
                legal_holds.update()
                .where(legal_holds.c.id == hold_id)
                .values(released_at=now, released_by=actor.name)
            )
            await record(
                conn,
                actor,
                "hold.release",
                space_id=hold.space_id,
                target_kind="hold",
                target_id=hold_id,
                target={"scope": hold.scope, "covers": hold.describe()},
                reason=reason or None,
            )
        return Hold(**{**_as_dict(hold), "released_at": now, "released_by": actor.name})

    async def list(
        self, space_ids: Collection[str], *, include_released: bool = True
    ) -> list[Hold]:
        q = sa.select(legal_holds).where(legal_holds.c.space_id.in_(list(space_ids)))
        if not include_released:
            q = q.where(legal_holds.c.released_at.is_(None))
        async with self.db.read() as conn:
            rows = await conn.execute(q.order_by(legal_holds.c.placed_at.desc()))
            return [_hold(r) for r in rows]


def _as_dict(hold: Hold) -> dict[str, Any]:
    return {name: getattr(hold, name) for name in Hold.__slots__}
