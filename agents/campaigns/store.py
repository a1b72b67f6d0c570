"""Campaigns as stored: create, read, change, launch, pause, kill, with a version row for
every change (who, when, what) and a new phase whenever what is shown, or to whom, changes
once launched. The one writer of ``campaigns``, ``campaign_versions`` and ``campaign_phases``.

A campaign's status is what was set, read against the clock: a ``scheduled`` campaign past
its start is ``live``, a ``live`` or ``scheduled`` one past its end is ``ended``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa

from agents.campaigns.definition import Definition
from agents.models import campaign_phases, campaign_versions, campaigns
from chat.audit import Actor, record
from chat.clock import as_utc, iso, utcnow
from chat.db import Database
from chat.errors import Conflict, NotFound

__all__ = ["PHASED", "Campaign", "CampaignStore", "Status", "effective_status"]

Status = Literal["draft", "scheduled", "live", "paused", "ended"]
PHASED = ("arms", "holdout", "rules")  # a change of these once launched starts a new phase
FIXED_AT_LAUNCH = ("goal", "secondary_goals")
FIELDS = ("name", "priority", "starts_at", "ends_at")


def effective_status(
    status: str, starts_at: datetime | None, ends_at: datetime | None, now: datetime
) -> Status:
    if status in ("live", "scheduled") and ends_at is not None and now >= ends_at:
        return "ended"
    if status == "scheduled" and (starts_at is None or now >= starts_at):
        return "live"
    return status  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class Campaign:
    id: str
    space_id: str
    name: str
    status: str  # as set; see ``status_at``
    priority: int
    starts_at: datetime | None
    ends_at: datetime | None
    phase: int
    version: int
    definition: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    def status_at(self, now: datetime) -> Status:
        return effective_status(self.status, self.starts_at, self.ends_at, now)

    def active(self, now: datetime) -> bool:
        """Shown to visitors now."""
        return self.phase > 0 and self.status_at(now) == "live"

    def arms(self) -> list[tuple[str, float]]:
        return [(a["key"], float(a["weight"])) for a in self.definition["arms"]]

    def view(self, space_key: str, now: datetime | None = None) -> dict[str, Any]:
        """The campaign as the REST API shows it."""
        d = self.definition
        return {
            "id": self.id,
            "space": space_key,
            "name": self.name,
            "status": self.status_at(now or utcnow()),
            "priority": self.priority,
            "starts_at": iso(self.starts_at) if self.starts_at else None,
            "ends_at": iso(self.ends_at) if self.ends_at else None,
            "phase": self.phase,
            "version": self.version,
            "arms": d["arms"],
            "holdout": d["holdout"],
            "rules": d["rules"],
            "goal": d["goal"],
            "secondary_goals": d["secondary_goals"],
            "caps": d["caps"],
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


def _campaign(row: Any) -> Campaign:
    return Campaign(
        id=row.id,
        space_id=row.space_id,
        name=row.name,
        status=row.status,
        priority=row.priority,
        starts_at=as_utc(row.starts_at) if row.starts_at else None,
        ends_at=as_utc(row.ends_at) if row.ends_at else None,
        phase=row.phase,
        version=row.version,
        definition=row.definition,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
    )


def _not_found() -> NotFound:
    return NotFound("No such campaign.", code="campaign_not_found")


class CampaignStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self,
        space_id: str,
        agent_id: str | None,
        *,
        name: str,
        priority: int,
        starts_at: datetime | None,
        ends_at: datetime | None,
        definition: Definition,
    ) -> Campaign:
        _check_window(starts_at, ends_at)
        now = utcnow()
        campaign_id = str(uuid.uuid4())
        values: dict[str, Any] = {
            "id": campaign_id,
            "space_id": space_id,
            "name": name,
            "status": "draft",
            "priority": priority,
            "starts_at": starts_at,
            "ends_at": ends_at,
            "phase": 0,
            "version": 1,
            "definition": definition.as_json(),
            "created_at": now,
            "updated_at": now,
        }
        async with self.db.write() as conn:
            await conn.execute(campaigns.insert().values(**values))
            await _version(
                conn, values["id"], 1, 0, agent_id, now, "create", {"name": [None, name]}
            )
        return await self.get(campaign_id, {space_id})

    async def get(self, campaign_id: str, space_ids: set[str] | list[str]) -> Campaign:
        """One campaign of these spaces; any other is "not found", like one that does not exist."""
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    sa.select(campaigns).where(
                        campaigns.c.id == campaign_id, campaigns.c.space_id.in_(list(space_ids))
                    )
                )
            ).first()
        if row is None:
            raise _not_found()
        return _campaign(row)

    async def of_space(
        self, space_id: str, *, statuses: tuple[str, ...] | None = None
    ) -> list[Campaign]:
        query = sa.select(campaigns).where(campaigns.c.space_id == space_id)
        if statuses is not None:
            query = query.where(campaigns.c.status.in_(statuses))
        async with self.db.read() as conn:
            rows = await conn.execute(
                query.order_by(campaigns.c.priority.desc(), campaigns.c.created_at)
            )
        return [_campaign(r) for r in rows]

    async def versions(self, campaign: Campaign) -> list[dict[str, Any]]:
        async with self.db.read() as conn:
            rows = await conn.execute(
                sa.select(campaign_versions)
                .where(campaign_versions.c.campaign_id == campaign.id)
                .order_by(campaign_versions.c.version.desc())
            )
            return [
                {
                    "version": r.version,
                    "phase": r.phase,
                    "agent_id": r.agent_id,
                    "at": iso(as_utc(r.at)),
                    "action": r.action,
                    "changes": r.changes,
                }
                for r in rows
            ]

    async def phases(self, campaign: Campaign) -> list[dict[str, Any]]:
        async with self.db.read() as conn:
            rows = await conn.execute(
                sa.select(campaign_phases)
                .where(campaign_phases.c.campaign_id == campaign.id)
                .order_by(campaign_phases.c.phase)
            )
            return [
                {
                    "phase": r.phase,
                    "started_at": iso(as_utc(r.started_at)),
                    "ended_at": iso(as_utc(r.ended_at)) if r.ended_at else None,
                    "definition": r.definition,
                }
                for r in rows
            ]

    async def update(
        self, campaign: Campaign, agent_id: str | None, changes: dict[str, Any]
    ) -> Campaign:
        """Apply a PATCH: ``changes`` holds the top-level fields given (``definition`` parts
        already checked). Ended campaigns are final; goals are fixed once launched."""
        now = utcnow()
        if campaign.status_at(now) == "ended":
            raise Conflict(
                "An ended campaign cannot change; copy it into a new one.", code="campaign_ended"
            )
        definition = dict(campaign.definition)
        values: dict[str, Any] = {}
        diff: dict[str, list[Any]] = {}
        for field in FIELDS:
            if field in changes:
                before = getattr(campaign, field)
                after = changes[field]
                if before != after:
                    values[field] = after
                    diff[field] = [_jsonable(before), _jsonable(after)]
        for field in (*PHASED, *FIXED_AT_LAUNCH, "caps"):
            if field in changes and definition.get(field) != changes[field]:
                if field in FIXED_AT_LAUNCH and campaign.phase > 0:
                    raise Conflict(
                        "Goals are declared before launch and fixed after it.", code="goals_fixed"
                    )
                diff[field] = [definition.get(field), changes[field]]
                definition[field] = changes[field]
        _check_window(
            values.get("starts_at", campaign.starts_at), values.get("ends_at", campaign.ends_at)
        )
        if not diff:
            return campaign
        Definition.model_validate(definition)  # the whole still holds together
        phase = campaign.phase
        new_phase = phase > 0 and any(f in diff for f in PHASED)
        async with self.db.write() as conn:
            if new_phase:
                await _end_phase(conn, campaign.id, phase, now)
                phase += 1
                await conn.execute(
                    campaign_phases.insert().values(
                        campaign_id=campaign.id, phase=phase, started_at=now, definition=definition
                    )
                )
            version = await _bump(conn, campaign, now, definition=definition, phase=phase, **values)
            await _version(conn, campaign.id, version, phase, agent_id, now, "update", diff)
        return await self.get(campaign.id, {campaign.space_id})

    async def transition(
        self,
        campaign: Campaign,
        agent_id: str | None,
        action: Literal["launch", "pause", "kill"],
        *,
        actor: Actor | None = None,
    ) -> Campaign:
        """Launch, pause or kill, audited (with ``actor``) in the same transaction."""
        now = utcnow()
        current = campaign.status_at(now)
        if current == "ended":
            raise Conflict("The campaign has ended.", code="campaign_ended")
        phase = campaign.phase
        async with self.db.write() as conn:
            if action == "launch":
                if current == "live":
                    return campaign
                if campaign.ends_at is not None and campaign.ends_at <= now:
                    raise Conflict("The campaign's end time has passed.", code="campaign_ended")
                status = "scheduled" if campaign.starts_at and campaign.starts_at > now else "live"
                if phase == 0:
                    phase = 1
                    await conn.execute(
                        campaign_phases.insert().values(
                            campaign_id=campaign.id,
                            phase=1,
                            started_at=now,
                            definition=campaign.definition,
                        )
                    )
            elif action == "pause":
                if current not in ("live", "scheduled"):
                    raise Conflict(
                        "Only a live or scheduled campaign can be paused.", code="not_live"
                    )
                status = "paused"
            else:
                status = "ended"
                if phase > 0:
                    await _end_phase(conn, campaign.id, phase, now)
            version = await _bump(conn, campaign, now, status=status, phase=phase)
            await _version(
                conn,
                campaign.id,
                version,
                phase,
                agent_id,
                now,
                action,
                {"status": [current, status]},
            )
            if actor is not None:
                await record(
                    conn,
                    actor,
                    f"campaign.{action}",
                    space_id=campaign.space_id,
                    target_kind="campaign",
                    target_id=campaign.id,
                    target={"name": campaign.name, "phase": phase},
                    diff={"status": [current, status]},
                )
        return await self.get(campaign.id, {campaign.space_id})


def _check_window(starts_at: datetime | None, ends_at: datetime | None) -> None:
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        raise Conflict("ends_at must come after starts_at.", code="invalid_window")


def _jsonable(value: Any) -> Any:
    return iso(value) if isinstance(value, datetime) else value


async def _bump(conn: Any, campaign: Campaign, now: datetime, **values: Any) -> int:
    """Write the row's new values under the next version; a concurrent change loses."""
    version = campaign.version + 1
    result = await conn.execute(
        campaigns.update()
        .where(campaigns.c.id == campaign.id, campaigns.c.version == campaign.version)
        .values(version=version, updated_at=now, **values)
    )
    if result.rowcount != 1:
        raise Conflict(
            "The campaign was changed meanwhile; read it again.", code="campaign_changed"
        )
    return version


async def _version(
    conn: Any,
    campaign_id: str,
    version: int,
    phase: int,
    agent_id: str | None,
    at: datetime,
    action: str,
    changes: dict[str, Any],
) -> None:
    await conn.execute(
        campaign_versions.insert().values(
            campaign_id=campaign_id,
            version=version,
            phase=phase,
            agent_id=agent_id,
            at=at,
            action=action,
            changes=changes,
        )
    )


async def _end_phase(conn: Any, campaign_id: str, phase: int, now: datetime) -> None:
    await conn.execute(
        campaign_phases.update()
        .where(
            campaign_phases.c.campaign_id == campaign_id,
            campaign_phases.c.phase == phase,
            campaign_phases.c.ended_at.is_(None),
        )
        .values(ended_at=now)
    )
