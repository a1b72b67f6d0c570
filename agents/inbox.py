"""The inbox: which conversations an agent lists, counts and searches.

Views: ``mine`` (assigned to me), ``unassigned`` (the queue I may take from: no team, or one
of my teams; an admin's, all of it), ``team`` (routed to one of my teams), ``all``. Views are
for focus, not access: every agent reads every conversation of the spaces it belongs to, on
every path (this inbox, ``GET /api/conversations/{id}``, the agent socket's welcome, replay
and live frames). Roles decide what an agent may change, not what it may read (see
docs/console.md). Every query starts from the spaces the agent belongs to (Store.visible).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa

from agents.models import conversation_tags, team_members
from chat.clock import iso
from chat.db import Database
from chat.errors import NotAllowed
from chat.models import conversations, messages, read_marks, visitors
from chat.principals import AgentPrincipal
from chat.store import Store

__all__ = ["VIEWS", "Filters", "Inbox", "View", "views_for"]

View = Literal["mine", "unassigned", "team", "all"]
VIEWS: tuple[View, ...] = ("mine", "unassigned", "team", "all")
PREVIEW_CHARS = 140


def views_for(agent: AgentPrincipal) -> tuple[View, ...]:
    """Every role has every view: a view filters what the agent may read anyway."""
    return VIEWS


@dataclass(frozen=True, slots=True)
class Filters:
    view: View = "mine"
    status: Literal["open", "resolved", "any"] = "open"
    text: str | None = None  # in message bodies, the visitor's name or email
    tag: str | None = None
    visitor: str | None = None  # a visitor id, external id, name or email
    space_id: str | None = None
    limit: int = 50


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class Inbox:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def my_teams(self, agent: AgentPrincipal) -> list[str]:
        async with self.db.read() as conn:
            rows = await conn.execute(
                sa.select(team_members.c.team_id).where(team_members.c.agent_id == agent.id)
            )
            return list(rows.scalars())

    def _view(self, agent: AgentPrincipal, view: View, team_ids: list[str]) -> Any:
        if view not in views_for(agent):
            raise NotAllowed("Your role does not have this view.")
        if view == "mine":
            return conversations.c.assignee_id == agent.id
        if view == "unassigned":
            queue = conversations.c.assignee_id.is_(None)
            if agent.role == "admin":
                return queue
            return sa.and_(
                queue,
                sa.or_(conversations.c.team_id.is_(None), conversations.c.team_id.in_(team_ids)),
            )
        if view == "team":
            return conversations.c.team_id.in_(team_ids)
        return sa.true()

    async def counts(self, agent: AgentPrincipal) -> dict[str, int]:
        """Open conversations per view the agent has."""
        team_ids = await self.my_teams(agent)
        columns = [
            sa.func.coalesce(
                sa.func.sum(sa.case((self._view(agent, v, team_ids), 1), else_=0)), 0
            ).label(v)
            for v in views_for(agent)
        ]
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    sa.select(*columns).where(
                        Store.visible(agent), conversations.c.status == "open"
                    )
                )
            ).one()
        return {v: int(getattr(row, v)) for v in views_for(agent)}

    async def entries(
        self, agent: AgentPrincipal, filters: Filters, ids: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """Inbox entries of a view, or of these conversations (the view aside)."""
        where: list[Any] = [Store.visible(agent)]
        if ids:
            where.append(conversations.c.id.in_(list(ids)))
        else:
            where.append(self._view(agent, filters.view, await self.my_teams(agent)))
        if filters.status != "any":
            where.append(conversations.c.status == filters.status)
        if filters.space_id is not None:
            where.append(conversations.c.space_id == filters.space_id)
        if filters.tag:
            where.append(
                conversations.c.id.in_(
                    sa.select(conversation_tags.c.conversation_id).where(
                        conversation_tags.c.tag == filters.tag.strip().lower()
                    )
                )
            )
        if filters.visitor:
            who = filters.visitor.strip()
            where.append(
                sa.or_(
                    visitors.c.id == who,
                    visitors.c.external_id == who,
                    visitors.c.name.ilike(_like(who), escape="\\"),
                    visitors.c.email.ilike(_like(who), escape="\\"),
                )
            )
        if filters.text:
            pattern = _like(filters.text.strip())
            where.append(
                sa.or_(
                    conversations.c.id.in_(
                        sa.select(messages.c.conversation_id).where(
                            messages.c.space_id.in_(list(agent.spaces)),
                            messages.c.body.ilike(pattern, escape="\\"),
                        )
                    ),
                    visitors.c.name.ilike(pattern, escape="\\"),
                    visitors.c.email.ilike(pattern, escape="\\"),
                )
            )
        last = messages.alias("last_message")
        mark = read_marks.alias("my_mark")
        # unread: what the visitor wrote past this agent's mark (not replies, not notes)
        seen = messages.alias("unread_message")
        unread = (
            sa.select(sa.func.count())
            .select_from(seen)
            .where(
                seen.c.conversation_id == conversations.c.id,
                seen.c.author_kind == "visitor",
                seen.c.seq > sa.func.coalesce(mark.c.last_read_seq, 0),
            )
            .correlate(conversations, mark)
            .scalar_subquery()
        )
        query = (
            sa.select(
                conversations,
                visitors.c.name.label("visitor_name"),
                visitors.c.email.label("visitor_email"),
                visitors.c.external_id.label("visitor_external_id"),
                last.c.body.label("last_body"),
                last.c.author_kind.label("last_author_kind"),
                last.c.created_at.label("last_at"),
                unread.label("unread"),
            )
            .select_from(
                conversations.join(visitors, visitors.c.id == conversations.c.visitor_id)
                .outerjoin(
                    last,
                    sa.and_(
                        last.c.conversation_id == conversations.c.id,
                        last.c.seq == conversations.c.last_seq,
                    ),
                )
                .outerjoin(
                    mark,
                    sa.and_(
                        mark.c.conversation_id == conversations.c.id, mark.c.reader_id == agent.id
                    ),
                )
            )
            .where(*where)
            .order_by(conversations.c.updated_at.desc(), conversations.c.id)
            .limit(max(1, min(filters.limit, 200)))
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        tags = await self.tags_of([r.id for r in rows])
        return [_summary(r, agent, tags.get(r.id, [])) for r in rows]

    async def one(self, agent: AgentPrincipal, conversation_id: str) -> dict[str, Any] | None:
        """The inbox entry of one conversation the agent may see, whatever its view."""
        found = await self.entries(agent, Filters(status="any", limit=1), ids=[conversation_id])
        return found[0] if found else None

    async def tags_of(self, conversation_ids: Sequence[str]) -> dict[str, list[str]]:
        if not conversation_ids:
            return {}
        async with self.db.read() as conn:
            rows = await conn.execute(
                sa.select(conversation_tags)
                .where(conversation_tags.c.conversation_id.in_(list(conversation_ids)))
                .order_by(conversation_tags.c.tag)
            )
            out: dict[str, list[str]] = {}
            for r in rows:
                out.setdefault(r.conversation_id, []).append(r.tag)
        return out


def _summary(row: Any, agent: AgentPrincipal, tags: list[str]) -> dict[str, Any]:
    last = None
    if row.last_body is not None:
        last = {
            "body": row.last_body[:PREVIEW_CHARS],
            "author_kind": row.last_author_kind,
            "created_at": iso(row.last_at),
        }
    campaign = None
    if row.campaign_id is not None:
        campaign = {"id": row.campaign_id, "phase": row.campaign_phase, "arm": row.campaign_arm}
    return {
        "campaign": campaign,
        "id": row.id,
        "space": agent.spaces.get(row.space_id),
        "space_id": row.space_id,
        "status": row.status,
        "visitor": {
            "id": row.visitor_id,
            "name": row.visitor_name,
            "email": row.visitor_email,
            "external_id": row.visitor_external_id,
        },
        "assignee_id": row.assignee_id,
        "team_id": row.team_id,
        "tags": tags,
        "last_seq": row.last_seq,
        "unread": row.unread,
        "last_message": last,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }
