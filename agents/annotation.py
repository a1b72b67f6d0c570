"""What agents add to a conversation that the visitor never sees: private notes and tags.
The owner of the ``notes`` and ``conversation_tags`` tables; the caller has already checked
that the agent may see the conversation."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from agents.apikeys import agent_id_of
from agents.models import conversation_tags, notes
from chat.clock import as_utc, iso, utcnow
from chat.db import Database
from chat.errors import InvalidRequest
from chat.holds import HoldSet
from chat.keeper import Counts, Keeper
from chat.models import agents
from chat.principals import AgentPrincipal
from chat.store import Conversation

__all__ = [
    "MAX_TAGS",
    "AnnotationKeeper",
    "add_note",
    "add_tag",
    "delete_space_notes",
    "notes_of",
    "remove_tag",
]

MAX_TAGS = 20


def _note(
    note_id: int, conversation_id: str, author_id: str | None, name: str | None, body: str, at: Any
) -> dict[str, Any]:
    return {
        "id": str(note_id),
        "conversation_id": conversation_id,
        "author": {"kind": "agent", "id": author_id, "name": name},
        "body": body,
        "created_at": iso(as_utc(at)),
    }


async def notes_of(
    db: Database, agent: AgentPrincipal, conversation_id: str
) -> list[dict[str, Any]]:
    async with db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(notes, agents.c.name.label("author_name"))
                .select_from(notes.outerjoin(agents, agents.c.id == notes.c.author_id))
                .where(
                    notes.c.conversation_id == conversation_id,
                    notes.c.space_id.in_(list(agent.spaces)),
                )
                .order_by(notes.c.id)
            )
        ).all()
    return [
        _note(r.id, conversation_id, r.author_id, r.author_name, r.body, r.created_at) for r in rows
    ]


async def add_note(
    db: Database, agent: AgentPrincipal, conv: Conversation, body: str
) -> dict[str, Any]:
    now = utcnow()
    author_id = agent_id_of(agent)  # a note made with an API key has no agent for author
    async with db.write() as conn:
        note_id = (
            await conn.execute(
                notes.insert()
                .values(
                    conversation_id=conv.id,
                    space_id=conv.space_id,
                    author_id=author_id,
                    body=body,
                    created_at=now,
                )
                .returning(notes.c.id)
            )
        ).scalar_one()
    return _note(note_id, conv.id, author_id, agent.name if author_id else None, body, now)


async def add_tag(db: Database, conv: Conversation, tag: str) -> None:
    """Tag the conversation (once; at most MAX_TAGS tags)."""
    async with db.write() as conn:
        existing = list(
            (
                await conn.execute(
                    sa.select(conversation_tags.c.tag).where(
                        conversation_tags.c.conversation_id == conv.id
                    )
                )
            ).scalars()
        )
        if tag not in existing:
            if len(existing) >= MAX_TAGS:
                raise InvalidRequest(f"At most {MAX_TAGS} tags.", code="too_many_tags")
            await conn.execute(conversation_tags.insert().values(conversation_id=conv.id, tag=tag))


async def remove_tag(db: Database, conv: Conversation, tag: str) -> None:
    async with db.write() as conn:
        await conn.execute(
            conversation_tags.delete().where(
                conversation_tags.c.conversation_id == conv.id, conversation_tags.c.tag == tag
            )
        )


async def delete_space_notes(conn: AsyncConnection, space_id: str) -> None:
    """Delete a space's notes, inside the transaction that deletes the space (chat/spaces.py
    ``delete_space``); tags go with their conversations."""
    await conn.execute(notes.delete().where(notes.c.space_id == space_id))


class AnnotationKeeper(Keeper):
    """Notes and tags go with their conversation. An erasure deletes the notes of the
    visitor's conversations (agents write about the visitor there) and keeps the tags,
    which reports count."""

    conversation_columns = (notes.c.conversation_id, conversation_tags.c.conversation_id)

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
        gone = await conn.execute(
            notes.delete().where(notes.c.conversation_id.in_(conversation_ids))
        )
        return {"notes": int(gone.rowcount or 0)}

    async def visitor_data(
        self, conn: AsyncConnection, space_id: str, visitor_id: str, conversation_ids: list[str]
    ) -> dict[str, Any]:
        if not conversation_ids:
            return {"notes": [], "tags": []}
        rows = await conn.execute(
            sa.select(notes.c.conversation_id, notes.c.body, notes.c.created_at)
            .where(notes.c.conversation_id.in_(conversation_ids))
            .order_by(notes.c.id)
        )
        tags = await conn.execute(
            sa.select(conversation_tags).where(
                conversation_tags.c.conversation_id.in_(conversation_ids)
            )
        )
        return {
            "notes": [
                {
                    "conversation_id": r.conversation_id,
                    "body": r.body,
                    "at": iso(as_utc(r.created_at)),
                }
                for r in rows
            ],
            "tags": [{"conversation_id": t.conversation_id, "tag": t.tag} for t in tags],
        }
