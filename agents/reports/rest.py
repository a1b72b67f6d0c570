"""``GET /api/reports/{report}``: a space's figures over a range of days.

``from`` and ``to`` are inclusive dates in the space's time zone; ``group`` is day or week,
``by`` a breakdown. JSON, or CSV with ``Accept: text/csv``. Admins and marketing read every
figure of their spaces; a relation agent reads its own (the conversations assigned to it).
Another space is "not found", as one that does not exist.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from starlette.responses import Response

from agents.models import campaigns, teams
from agents.reports.facts import facts
from agents.reports.figures import BY, GROUPS, REPORTS, compute
from agents.reports.hours import BusinessHours
from agents.rest import Call, Op, Param
from agents.spreadsheet import safe_cell
from agents.teams import space_id_of
from chat.clock import utcnow
from chat.errors import InvalidRequest, NotFound
from chat.models import agents, spaces
from chat.redaction import Redactor

__all__ = ["OPS", "space_clock"]

MAX_DAYS = 366


async def space_clock(call: Call, space_id: str) -> tuple[BusinessHours, int]:
    """The space's business hours (in its time zone) and missed-chat threshold."""
    async with call.ctx.db.read() as conn:
        row = (
            await conn.execute(
                sa.select(
                    spaces.c.time_zone,
                    spaces.c.business_hours,
                    spaces.c.holidays,
                    spaces.c.missed_after_seconds,
                ).where(spaces.c.id == space_id)
            )
        ).one()
    return BusinessHours.of(row.time_zone, row.business_hours, row.holidays), int(
        row.missed_after_seconds
    )


async def _names(call: Call, space_id: str) -> dict[str, dict[str, str]]:
    async with call.ctx.db.read() as conn:
        agent_names = dict((await conn.execute(sa.select(agents.c.id, agents.c.name))).all())
        team_names = dict(
            (
                await conn.execute(
                    sa.select(teams.c.id, teams.c.name).where(teams.c.space_id == space_id)
                )
            ).all()
        )
        campaign_names = dict(
            (
                await conn.execute(
                    sa.select(campaigns.c.id, campaigns.c.name).where(
                        campaigns.c.space_id == space_id
                    )
                )
            ).all()
        )
    return {"agent": agent_names, "team": team_names, "campaign": campaign_names}


async def get_report(call: Call) -> Any:
    report = call.path("report")
    if report not in REPORTS:
        raise NotFound(f"No such report: {', '.join(REPORTS)}.", code="report_not_found")
    key = call.query("space")
    if not key:
        raise InvalidRequest("space: a space's key is required")
    space_id = space_id_of(call.me, key)
    group = call.query("group")
    if group is not None and group not in GROUPS:
        raise InvalidRequest("group: day or week")
    by = call.query("by")
    if by is not None and by not in BY:
        raise InvalidRequest(f"by: one of {', '.join(BY)}")
    hours, missed_after = await space_clock(call, space_id)
    zone = ZoneInfo(hours.zone)
    today = utcnow().astimezone(zone).date()
    until = call.day("to", today)
    since = call.day("from", until - timedelta(days=6))
    if since > until or (until - since).days >= MAX_DAYS:
        raise InvalidRequest(f"from and to: from first, at most {MAX_DAYS} days")
    start = datetime.combine(since, time.min, tzinfo=zone).astimezone(UTC)
    end = datetime.combine(until + timedelta(days=1), time.min, tzinfo=zone).astimezone(UTC)
    rows = await facts(call.ctx.db, space_id, start, end)
    mine_only = call.me.role == "relation"
    if mine_only:
        rows = [f for f in rows if f.assignee_id == call.me.id]
    figures = compute(
        report,
        rows,
        hours=hours,
        missed_after=missed_after,
        now=utcnow(),
        group=group,  # type: ignore[arg-type]
        by=by,
        names=await _names(call, space_id),
    )
    if by == "page":  # a page's address may carry personal data: reports are redacted too
        redactor = Redactor("mask")
        for row in figures["rows"]:
            if row["key"] is not None:
                row["key"] = row["label"] = redactor.redact_url(row["key"])
    out = {
        "report": report,
        "space": key,
        "from": since.isoformat(),
        "to": until.isoformat(),
        "time_zone": hours.zone,
        "group": group,
        "by": by,
        "scope": "mine" if mine_only else "space",
        **figures,
    }
    if "text/csv" in call.request.headers.get("accept", ""):
        name = f"{report}-{key}-{since.isoformat()}-{until.isoformat()}.csv"
        return Response(
            _csv(out),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="{name}"'},
        )
    return out


def _csv(out: dict[str, Any]) -> str:
    rows = out["rows"] or [{"period": None, "key": None, **out["total"]}]
    columns = list(dict.fromkeys(k for r in rows for k in r))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns)
    writer.writeheader()
    for r in rows:
        writer.writerow({k: safe_cell(v) for k, v in r.items()})
    return buffer.getvalue()


OPS = [
    Op(
        "GET",
        "/api/reports/{report}",
        get_report,
        "A report of a space: overview, first_response, resolution, volume, csat or missed",
        "reports",
        response="Report",
        query=(
            Param("space", "A space's key"),
            Param(
                "from", "First day, YYYY-MM-DD in the space's time zone (default: 6 days before to)"
            ),
            Param("to", "Last day, YYYY-MM-DD in the space's time zone (default: today)"),
            Param("group", "day or week", {"type": "string", "enum": list(GROUPS)}),
            Param("by", "A breakdown", {"type": "string", "enum": list(BY)}),
        ),
        errors=(400, 404),
        scopes=("metrics:read",),
    )
]
