"""Read receipts: how far each reader, agent or visitor, has read each conversation.

A mark only moves forward. The caller has already checked that the reader may see the
conversation; the seq is capped at the conversation's last one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from chat.clock import iso, utcnow
from chat.db import Database
from chat.frames import Author, ReadFrame
from chat.holds import HoldSet
from chat.keeper import Counts, Keeper
from chat.models import read_marks
from chat.principals import Principal

__all__ = ["ReceiptKeeper", "mark_read", "marks_for", "read_frame"]


async def mark_read(db: Database, reader: Principal, conversation_id: str, seq: int) -> bool:
    """Move the reader's mark up to ``seq``; False if it was already there or past it.
    One upsert, so two tabs of the same reader cannot collide."""
    insert = sqlite_insert if db.sqlite else pg_insert
    now = utcnow()
    values = insert(read_marks).values(
        conversation_id=conversation_id,
        reader_id=reader.id,
        reader_kind=reader.kind,
        last_read_seq=seq,
        updated_at=now,
    )
    stmt = values.on_conflict_do_update(
        index_elements=[read_marks.c.conversation_id, read_marks.c.reader_id],
        set_={"last_read_seq": values.excluded.last_read_seq, "updated_at": now},
        where=read_marks.c.last_read_seq < values.excluded.last_read_seq,
    ).returning(read_marks.c.last_read_seq)
    async with db.write() as conn:
        return (await conn.execute(stmt)).first() is not None


async def marks_for(db: Database, conversation_ids: Sequence[str]) -> dict[str, list[Any]]:
    """conversation id -> its read marks (reader_id, reader_kind, last_read_seq, updated_at)."""
    if not conversation_ids:
        return {}
    async with db.read() as conn:
        rows = await conn.execute(
            sa.select(read_marks).where(read_marks.c.conversation_id.in_(list(conversation_ids)))
        )
        out: dict[str, list[Any]] = {}
        for row in rows:
            out.setdefault(row.conversation_id, []).append(row)
    return out


def read_frame(reader: Principal, conversation_id: str, seq: int) -> ReadFrame:
    return ReadFrame(
        conversation_id, Author(reader.kind, reader.id, reader.name), seq, iso(utcnow())
    )


class ReceiptKeeper(Keeper):
    """Read marks go with their conversation, and the visitor's own with the visitor."""

    conversation_columns = (read_marks.c.conversation_id,)

    async def erase_visitor(
        self,
        conn: AsyncConnection,
        space_id: str,
        visitor_id: str,
        anonymous_id: str,
        conversation_ids: list[str],
        holds: HoldSet,
    ) -> Counts:
        result = await conn.execute(
            read_marks.delete().where(
                sa.or_(
                    read_marks.c.reader_id == visitor_id,
                    read_marks.c.conversation_id.in_(conversation_ids),
                )
            )
        )
        return {"read_marks": int(result.rowcount or 0)}

    async def visitor_data(
        self, conn: AsyncConnection, space_id: str, visitor_id: str, conversation_ids: list[str]
    ) -> dict[str, Any]:
        rows = await conn.execute(sa.select(read_marks).where(read_marks.c.reader_id == visitor_id))
        return {
            "read_marks": [
                {
                    "conversation_id": r.conversation_id,
                    "last_read_seq": r.last_read_seq,
                    "at": iso(r.updated_at),
                }
                for r in rows
            ]
        }
