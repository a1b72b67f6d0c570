"""Customer satisfaction: when an agent resolves a conversation in which an agent replied,
the visitor is asked one question, 1 to 5, with an optional comment, once, for 7 days (the
space can turn it off). The one writer of ``csat_ratings``.

A rating is attributed to the last agent who replied and, through its conversation, to the
campaign arm that opened it. A ``csat.submitted`` event for the space's webhooks is written
with it (chat/outbox.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from agents.models import csat_ratings
from chat.clock import as_utc, iso, utcnow
from chat.connection import Connection
from chat.db import Database
from chat.errors import ConversationNotFound, NotAllowed
from chat.events import Event
from chat.frames import CsatFrame
from chat.holds import HoldSet
from chat.hub import Hub
from chat.keeper import Counts, Keeper, Ref
from chat.logging import get_logger
from chat.models import conversations, messages, spaces
from chat.outbox import Outbox
from chat.principals import VisitorPrincipal, space_channel, visitor_channel
from chat.protocol import CampaignFrame, Csat
from chat.relay import VisitorListener
from chat.store import Conversation
from chat.transcripts import Transcripts

__all__ = ["ANSWERABLE", "CsatKeeper", "CsatListener", "rating_of", "report"]

log = get_logger("causette.csat")

ANSWERABLE = timedelta(days=7)


class RatingGoals(Protocol):
    async def rated(self, space_id: str, visitor_id: str, score: int) -> None: ...


async def rating_of(db: Database, conversation_id: str) -> dict[str, Any] | None:
    async with db.read() as conn:
        row = (
            await conn.execute(
                sa.select(csat_ratings).where(csat_ratings.c.conversation_id == conversation_id)
            )
        ).first()
    if row is None:
        return None
    return {
        "score": row.score,
        "comment": row.comment,
        "at": iso(as_utc(row.at)),
        "agent_id": row.agent_id,
    }


class CsatListener(VisitorListener):
    def __init__(
        self,
        db: Database,
        hub: Hub,
        goals: RatingGoals | None = None,
        outbox: Outbox | None = None,
    ) -> None:
        self.db = db
        self.hub = hub
        self.goals = goals
        self.outbox = outbox or Outbox()

    async def _askable(self, conversation_id: str) -> tuple[Any, str | None] | None:
        """(the conversation row, the last agent who replied) when its visitor may rate it."""
        last_agent = (
            sa.select(messages.c.author_id)
            .where(messages.c.conversation_id == conversation_id, messages.c.author_kind == "agent")
            .order_by(messages.c.seq.desc())
            .limit(1)
            .scalar_subquery()
        )
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    sa.select(
                        conversations.c.id,
                        conversations.c.space_id,
                        conversations.c.visitor_id,
                        conversations.c.status,
                        conversations.c.resolved_at,
                        spaces.c.csat,
                        last_agent.label("agent_id"),
                    )
                    .select_from(
                        conversations.join(spaces, spaces.c.id == conversations.c.space_id)
                    )
                    .where(conversations.c.id == conversation_id)
                )
            ).first()
        if row is None or not row.csat or row.status != "resolved" or row.resolved_at is None:
            return None
        if row.agent_id is None:
            return None  # nobody answered: there is nothing to rate
        return row, row.agent_id

    async def resolved(self, conv: Conversation) -> None:
        found = await self._askable(conv.id)
        if found is None or await rating_of(self.db, conv.id) is not None:
            return
        row, _ = found
        ask = CsatFrame(conv.id, iso(_until(row.resolved_at)), None)
        self.hub.publish((visitor_channel(conv.visitor_id),), Event.frame(ask, conv.id))

    async def joined(self, conn: Connection) -> None:
        """A page opened within the week after a resolve asks again (until answered)."""
        visitor = conn.principal
        since = utcnow() - ANSWERABLE
        async with self.db.read() as db:
            row = (
                await db.execute(
                    sa.select(conversations.c.id)
                    .where(
                        conversations.c.visitor_id == visitor.id,
                        conversations.c.status == "resolved",
                        conversations.c.resolved_at >= since,
                        ~conversations.c.id.in_(sa.select(csat_ratings.c.conversation_id)),
                    )
                    .order_by(conversations.c.resolved_at.desc())
                    .limit(1)
                )
            ).first()
        if row is None:
            return
        found = await self._askable(row.id)
        if found is not None:
            conn.send_frame(CsatFrame(row.id, iso(_until(found[0].resolved_at)), None))

    async def frame(self, conn: Connection, frame: CampaignFrame) -> bool:
        if not isinstance(frame, Csat):
            return False
        visitor = conn.principal
        assert isinstance(visitor, VisitorPrincipal)
        found = await self._askable(frame.conversation_id)
        if found is None or found[0].visitor_id != visitor.id:
            if found is None and not await self._mine(visitor, frame.conversation_id):
                raise ConversationNotFound()
            raise NotAllowed("This conversation cannot be rated.")
        row, agent_id = found
        if utcnow() > _until(row.resolved_at):
            raise NotAllowed("This conversation can no longer be rated.")
        comment = (frame.comment or "").strip() or None
        now = utcnow()
        try:
            async with self.db.write() as db:
                await db.execute(
                    csat_ratings.insert().values(
                        conversation_id=row.id,
                        space_id=row.space_id,
                        visitor_id=visitor.id,
                        agent_id=agent_id,
                        score=frame.score,
                        comment=comment,
                        at=now,
                    )
                )
                await self.outbox.emit(
                    db,
                    row.space_id,
                    "csat.submitted",
                    {
                        "conversation_id": row.id,
                        "visitor_id": visitor.id,
                        "agent_id": agent_id,
                        "score": frame.score,
                        "comment": comment,
                        "at": iso(now),
                    },
                    conversation_id=row.id,
                    visitor_id=visitor.id,
                    at=now,
                )
        except IntegrityError:
            raise NotAllowed("This conversation is rated already.") from None
        log.info("csat_rated", conversation_id=row.id, score=frame.score)
        given = CsatFrame(row.id, iso(_until(row.resolved_at)), frame.score, comment)
        event = Event.frame(given, row.id)
        self.hub.publish((visitor_channel(visitor.id), space_channel(row.space_id)), event)
        if self.goals is not None:
            await self.goals.rated(row.space_id, visitor.id, frame.score)
        return True

    async def _mine(self, visitor: VisitorPrincipal, conversation_id: str) -> bool:
        async with self.db.read() as db:
            return (
                await db.execute(
                    sa.select(conversations.c.id).where(
                        conversations.c.id == conversation_id,
                        conversations.c.visitor_id == visitor.id,
                    )
                )
            ).first() is not None


def _until(resolved_at: datetime) -> datetime:
    return as_utc(resolved_at) + ANSWERABLE


def _figures(scores: list[int | None]) -> dict[str, Any]:
    """Asked (resolved with an agent's reply), rated, response rate, CSAT score (share of 4
    and 5) and mean, of a group of conversations."""
    rated = [s for s in scores if s is not None]
    return {
        "asked": len(scores),
        "ratings": len(rated),
        "response_rate": round(len(rated) / len(scores), 4) if scores else None,
        "score": round(sum(s >= 4 for s in rated) / len(rated), 4) if rated else None,
        "mean": round(sum(rated) / len(rated), 3) if rated else None,
    }


async def report(db: Database, space_id: str, since: datetime, until: datetime) -> dict[str, Any]:
    """CSAT of the conversations of a space resolved in [since, until): overall, per agent
    (the last agent who replied) and per team."""
    last_agent = (
        sa.select(messages.c.author_id)
        .where(messages.c.conversation_id == conversations.c.id, messages.c.author_kind == "agent")
        .order_by(messages.c.seq.desc())
        .limit(1)
        .correlate(conversations)
        .scalar_subquery()
    )
    async with db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(
                    conversations.c.team_id,
                    last_agent.label("agent_id"),
                    csat_ratings.c.score,
                )
                .select_from(
                    conversations.outerjoin(
                        csat_ratings, csat_ratings.c.conversation_id == conversations.c.id
                    )
                )
                .where(
                    conversations.c.space_id == space_id,
                    conversations.c.status == "resolved",
                    conversations.c.resolved_at >= since,
                    conversations.c.resolved_at < until,
                )
            )
        ).all()
    asked = [r for r in rows if r.agent_id is not None]
    by_agent: dict[str, list[int | None]] = {}
    by_team: dict[str, list[int | None]] = {}
    for r in asked:
        by_agent.setdefault(r.agent_id, []).append(r.score)
        if r.team_id is not None:
            by_team.setdefault(r.team_id, []).append(r.score)
    return {
        "overall": _figures([r.score for r in asked]),
        "agents": {k: _figures(v) for k, v in by_agent.items()},
        "teams": {k: _figures(v) for k, v in by_team.items()},
    }


class CsatKeeper(Keeper):
    """A rating goes with its conversation. An erasure deletes its comment and moves its
    score to the anonymous profile, so satisfaction figures stay as they were."""

    conversation_columns = (csat_ratings.c.conversation_id,)

    def visitor_columns(self) -> list[sa.Column[Any]]:
        return [csat_ratings.c.visitor_id]

    def visitor_refs(
        self, space_id: str, cutoffs: Mapping[str, datetime], holds: HoldSet
    ) -> list[Ref]:
        messages = cutoffs.get("messages")
        if messages is None:
            return super().visitor_refs(space_id, cutoffs, holds)
        gone = csat_ratings.c.conversation_id.in_(
            Transcripts.expired(space_id, messages, holds).scalar_subquery()
        )
        return [(csat_ratings.c.visitor_id, gone)]

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
        moved = await conn.execute(
            csat_ratings.update()
            .where(
                csat_ratings.c.visitor_id == visitor_id,
                csat_ratings.c.conversation_id.in_(conversation_ids),
            )
            .values(visitor_id=anonymous_id, comment=None)
        )
        return {"csat_ratings": int(moved.rowcount or 0)}

    async def visitor_data(
        self, conn: AsyncConnection, space_id: str, visitor_id: str, conversation_ids: list[str]
    ) -> dict[str, Any]:
        rows = await conn.execute(
            sa.select(csat_ratings).where(
                csat_ratings.c.visitor_id == visitor_id, csat_ratings.c.space_id == space_id
            )
        )
        return {
            "csat_ratings": [
                {
                    "conversation_id": r.conversation_id,
                    "score": r.score,
                    "comment": r.comment,
                    "at": iso(as_utc(r.at)),
                }
                for r in rows
            ]
        }
