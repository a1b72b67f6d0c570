"""What visitors did about campaigns: exposures (once per visitor and phase), goal events
(``Causette.track`` events some campaign counts) and conversions. The one writer of
``exposures``, ``goal_events`` and ``conversions``.

A conversion is written when it happens, at most once per visitor, phase and goal, and only
within the goal's attribution window after the visitor's exposure in that phase. Results then
count rows; they never replay events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from agents.models import conversions, exposures, goal_events
from chat.clock import as_utc, utcnow
from chat.db import Database

__all__ = ["Exposed", "Tracking"]


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
    def __init__(self, db: Database) -> None:
        self.db = db

    async def expose(
        self, campaign_id: str, phase: int, space_id: str, visitor_id: str, arm: str
    ) -> bool:
        """Record the exposure; False when the visitor was already exposed in this phase."""
        async with self.db.write() as conn:
            result = await conn.execute(
                _insert_ignore(self.db, exposures).values(
                    campaign_id=campaign_id,
                    phase=phase,
                    space_id=space_id,
                    visitor_id=visitor_id,
                    arm=arm,
                    at=utcnow(),
                )
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
            result = await conn.execute(_insert_ignore(self.db, conversions), rows)
        return max(0, result.rowcount or 0)
