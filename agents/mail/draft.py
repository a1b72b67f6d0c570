"""What an email to a visitor would say now: the agent replies of its conversation after the
last one mailed and the last one it read, its address, its space's name and delay, the page
to link back to and the language. Reads only."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from agents.mail.message import Reply, language_of, safe_link
from chat.clock import as_utc
from chat.db import Database
from chat.models import agents, conversations, messages, read_marks, spaces, visitors

__all__ = ["MAX_REPLIES", "Draft", "draft"]

MAX_REPLIES = 50  # the latest ones, when an agent wrote more before the email went


@dataclass(frozen=True, slots=True)
class Draft:
    visitor_id: str
    email: str | None
    space_name: str
    delay_minutes: int
    link: str | None
    language: str
    replies: tuple[Reply, ...]
    last_seq: int  # the last reply in it (0: none)


async def draft(db: Database, conversation_id: str, after_seq: int) -> Draft | None:
    """None when the conversation is gone."""
    async with db.read() as conn:
        conv = (
            await conn.execute(
                sa.select(
                    conversations.c.visitor_id,
                    conversations.c.entry_url,
                    conversations.c.entry_locale,
                    visitors.c.email,
                    visitors.c.context,
                    spaces.c.name,
                    spaces.c.email_delay_minutes,
                )
                .join(visitors, visitors.c.id == conversations.c.visitor_id)
                .join(spaces, spaces.c.id == conversations.c.space_id)
                .where(conversations.c.id == conversation_id)
            )
        ).first()
        if conv is None:
            return None
        read = (
            await conn.execute(
                sa.select(read_marks.c.last_read_seq).where(
                    read_marks.c.conversation_id == conversation_id,
                    read_marks.c.reader_id == conv.visitor_id,
                )
            )
        ).scalar() or 0
        rows = (
            await conn.execute(
                sa.select(messages.c.seq, messages.c.body, messages.c.created_at, agents.c.name)
                .outerjoin(agents, agents.c.id == messages.c.author_id)
                .where(
                    messages.c.conversation_id == conversation_id,
                    messages.c.author_kind == "agent",
                    messages.c.seq > max(after_seq, read),
                )
                .order_by(messages.c.seq.desc())
                .limit(MAX_REPLIES)
            )
        ).all()
    context = conv.context if isinstance(conv.context, dict) else {}
    page = context.get("url") if isinstance(context.get("url"), str) else None
    locale = conv.entry_locale or (context.get("locale") if isinstance(context, dict) else None)
    rows = rows[::-1]
    return Draft(
        visitor_id=conv.visitor_id,
        email=conv.email,
        space_name=conv.name,
        delay_minutes=conv.email_delay_minutes,
        link=safe_link(page) or safe_link(conv.entry_url),
        language=language_of(locale if isinstance(locale, str) else None),
        replies=tuple(Reply(r.name, r.body, as_utc(r.created_at)) for r in rows),
        last_seq=rows[-1].seq if rows else 0,
    )
