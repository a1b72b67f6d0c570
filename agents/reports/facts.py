"""One row of facts per conversation, read in one query: what every report is computed from.

A conversation is counted by when it started: its visitor's first message, which opens it (a
proactive invitation alone never does). Its first response is its first agent message, which
can only come after that: system messages, invitations and private notes (which are not
messages) neither start nor stop it. The counters come from the conversation's row, which
every append keeps (chat/store.py, chat/writer.py): no message is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import sqlalchemy as sa

from agents.models import conversation_tags, csat_ratings
from chat.clock import as_utc
from chat.db import Database
from chat.models import conversations, visitors

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
    """The conversations of a space whose first visitor message came in [start, end): the
    conversations table alone (its counters are kept by every append), its ratings and tags."""
    c = conversations
    query = (
        sa.select(
            c.c.id,
            c.c.visitor_id,
            visitors.c.name.label("visitor_name"),
            c.c.created_at,
            c.c.status,
            c.c.resolved_at,
            c.c.first_assigned_at,
            c.c.reopened,
            c.c.assignee_id,
            c.c.team_id,
            c.c.campaign_id,
            c.c.campaign_phase,
            c.c.campaign_arm,
            c.c.entry_url,
            c.c.entry_referrer,
            c.c.entry_locale,
            c.c.entry_user_agent,
            c.c.last_seq,
            c.c.visitor_messages,
            c.c.agent_messages,
            c.c.first_agent_at,
            csat_ratings.c.score,
            csat_ratings.c.comment,
        )
        .select_from(
            c.join(visitors, visitors.c.id == c.c.visitor_id).outerjoin(
                csat_ratings, csat_ratings.c.conversation_id == c.c.id
            )
        )
        .where(c.c.space_id == space_id, c.c.created_at >= start, c.c.created_at < end)
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
    return [_fact(r, tuple(sorted(tags.get(r[0], ())))) for r in rows]


def _at(value: Any) -> datetime | None:
    if value is None or value.tzinfo is UTC:
        return value
    return as_utc(value)


def _fact(r: Any, tags: tuple[str, ...]) -> Fact:
    # positional: attribute access on a row costs more than the rest of this together
    (cid, visitor_id, visitor_name, created_at, status, resolved_at, first_assigned_at, reopened,
     assignee_id, team_id, campaign_id, campaign_phase, campaign_arm, entry_url, entry_referrer,
     entry_locale, entry_user_agent, last_seq, visitor_messages, agent_messages, first_agent_at,
     score, comment) = tuple(r)  # fmt: skip
    return Fact(
        cid,
        visitor_id,
        visitor_name,
        _at(created_at),  # type: ignore[arg-type]
        _at(first_agent_at),
        _at(resolved_at),
        _at(first_assigned_at),
        status,
        int(reopened or 0),
        assignee_id,
        team_id,
        campaign_id,
        campaign_phase,
        campaign_arm,
        entry_url,
        entry_referrer,
        entry_locale,
        entry_user_agent,
        visitor_messages,
        agent_messages,
        max(0, last_seq - visitor_messages - agent_messages),
        score,
        comment,
        tags,
    )
