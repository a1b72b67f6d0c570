"""The email outbox: agent replies waiting to be mailed to visitors who left. The one writer
of ``email_outbox``.

A conversation has at most one ``pending`` row (a unique partial index): replies that come
while it waits are carried by the same email, which takes, when it goes, every agent reply
after the last one mailed and the last one the visitor read. A row is ready once its
``due_at`` is past and no node holds a socket of the visitor (``held_until``, renewed by the
node that has the socket, cleared when it closes).

Several nodes may look at once: a row is theirs only when their conditional UPDATE moved it
from ``pending`` to ``sending`` (one of them wins), with a lease (``claimed_until``) past
which a node that died while sending is taken for dead and the row is ready again. Then it
ends ``sent``, ``failed`` (refused for good, or out of tries) or ``skipped`` (nothing new to
say, no address, or carried by a newer row); or goes back to ``pending``, later.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from agents.models import email_outbox
from chat.clock import as_utc, iso
from chat.db import Database
from chat.holds import HoldSet
from chat.keeper import Counts, Keeper
from chat.models import conversations, spaces

__all__ = ["Claimed", "Outbox", "OutboxKeeper"]

CHUNK = 500  # visitor ids per statement

_o = email_outbox.c


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    conversation_id: str
    space_id: str
    attempts: int  # tries before this one


def _ready(now: datetime) -> sa.ColumnElement[bool]:
    waiting = sa.and_(
        _o.status == "pending",
        _o.due_at <= now,
        sa.or_(_o.held_until.is_(None), _o.held_until <= now),
    )
    abandoned = sa.and_(_o.status == "sending", _o.claimed_until < now)
    return sa.or_(waiting, abandoned)


def _of_visitors(visitor_ids: Iterable[str]) -> sa.ColumnElement[bool]:
    ids = sa.select(conversations.c.id).where(conversations.c.visitor_id.in_(list(visitor_ids)))
    return sa.and_(_o.status == "pending", _o.conversation_id.in_(ids))


class Outbox:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- what the relay listener does ------------------------------------------------------

    async def queue(
        self,
        conversation_id: str,
        space_id: str,
        now: datetime,
        due_at: datetime,
        held: tuple[str, datetime] | None = None,
    ) -> bool:
        """A pending email for the conversation, unless one is waiting already (it will
        carry this reply too). ``held``: (node, until) when this node has the visitor."""
        async with self.db.read() as conn:
            waiting = (
                await conn.execute(
                    sa.select(_o.id).where(
                        _o.conversation_id == conversation_id, _o.status == "pending"
                    )
                )
            ).first()
        if waiting is not None:
            return False
        node, until = held if held else (None, None)
        try:
            async with self.db.write() as conn:
                await conn.execute(
                    email_outbox.insert().values(
                        conversation_id=conversation_id,
                        space_id=space_id,
                        status="pending",
                        due_at=due_at,
                        held_until=until,
                        held_by=node,
                        attempts=0,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:  # another node queued it a moment ago
            return False
        return True

    async def hold(self, visitor_ids: Iterable[str], node: str, until: datetime) -> int:
        """This node has sockets of these visitors: their pending emails wait until
        ``until`` at least (renewed while the sockets stay open)."""
        ids = list(visitor_ids)
        held = 0
        for start in range(0, len(ids), CHUNK):
            where = _of_visitors(ids[start : start + CHUNK])
            async with self.db.read() as conn:  # most visitors have no email waiting
                rows = (await conn.execute(sa.select(_o.id).where(where))).scalars().all()
            if not rows:
                continue
            async with self.db.write() as conn:
                result = await conn.execute(
                    email_outbox.update()
                    .where(_o.id.in_(rows), _o.status == "pending")
                    .values(held_until=until, held_by=node)
                )
            held += result.rowcount
        return held

    async def release(self, visitor_id: str, node: str, now: datetime) -> int:
        """The visitor's last socket on this node closed: its pending emails are due its
        space's delay from now at the earliest, and no longer held by this node (another
        node with a socket of the visitor holds them still)."""
        query = (
            sa.select(_o.id, _o.due_at, _o.held_by, _o.held_until, spaces.c.email_delay_minutes)
            .join(spaces, spaces.c.id == _o.space_id)
            .where(_of_visitors([visitor_id]))
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        if not rows:
            return 0
        async with self.db.write() as conn:
            for row in rows:
                values: dict[str, Any] = {
                    "due_at": max(
                        as_utc(row.due_at), now + timedelta(minutes=row.email_delay_minutes)
                    )
                }
                if row.held_by == node or row.held_until is None or as_utc(row.held_until) <= now:
                    values.update(held_until=None, held_by=None)
                await conn.execute(
                    email_outbox.update()
                    .where(_o.id == row.id, _o.status == "pending")
                    .values(**values)
                )
        return len(rows)

    # -- what the worker does --------------------------------------------------------------

    async def next_ready(self, now: datetime) -> datetime | None:
        """When the first row not ready yet will be (None: none waits)."""
        later = sa.case((_o.held_until > _o.due_at, _o.held_until), else_=_o.due_at)
        async with self.db.read() as conn:
            waiting = (
                await conn.execute(sa.select(sa.func.min(later)).where(_o.status == "pending"))
            ).scalar()
            sending = (
                await conn.execute(
                    sa.select(sa.func.min(_o.claimed_until)).where(_o.status == "sending")
                )
            ).scalar()
        times = [as_utc(t) for t in (waiting, sending) if t is not None]
        return min(times) if times else None

    async def claim(
        self, node: str, now: datetime, lease: timedelta, limit: int = 10
    ) -> list[Claimed]:
        """Ready rows this node now sends: each moved to ``sending`` by one conditional
        UPDATE, which one node only can win."""
        async with self.db.read() as conn:
            ids = (
                (
                    await conn.execute(
                        sa.select(_o.id).where(_ready(now)).order_by(_o.due_at).limit(limit)
                    )
                )
                .scalars()
                .all()
            )
        if not ids:
            return []
        claimed = []
        async with self.db.write() as conn:
            for row_id in ids:
                row = (
                    await conn.execute(
                        email_outbox.update()
                        .where(_o.id == row_id, _ready(now))
                        .values(
                            status="sending",
                            claimed_until=now + lease,
                            held_by=node,
                            updated_at=now,
                        )
                        .returning(_o.id, _o.conversation_id, _o.space_id, _o.attempts)
                    )
                ).first()
                if row is not None:
                    claimed.append(Claimed(row.id, row.conversation_id, row.space_id, row.attempts))
        return claimed

    async def last_sent(self, conversation_id: str) -> tuple[datetime, int] | None:
        """(when, the last reply it carried) of the conversation's last email."""
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    sa.select(_o.sent_at, _o.last_seq)
                    .where(_o.conversation_id == conversation_id, _o.status == "sent")
                    .order_by(_o.id.desc())
                    .limit(1)
                )
            ).first()
        return (as_utc(row.sent_at), int(row.last_seq)) if row is not None else None

    async def sent(self, row_id: int, last_seq: int, now: datetime, attempts: int) -> None:
        await self._end(
            row_id, "sent", now, last_seq=last_seq, sent_at=now, error=None, attempts=attempts
        )

    async def failed(self, row_id: int, reason: str, now: datetime, attempts: int) -> None:
        await self._end(row_id, "failed", now, error=reason[:200], attempts=attempts)

    async def skipped(self, row_id: int, reason: str, now: datetime) -> None:
        await self._end(row_id, "skipped", now, error=reason[:200])

    async def again(
        self,
        row_id: int,
        now: datetime,
        due_at: datetime,
        *,
        reason: str | None = None,
        attempts: int | None = None,
        held: tuple[str, datetime] | None = None,
    ) -> None:
        """Back to ``pending``, due at ``due_at`` (a retry after ``reason``, the visitor came
        back, the last email is too recent); skipped instead when a newer row of the
        conversation waits already: that one carries the replies."""
        node, until = held if held else (None, None)
        values: dict[str, Any] = {
            "status": "pending",
            "due_at": due_at,
            "held_until": until,
            "held_by": node,
            "claimed_until": None,
            "updated_at": now,
        }
        if reason is not None:
            values["error"] = reason[:200]
        if attempts is not None:
            values["attempts"] = attempts
        try:
            async with self.db.write() as conn:
                await conn.execute(
                    email_outbox.update()
                    .where(_o.id == row_id, _o.status == "sending")
                    .values(**values)
                )
        except IntegrityError:
            await self.skipped(row_id, "carried by a newer email", now)

    async def _end(self, row_id: int, status: str, now: datetime, **values: Any) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                email_outbox.update()
                .where(_o.id == row_id, _o.status == "sending")
                .values(status=status, claimed_until=None, updated_at=now, **values)
            )

    # -- what agents see -------------------------------------------------------------------

    async def status_of(self, conversation_id: str) -> dict[str, Any] | None:
        """The conversation's latest email (skipped ones aside), as the console shows it."""
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    sa.select(email_outbox)
                    .where(_o.conversation_id == conversation_id, _o.status != "skipped")
                    .order_by(_o.id.desc())
                    .limit(1)
                )
            ).first()
        if row is None:
            return None
        status = "pending" if row.status == "sending" else row.status
        return {
            "status": status,  # pending, sent or failed
            "due_at": iso(as_utc(row.due_at)) if status == "pending" else None,
            "sent_at": iso(as_utc(row.sent_at)) if row.sent_at else None,
            "attempts": row.attempts,
            "error": row.error if status != "sent" else None,
            "updated_at": iso(as_utc(row.updated_at)),
        }


class OutboxKeeper(Keeper):
    """Queued emails go with their conversation; an erased visitor's are dropped, so that
    nothing is mailed to it afterwards (the rows hold no address: the address was its)."""

    conversation_columns = (email_outbox.c.conversation_id,)

    async def erase_visitor(
        self,
        conn: AsyncConnection,
        space_id: str,
        visitor_id: str,
        anonymous_id: str,
        conversation_ids: list[str],
        holds: HoldSet,
    ) -> Counts:
        if not conversation_ids:
            return {}
        return await self.delete_for_conversations(conn, conversation_ids)
