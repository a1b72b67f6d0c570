"""Conversations and messages past their time: what retention deletes of them, what an
erasure deletes or anonymises, and what an access request reads. Written on behalf of
chat/store.py, the tables' owner (the store's hot path lives there; this is the slow one).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chat.clock import iso, utcnow
from chat.holds import HoldSet
from chat.models import conversations, messages

__all__ = ["Transcripts"]

c = conversations.c


class Transcripts:
    # -- retention ------------------------------------------------------------------------

    @staticmethod
    def expired(space_id: str, cutoff: datetime, holds: HoldSet) -> sa.Select[Any]:
        """The ids of the space's conversations unchanged since before ``cutoff``, not held."""
        return sa.select(c.id).where(c.space_id == space_id, Transcripts.doomed(cutoff, holds))

    @staticmethod
    def doomed(cutoff: datetime, holds: HoldSet) -> sa.ColumnElement[bool]:
        """True of a conversation the run with this cut-off deletes."""
        return sa.and_(
            c.updated_at < cutoff,
            sa.not_(holds.keeps_conversation(c.id, c.visitor_id, c.created_at, c.updated_at)),
        )

    @staticmethod
    async def count(conn: AsyncConnection, expired: sa.Select[Any]) -> dict[str, int]:
        ids = expired.scalar_subquery()
        n_conv = await conn.scalar(sa.select(sa.func.count()).select_from(expired.subquery()))
        n_msg = await conn.scalar(
            sa.select(sa.func.count()).where(messages.c.conversation_id.in_(ids))
        )
        return {"conversations": int(n_conv or 0), "messages": int(n_msg or 0)}

    async def next_expired(
        self,
        conn: AsyncConnection,
        space_id: str,
        cutoff: datetime,
        holds: HoldSet,
        after: str,
        limit: int,
    ) -> list[str]:
        q = self.expired(space_id, cutoff, holds).where(c.id > after).order_by(c.id).limit(limit)
        return list((await conn.execute(q)).scalars())

    @staticmethod
    async def delete_messages(
        conn: AsyncConnection, conversation_ids: list[str], cutoff: datetime, limit: int
    ) -> int:
        """At most ``limit`` messages of these conversations written before ``cutoff``."""
        batch = (
            sa.select(messages.c.id)
            .where(messages.c.conversation_id.in_(conversation_ids), messages.c.created_at < cutoff)
            .order_by(messages.c.id)
            .limit(limit)
            .scalar_subquery()
        )
        result = await conn.execute(messages.delete().where(messages.c.id.in_(batch)))
        return int(result.rowcount or 0)

    @staticmethod
    async def lock_expired(
        conn: AsyncConnection, conversation_ids: list[str], cutoff: datetime
    ) -> list[str]:
        """Those still unchanged since the cut-off (a visitor may have come back since the
        batch was chosen), locked until the transaction ends."""
        q = sa.select(c.id).where(c.id.in_(conversation_ids), c.updated_at < cutoff)
        if conn.dialect.name == "postgresql":
            q = q.with_for_update()
        return list((await conn.execute(q)).scalars())

    @staticmethod
    async def delete_conversations(
        conn: AsyncConnection, conversation_ids: list[str]
    ) -> dict[str, int]:
        late = await conn.execute(
            messages.delete().where(messages.c.conversation_id.in_(conversation_ids))
        )
        gone = await conn.execute(conversations.delete().where(c.id.in_(conversation_ids)))
        counts = {"conversations": int(gone.rowcount or 0)}
        if late.rowcount:
            counts["messages"] = int(late.rowcount)
        return counts

    # -- erasure and access ---------------------------------------------------------------

    @staticmethod
    async def of_visitor(
        conn: AsyncConnection, space_id: str, visitor_id: str, holds: HoldSet
    ) -> tuple[list[str], list[str]]:
        """The visitor's conversations: (those an erasure may empty, those held)."""
        rows = await conn.execute(
            sa.select(
                c.id,
                holds.keeps_conversation(c.id, c.visitor_id, c.created_at, c.updated_at).label(
                    "held"
                ),
            ).where(c.space_id == space_id, c.visitor_id == visitor_id)
        )
        free: list[str] = []
        held: list[str] = []
        for row in rows:
            (held if row.held else free).append(row.id)
        return free, held

    @staticmethod
    async def erase(
        conn: AsyncConnection, anonymous_id: str, conversation_ids: list[str]
    ) -> dict[str, int]:
        """Delete every message of these conversations (the agents' replies too: they quote
        and answer the visitor), forget where they started, hand them to the anonymous
        profile, and resolve the one still open. Their counters stay: reports count the
        same conversations and messages."""
        if not conversation_ids:
            return {}
        deleted = await conn.execute(
            messages.delete().where(messages.c.conversation_id.in_(conversation_ids))
        )
        now = utcnow()
        await conn.execute(
            conversations.update()
            .where(c.id.in_(conversation_ids), c.status == "open")
            .values(status="resolved", resolved_at=now, updated_at=now)
        )
        moved = await conn.execute(
            conversations.update()
            .where(c.id.in_(conversation_ids))
            .values(
                visitor_id=anonymous_id,
                entry_url=None,
                entry_referrer=None,
                entry_locale=None,
                entry_user_agent=None,
            )
        )
        return {"messages": int(deleted.rowcount or 0), "conversations": int(moved.rowcount or 0)}

    @staticmethod
    async def data(conn: AsyncConnection, space_id: str, visitor_id: str) -> dict[str, Any]:
        rows = (
            await conn.execute(
                sa.select(conversations)
                .where(c.space_id == space_id, c.visitor_id == visitor_id)
                .order_by(c.created_at)
            )
        ).all()
        ids = [r.id for r in rows]
        by_conversation: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
        if ids:
            q = (
                sa.select(
                    messages.c.conversation_id,
                    messages.c.seq,
                    messages.c.author_kind,
                    messages.c.body,
                    messages.c.created_at,
                )
                .where(messages.c.conversation_id.in_(ids))
                .order_by(messages.c.conversation_id, messages.c.seq)
            )
            for m in await conn.execute(q):
                by_conversation[m.conversation_id].append(
                    {
                        "seq": m.seq,
                        "author": m.author_kind,
                        "body": m.body,
                        "at": iso(m.created_at),
                    }
                )
        return {
            "conversations": [
                {
                    "id": r.id,
                    "status": r.status,
                    "created_at": iso(r.created_at),
                    "updated_at": iso(r.updated_at),
                    "resolved_at": iso(r.resolved_at) if r.resolved_at else None,
                    "entry_url": r.entry_url,
                    "entry_referrer": r.entry_referrer,
                    "entry_locale": r.entry_locale,
                    "entry_user_agent": r.entry_user_agent,
                    "messages": by_conversation[r.id],
                }
                for r in rows
            ]
        }
