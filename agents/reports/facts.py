"""One row of facts per conversation, read in one query: what every report is computed from.

A conversation is counted by when it started: its visitor's first message (a proactive
invitation alone never opens one). Its first response is the first agent message after that
first visitor message: system messages, invitations and private notes (which are not
messages) neither start nor stop it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import sqlalchemy as sa

from agents.models import conversation_tags, csat_ratings
from chat.clock import as_utc
from chat.db import Database
from chat.models import conversations, messages, visitors

__all__ = ["Fact", "entry_page", "facts", "utm"]


@dataclass(frozen=True, slots=True)
class Fact:
    id: str
    visitor_id: str
    visitor_name: str | None
    created_at: datetime  # the first visitor message
    first_response_at: datetime | None
    resolved_at: datetime | None
    first_assigned_at: datetime | None
    status: str
    reopened: int
    assignee_id: str | None
    team_id: str | None
    campaign_id: str | None
    campaign_phase: int | None
    campaign_arm: str | None
    entry_url: str | None
    entry_referrer: str | None
    entry_locale: str | None
    entry_user_agent: str | None
    visitor_messages: int
    agent_messages: int
    system_messages: int
    csat_score: int | None
    csat_comment: str | None
    tags: tuple[str, ...]

    @property
    def messages(self) -> int:
        return self.visitor_messages + self.agent_messages + self.system_messages


def entry_page(url: str | None) -> str | None:
    """The page a conversation started on, without query or fragment: what reports group by."""
    if not url:
        return None
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return url.split("?")[0].split("#")[0] or None
    return f"{parts.scheme}://{parts.netloc.lower()}{parts.path or '/'}"


def utm(url: str | None) -> dict[str, str]:
    """The ``utm_*`` parameters of a page's address."""
    if not url:
        return {}
    return {k: v for k, v in parse_qsl(urlsplit(url).query) if k.startswith("utm_")}


async def facts(db: Database, space_id: str, start: datetime, end: datetime) -> list[Fact]:
    """The conversations of a space whose first visitor message came in [start, end)."""
    m = messages
    per_conversation = (
        sa.select(
            m.c.conversation_id.label("cid"),
            sa.func.min(sa.case((m.c.author_kind == "visitor", m.c.created_at))).label("first_v"),
            sa.func.sum(sa.case((m.c.author_kind == "visitor", 1), else_=0)).label("n_visitor"),
            sa.func.sum(sa.case((m.c.author_kind == "agent", 1), else_=0)).label("n_agent"),
            sa.func.sum(sa.case((m.c.author_kind == "system", 1), else_=0)).label("n_system"),
        )
        .select_from(m.join(conversations, conversations.c.id == m.c.conversation_id))
        .where(
            conversations.c.space_id == space_id,
            conversations.c.created_at >= start,
            conversations.c.created_at < end,
        )
        .group_by(m.c.conversation_id)
        .subquery("per_conversation")
    )
    reply = m.alias("reply")
    first_reply = (
        sa.select(sa.func.min(reply.c.created_at))
        .where(
            reply.c.conversation_id == per_conversation.c.cid,
            reply.c.author_kind == "agent",
            reply.c.created_at >= per_conversation.c.first_v,
        )
        .correlate(per_conversation)
        .scalar_subquery()
    )
    query = (
        sa.select(
            conversations.c.id,
            conversations.c.visitor_id,
            visitors.c.name.label("visitor_name"),
            conversations.c.status,
            conversations.c.resolved_at,
            conversations.c.first_assigned_at,
            conversations.c.reopened,
            conversations.c.assignee_id,
            conversations.c.team_id,
            conversations.c.campaign_id,
            conversations.c.campaign_phase,
            conversations.c.campaign_arm,
            conversations.c.entry_url,
            conversations.c.entry_referrer,
            conversations.c.entry_locale,
            conversations.c.entry_user_agent,
            per_conversation.c.first_v,
            per_conversation.c.n_visitor,
            per_conversation.c.n_agent,
            per_conversation.c.n_system,
            first_reply.label("first_reply"),
            csat_ratings.c.score,
            csat_ratings.c.comment,
        )
        .select_from(
            conversations.join(per_conversation, per_conversation.c.cid == conversations.c.id)
            .join(visitors, visitors.c.id == conversations.c.visitor_id)
            .outerjoin(csat_ratings, csat_ratings.c.conversation_id == conversations.c.id)
        )
        .where(per_conversation.c.first_v.is_not(None))
    )
    async with db.read() as conn:
        rows = (await conn.execute(query)).all()
        tags: dict[str, list[str]] = {}
        if rows:
            tag_rows = await conn.execute(
                sa.select(conversation_tags.c.conversation_id, conversation_tags.c.tag)
                .select_from(
                    conversation_tags.join(
                        conversations, conversations.c.id == conversation_tags.c.conversation_id
                    )
                )
                .where(
                    conversations.c.space_id == space_id,
                    conversations.c.created_at >= start,
                    conversations.c.created_at < end,
                )
            )
            for t in tag_rows:
                tags.setdefault(t.conversation_id, []).append(t.tag)
    return [_fact(r, tuple(sorted(tags.get(r.id, ())))) for r in rows]


def _at(value: Any) -> datetime | None:
    return as_utc(value) if value is not None else None


def _fact(r: Any, tags: tuple[str, ...]) -> Fact:
    return Fact(
        id=r.id,
        visitor_id=r.visitor_id,
        visitor_name=r.visitor_name,
        created_at=as_utc(r.first_v),
        first_response_at=_at(r.first_reply),
        resolved_at=_at(r.resolved_at),
        first_assigned_at=_at(r.first_assigned_at),
        status=r.status,
        reopened=int(r.reopened or 0),
        assignee_id=r.assignee_id,
        team_id=r.team_id,
        campaign_id=r.campaign_id,
        campaign_phase=r.campaign_phase,
        campaign_arm=r.campaign_arm,
        entry_url=r.entry_url,
        entry_referrer=r.entry_referrer,
        entry_locale=r.entry_locale,
        entry_user_agent=r.entry_user_agent,
        visitor_messages=int(r.n_visitor or 0),
        agent_messages=int(r.n_agent or 0),
        system_messages=int(r.n_system or 0),
        csat_score=r.score,
        csat_comment=r.comment,
        tags=tags,
    )
