"""``GET /api/csat``: a space's CSAT over a range of days, overall, per agent (the last agent
who replied) and per team, with the response rate (agents/csat.py counts them)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from agents.csat import report
from agents.models import teams
from agents.rest import Call, Op, Param
from agents.teams import space_id_of
from chat.clock import utcnow
from chat.errors import InvalidRequest
from chat.models import agents, spaces

__all__ = ["OPS"]


async def csat_report(call: Call) -> dict[str, Any]:
    """A space's CSAT over a range of days (in the space's time zone, ``to`` included), by
    when conversations were resolved: admins and marketing see every figure; a relation agent
    sees its own."""
    key = call.query("space")
    if not key:
        raise InvalidRequest("space: a space's key is required")
    space_id = space_id_of(call.me, key)
    async with call.ctx.db.read() as conn:
        zone_name = (
            await conn.execute(sa.select(spaces.c.time_zone).where(spaces.c.id == space_id))
        ).scalar_one()
    zone = ZoneInfo(zone_name)
    today = utcnow().astimezone(zone).date()
    until = call.day("to", today)
    since = call.day("from", until - timedelta(days=29))
    if since > until or (until - since).days > 366:
        raise InvalidRequest("from and to: from first, at most 366 days apart")
    start = datetime.combine(since, time.min, tzinfo=zone).astimezone(UTC)
    end = datetime.combine(until + timedelta(days=1), time.min, tzinfo=zone).astimezone(UTC)
    figures = await report(call.ctx.db, space_id, start, end)
    async with call.ctx.db.read() as conn:
        names = dict(
            (await conn.execute(sa.select(agents.c.id, agents.c.name).where(
                agents.c.id.in_(list(figures["agents"]))
            ))).all()
        )  # fmt: skip
        team_names = dict(
            (await conn.execute(sa.select(teams.c.id, teams.c.name).where(
                teams.c.space_id == space_id
            ))).all()
        )  # fmt: skip
    per_agent = [
        {"agent_id": k, "name": names.get(k), **v} for k, v in sorted(figures["agents"].items())
    ]
    out: dict[str, Any] = {"space": key, "from": since.isoformat(), "to": until.isoformat()}
    if call.me.role == "relation":
        return {**out, "agents": [a for a in per_agent if a["agent_id"] == call.me.id]}
    return {
        **out,
        "overall": figures["overall"],
        "agents": per_agent,
        "teams": [
            {"team_id": k, "name": team_names.get(k), **v}
            for k, v in sorted(figures["teams"].items())
        ],
    }


OPS = [
    Op(
        "GET",
        "/api/csat",
        csat_report,
        "CSAT of a space: overall, per agent and per team (a relation agent: its own)",
        "csat",
        response="CsatReport",
        query=(
            Param("space", "A space's key"),
            Param("from", "First day, YYYY-MM-DD in the space's time zone (default: to - 29)"),
            Param("to", "Last day, YYYY-MM-DD in the space's time zone (default: today)"),
        ),
        errors=(400, 404),
        scopes=("metrics:read",),
    )
]
