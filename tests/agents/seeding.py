"""Conversations with known times straight into the store, with the counters every append
keeps (chat/store.py): for tests of what is computed from them (reports, exports)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import create_async_engine

from agents.models import conversation_tags, csat_ratings
from chat.models import conversations, messages, visitors

__all__ = ["seed_conversation"]


async def seed_conversation(
    url: str,
    space_id: str,
    said: list[tuple[str, datetime]],
    *,
    agent_id: str | None = None,
    resolved: datetime | None = None,
    reopened: int = 0,
    csat: int | None = None,
    comment: str | None = None,
    tags: tuple[str, ...] = (),
    body: str = "…",
    entry: str = "https://shop.example/promo?utm_source=mail",
    campaign: tuple[str, str] | None = None,
) -> str:
    """A conversation and its messages, (author kind, when) each, the first saying ``body``:
    its id."""
    cid, vid = str(uuid.uuid4()), str(uuid.uuid4())
    first = said[0][1]
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                visitors.insert().values(id=vid, space_id=space_id, created_at=first)
            )
            await conn.execute(
                conversations.insert().values(
                    id=cid,
                    space_id=space_id,
                    visitor_id=vid,
                    status="resolved" if resolved else "open",
                    last_seq=len(said),
                    created_at=first,
                    updated_at=said[-1][1],
                    resolved_at=resolved,
                    assignee_id=agent_id,
                    first_assigned_at=first + timedelta(seconds=30) if agent_id else None,
                    reopened=reopened,
                    # what the store keeps with every append
                    visitor_messages=sum(kind == "visitor" for kind, _ in said),
                    agent_messages=sum(kind == "agent" for kind, _ in said),
                    first_agent_at=min((t for kind, t in said if kind == "agent"), default=None),
                    entry_url=entry,
                    campaign_id=campaign[0] if campaign else None,
                    campaign_phase=1 if campaign else None,
                    campaign_arm=campaign[1] if campaign else None,
                )
            )
            await conn.execute(
                messages.insert(),
                [
                    {
                        "conversation_id": cid,
                        "space_id": space_id,
                        "seq": i + 1,
                        "client_id": str(uuid.uuid4()),
                        "author_kind": kind,
                        "author_id": vid if kind == "visitor" else agent_id,
                        "body": body if i == 0 else "…",
                        "created_at": at,
                    }
                    for i, (kind, at) in enumerate(said)
                ],
            )
            if csat is not None:
                await conn.execute(
                    csat_ratings.insert().values(
                        conversation_id=cid, space_id=space_id, visitor_id=vid, agent_id=agent_id,
                        score=csat, comment=comment, at=resolved,
                    )
                )  # fmt: skip
            for tag in tags:
                await conn.execute(conversation_tags.insert().values(conversation_id=cid, tag=tag))
    finally:
        await engine.dispose()
    return cid
