"""What visitors did about campaigns: exposures (once per visitor and phase), goal events
(``Causette.track`` events some campaign counts) and conversions. The one writer of
``exposures``, ``goal_events`` and ``conversions``.

A conversion is written when it happens, at most once per visitor, phase and goal, and only
within the goal's attribution window after the visitor's exposure in that phase. Results then
count rows; they never replay events. A new exposure and a new conversion are also written
to the events outbox (``campaign.exposure``, ``goal.converted``; chat/outbox.py) in the same
transaction, when the space's webhooks want them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from agents.models import campaigns, conversions, exposures, goal_events
from chat.clock import as_utc, iso, utcnow
from chat.db import Database
from chat.holds import HoldSet
from chat.keeper import Counts, Keeper, Ref
from chat.models import visitors
from chat.outbox import Outbox

__all__ = ["Exposed", "Tracking", "TrackingKeeper", "delete_space_tracking"]


@dataclass(frozen=True, slots=True)
class Exposed:
    campaign_id: str
    phase: int
    arm: str
    at: datetime


def _insert_ignore(db: Database, table: sa.Table) -> Any:
    """INSERT that leaves an existing row alone (one statement on both backends)."""
    if db.engine.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


class Tracking:
    def __init__(self, db: Database, outbox: Outbox | None = None) -> None:
        self.db = db
        self.outbox = outbox or Outbox()

    async def expose(
        self, campaign_id: str, phase: int, space_id: str, visitor_id: str, arm: str
    ) -> bool:
        """Record the exposure; False when the visitor was already exposed in this phase."""
        now = utcnow()
        async with self.db.write() as conn:
            result = await conn.execute(
                _insert_ignore(self.db, exposures).values(
                    campaign_id=campaign_id,
                    phase=phase,
                    space_id=space_id,
                    visitor_id=visitor_id,
                    arm=arm,
                    at=now,
                )
            )
            if result.rowcount:
                event = {
                    "campaign_id": campaign_id,
                    "phase": phase,
                    "arm": arm,
                    "visitor_id": visitor_id,
                    "at": iso(now),
                }
                await self.outbox.emit(
                    conn, space_id, "campaign.exposure", event, visitor_id=visitor_id, at=now
                )
        return bool(result.rowcount)

    async def exposed(
        self, visitor_id: str, campaign_ids: Iterable[str], since: datetime
    ) -> list[Exposed]:
        ids = list(campaign_ids)
        if not ids:
            return []
        async with self.db.read() as conn:
            rows = await conn.execute(
                sa.select(
                    exposures.c.campaign_id, exposures.c.phase, exposures.c.arm, exposures.c.at
                ).where(
                    exposures.c.visitor_id == visitor_id,
                    exposures.c.campaign_id.in_(ids),
                    exposures.c.at >= since,
                )
            )
            return [Exposed(r.campaign_id, r.phase, r.arm, as_utc(r.at)) for r in rows]

    async def store_event(
        self, space_id: str, visitor_id: str, name: str, props: dict[str, Any]
    ) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                goal_events.insert().values(
                    space_id=space_id,
                    visitor_id=visitor_id,
                    name=name,
                    props=props or None,
                    at=utcnow(),
                )
            )

    async def convert(
        self,
        visitor_id: str,
        goals: dict[str, list[tuple[int, int]]],
        reached: Callable[[str, int], bool] | None = None,
        *,
        at: datetime | None = None,
    ) -> int:
        """Record conversions for ``goals`` (campaign id -> [(goal index, window hours)]) of a
        visitor, for each phase it was exposed in within the window. Returns how many were new."""
        at = at or utcnow()
        if not goals:
            return 0
        longest = max(hours for pairs in goals.values() for _, hours in pairs)
        seen = await self.exposed(visitor_id, goals, at - timedelta(hours=longest))
        rows = [
            {
                "campaign_id": e.campaign_id,
                "phase": e.phase,
                "visitor_id": visitor_id,
                "goal": index,
                "arm": e.arm,
                "at": at,
            }
            for e in seen
            for index, hours in goals[e.campaign_id]
            if e.at <= at <= e.at + timedelta(hours=hours)
            and (reached is None or reached(e.campaign_id, index))
        ]
        if not rows:
            return 0
        async with self.db.write() as conn:
            if not self.outbox.interest.spaces("goal.converted"):
                result = await conn.execute(_insert_ignore(self.db, conversions), rows)
                return max(0, result.rowcount or 0)
            new = (
                await conn.execute(
                    _insert_ignore(self.db, conversions)
                    .values(rows)
                    .returning(*(conversions.c[k] for k in rows[0]))
                )
            ).all()
            space_id = await conn.scalar(
                sa.select(visitors.c.space_id).where(visitors.c.id == visitor_id)
            )
            for c in new:
                event = {
                    "campaign_id": c.campaign_id,
                    "phase": c.phase,
                    "goal": c.goal,
                    "arm": c.arm,
                    "visitor_id": visitor_id,
                    "at": iso(at),
                }
                await self.outbox.emit(
                    conn, str(space_id), "goal.converted", event, visitor_id=visitor_id, at=at
                )
        return len(new)


async def delete_space_tracking(conn: AsyncConnection, space_id: str) -> None:
    """Delete a space's exposures, goal events and conversions, inside the transaction that
    deletes the space (chat/spaces.py ``delete_space``), before its visitors."""
    of_space = sa.select(visitors.c.id).where(visitors.c.space_id == space_id)
    await conn.execute(conversions.delete().where(conversions.c.visitor_id.in_(of_space)))
    await conn.execute(exposures.delete().where(exposures.c.space_id == space_id))
    await conn.execute(goal_events.delete().where(goal_events.c.space_id == space_id))


class TrackingKeeper(Keeper):
    """Exposures, goal events and conversions are the ``events`` kind of retention. An
    erasure deletes the visitor's goal events (what the site told of it) and moves its
    exposures and conversions to the anonymous profile: experiment results stay whole."""

    @staticmethod
    def _expired(space_id: str, cutoff: datetime, holds: HoldSet) -> list[tuple[str, Any, Any]]:
        in_space = sa.select(campaigns.c.id).where(campaigns.c.space_id == space_id)
        return [
            (
                "goal_events",
                goal_events,
                sa.and_(
                    goal_events.c.space_id == space_id,
                    goal_events.c.at < cutoff,
                    sa.not_(holds.keeps_event(goal_events.c.visitor_id, goal_events.c.at)),
                ),
            ),
            (
                "conversions",
                conversions,
                sa.and_(
                    conversions.c.campaign_id.in_(in_space.scalar_subquery()),
                    conversions.c.at < cutoff,
                    sa.not_(holds.keeps_event(conversions.c.visitor_id, conversions.c.at)),
                ),
            ),
            (
                "exposures",
                exposures,
                sa.and_(
                    exposures.c.space_id == space_id,
                    exposures.c.at < cutoff,
                    sa.not_(holds.keeps_event(exposures.c.visitor_id, exposures.c.at)),
                ),
            ),
        ]

    async def count_events(
        self, conn: AsyncConnection, space_id: str, cutoff: datetime, holds: HoldSet
    ) -> Counts:
        counts = {}
        for name, table, where in self._expired(space_id, cutoff, holds):
            n = await conn.scalar(sa.select(sa.func.count()).select_from(table).where(where))
            counts[name] = int(n or 0)
        return counts

    async def purge_events(
        self, conn: AsyncConnection, space_id: str, cutoff: datetime, holds: HoldSet, limit: int
    ) -> Counts:
        counts = {}
        for name, table, where in self._expired(space_id, cutoff, holds):
            if name == "conversions":  # no single key: a batch by visitor and campaign
                batch = (
                    sa.select(table.c.campaign_id, table.c.phase, table.c.visitor_id, table.c.goal)
                    .where(where)
                    .limit(limit)
                )
                keys = (await conn.execute(batch)).all()
                if not keys:
                    counts[name] = 0
                    continue
                key = sa.tuple_(
                    table.c.campaign_id, table.c.phase, table.c.visitor_id, table.c.goal
                )
                result = await conn.execute(table.delete().where(key.in_([tuple(k) for k in keys])))
            else:
                ids = sa.select(table.c.id).where(where).order_by(table.c.id).limit(limit)
                result = await conn.execute(
                    table.delete().where(table.c.id.in_(ids.scalar_subquery()))
                )
            counts[name] = int(result.rowcount or 0)
        return counts

    def visitor_columns(self) -> list[sa.Column[Any]]:
        return [exposures.c.visitor_id, goal_events.c.visitor_id, conversions.c.visitor_id]

    def visitor_refs(
        self, space_id: str, cutoffs: Mapping[str, datetime], holds: HoldSet
    ) -> list[Ref]:
        events = cutoffs.get("events")
        if events is None:
            return super().visitor_refs(space_id, cutoffs, holds)
        return [(t.c.visitor_id, gone) for _, t, gone in self._expired(space_id, events, holds)]

    async def erase_visitor(
        self,
        conn: AsyncConnection,
        space_id: str,
        visitor_id: str,
        anonymous_id: str,
        conversation_ids: list[str],
        holds: HoldSet,
    ) -> Counts:
        gone = await conn.execute(
            goal_events.delete().where(
                goal_events.c.visitor_id == visitor_id,
                sa.not_(holds.keeps_event(goal_events.c.visitor_id, goal_events.c.at)),
            )
        )
        moved_exposures = await conn.execute(
            exposures.update()
            .where(
                exposures.c.visitor_id == visitor_id,
                sa.not_(holds.keeps_event(exposures.c.visitor_id, exposures.c.at)),
            )
            .values(visitor_id=anonymous_id)
        )
        moved_conversions = await conn.execute(
            conversions.update()
            .where(
                conversions.c.visitor_id == visitor_id,
                sa.not_(holds.keeps_event(conversions.c.visitor_id, conversions.c.at)),
            )
            .values(visitor_id=anonymous_id)
        )
        return {
            "goal_events": int(gone.rowcount or 0),
            "exposures": int(moved_exposures.rowcount or 0),
            "conversions": int(moved_conversions.rowcount or 0),
        }

    async def visitor_data(
        self, conn: AsyncConnection, space_id: str, visitor_id: str, conversation_ids: list[str]
    ) -> dict[str, Any]:
        events = await conn.execute(
            sa.select(goal_events)
            .where(goal_events.c.visitor_id == visitor_id, goal_events.c.space_id == space_id)
            .order_by(goal_events.c.id)
        )
        seen = await conn.execute(
            sa.select(exposures, campaigns.c.name)
            .select_from(exposures.join(campaigns, campaigns.c.id == exposures.c.campaign_id))
            .where(exposures.c.visitor_id == visitor_id, exposures.c.space_id == space_id)
            .order_by(exposures.c.id)
        )
        reached = await conn.execute(
            sa.select(conversions)
            .select_from(conversions.join(campaigns, campaigns.c.id == conversions.c.campaign_id))
            .where(conversions.c.visitor_id == visitor_id, campaigns.c.space_id == space_id)
        )
        return {
            "goal_events": [
                {"name": e.name, "props": e.props, "at": iso(as_utc(e.at))} for e in events
            ],
            "exposures": [
                {
                    "campaign_id": x.campaign_id,
                    "campaign": x.name,
                    "phase": x.phase,
                    "arm": x.arm,
                    "at": iso(as_utc(x.at)),
                }
                for x in seen
            ],
            "conversions": [
                {
                    "campaign_id": c.campaign_id,
                    "phase": c.phase,
                    "goal": c.goal,
                    "arm": c.arm,
                    "at": iso(as_utc(c.at)),
                }
                for c in reached
            ],
        }
