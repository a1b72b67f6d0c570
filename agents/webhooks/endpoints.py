"""A space's webhook endpoints: where its events go, which ones, in full or minimal form, and
the secrets that sign them. The one writer of ``webhook_endpoints``.

A secret (``whsec_...``) is shown once, when it is made or rotated; a rotation keeps the
previous one signing beside it for 24 hours, so that a receiver can switch without missing a
delivery. Making, changing and deleting an endpoint are audited (``webhook.create``,
``webhook.update``, ``webhook.delete``) in the space's chain, in the same transaction; the
trail keeps the URL without its query (which may hold the receiver's token), never a secret.
Another space's endpoint is "not found", like one that does not exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from agents.models import webhook_endpoints
from agents.webhooks.signer import new_secret
from chat.audit import SYSTEM, Actor, record
from chat.clock import as_utc, iso, utcnow
from chat.db import Database
from chat.errors import InvalidRequest, NotFound
from chat.outbox import EVENT_TYPES

__all__ = ["OVERLAP", "Endpoint", "Endpoints", "check_events", "interest"]

OVERLAP = timedelta(hours=24)  # the previous secret signs this long after a rotation
MAX_PER_SPACE = 20

_e = webhook_endpoints.c


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: str
    space_id: str
    url: str
    events: tuple[str, ...]
    minimal: bool
    enabled: bool
    disabled_reason: str | None
    secret: str
    previous_secret: str | None
    previous_until: datetime | None
    created_at: datetime
    created_by: str | None
    updated_at: datetime

    def keys(self, now: datetime) -> list[str]:
        """The secrets that sign now: the current one, and the previous for a day."""
        if self.previous_secret and self.previous_until and self.previous_until > now:
            return [self.secret, self.previous_secret]
        return [self.secret]

    def public(self, space_key: str | None, now: datetime | None = None) -> dict[str, Any]:
        now = now or utcnow()
        overlap = self.previous_until if len(self.keys(now)) > 1 else None
        return {
            "id": self.id,
            "space": space_key,
            "url": self.url,
            "events": list(self.events),
            "minimal": self.minimal,
            "enabled": self.enabled,
            "disabled_reason": self.disabled_reason,
            "previous_secret_until": iso(overlap) if overlap else None,
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            "updated_at": iso(self.updated_at),
        }


def _endpoint(row: Any) -> Endpoint:
    return Endpoint(
        id=row.id,
        space_id=row.space_id,
        url=row.url,
        events=tuple(row.events or ()),
        minimal=bool(row.minimal),
        enabled=bool(row.enabled),
        disabled_reason=row.disabled_reason,
        secret=row.secret,
        previous_secret=row.previous_secret,
        previous_until=as_utc(row.previous_until) if row.previous_until else None,
        created_at=as_utc(row.created_at),
        created_by=row.created_by,
        updated_at=as_utc(row.updated_at),
    )


def check_events(events: Sequence[str]) -> list[str]:
    """The event types asked for, each known, each once, in the documented order."""
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise InvalidRequest(
            f"Unknown event type {unknown[0]!r}: one of {', '.join(EVENT_TYPES)}.",
            code="unknown_event",
        )
    if not events:
        raise InvalidRequest("Name at least one event type.", code="unknown_event")
    return [t for t in EVENT_TYPES if t in set(events)]


def _shown(url: str) -> str:
    """The URL as the audit trail keeps it: without its query or fragment."""
    split = urlsplit(url)
    return f"{split.scheme}://{split.netloc}{split.path}"


async def interest(conn: AsyncConnection, space_id: str | None = None) -> dict[str, set[str]]:
    """The event types the enabled endpoints want, per space (of one space, or all)."""
    query = sa.select(_e.space_id, _e.events).where(_e.enabled == sa.true())
    if space_id is not None:
        query = query.where(_e.space_id == space_id)
    wanted: dict[str, set[str]] = {}
    for row in await conn.execute(query):
        wanted.setdefault(row.space_id, set()).update(row.events or ())
    return wanted


class Endpoints:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self,
        actor: Actor,
        space_id: str,
        url: str,
        events: Sequence[str],
        *,
        minimal: bool = False,
    ) -> Endpoint:
        chosen = check_events(events)
        now = utcnow()
        values: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "space_id": space_id,
            "url": url,
            "events": chosen,
            "minimal": minimal,
            "enabled": True,
            "secret": new_secret(),
            "created_at": now,
            "created_by": actor.name,
            "updated_at": now,
        }
        async with self.db.write() as conn:
            count = await conn.scalar(sa.select(sa.func.count()).where(_e.space_id == space_id))
            if int(count or 0) >= MAX_PER_SPACE:
                raise InvalidRequest(
                    f"A space has at most {MAX_PER_SPACE} webhooks.", code="too_many_webhooks"
                )
            row = (
                await conn.execute(
                    webhook_endpoints.insert().values(**values).returning(*webhook_endpoints.c)
                )
            ).one()
            await record(
                conn,
                actor,
                "webhook.create",
                space_id=space_id,
                target_kind="webhook",
                target_id=values["id"],
                target={"url": _shown(url), "events": chosen, "minimal": minimal},
            )
        return _endpoint(row)

    async def in_spaces(self, space_ids: Collection[str]) -> list[Endpoint]:
        async with self.db.read() as conn:
            rows = await conn.execute(
                sa.select(webhook_endpoints)
                .where(_e.space_id.in_(sorted(space_ids)))
                .order_by(_e.created_at, _e.id)
            )
            return [_endpoint(r) for r in rows]

    async def get(self, space_ids: Collection[str], endpoint_id: str) -> Endpoint:
        async with self.db.read() as conn:
            found = await self.one(conn, space_ids, endpoint_id)
        return found

    @staticmethod
    async def one(conn: AsyncConnection, space_ids: Collection[str], endpoint_id: str) -> Endpoint:
        row = (
            await conn.execute(
                sa.select(webhook_endpoints).where(
                    _e.id == endpoint_id, _e.space_id.in_(sorted(space_ids))
                )
            )
        ).first()
        if row is None:
            raise NotFound("No such webhook.", code="webhook_not_found")
        return _endpoint(row)

    @staticmethod
    async def by_ids(conn: AsyncConnection, ids: Collection[str]) -> dict[str, Endpoint]:
        if not ids:
            return {}
        rows = await conn.execute(sa.select(webhook_endpoints).where(_e.id.in_(sorted(ids))))
        return {r.id: _endpoint(r) for r in rows}

    @staticmethod
    async def of_spaces(conn: AsyncConnection, space_ids: Collection[str]) -> list[Endpoint]:
        """The enabled endpoints of these spaces (the worker's fan-out, on its connection)."""
        if not space_ids:
            return []
        rows = await conn.execute(
            sa.select(webhook_endpoints)
            .where(_e.space_id.in_(sorted(space_ids)), _e.enabled == sa.true())
            .order_by(_e.id)
        )
        return [_endpoint(r) for r in rows]

    async def update(
        self,
        actor: Actor,
        space_ids: Collection[str],
        endpoint_id: str,
        *,
        url: str | None = None,
        events: Sequence[str] | None = None,
        minimal: bool | None = None,
        enabled: bool | None = None,
        rotate_secret: bool = False,
    ) -> Endpoint:
        now = utcnow()
        async with self.db.write() as conn:
            before = await self.one(conn, space_ids, endpoint_id)
            values: dict[str, Any] = {}
            diff: dict[str, Any] = {}
            if url is not None and url != before.url:
                values["url"] = url
                diff["url"] = [_shown(before.url), _shown(url)]
            if events is not None:
                chosen = check_events(events)
                if tuple(chosen) != before.events:
                    values["events"] = chosen
                    diff["events"] = [list(before.events), chosen]
            if minimal is not None and minimal != before.minimal:
                values["minimal"] = minimal
                diff["minimal"] = [before.minimal, minimal]
            if enabled is not None and enabled != before.enabled:
                values.update(enabled=enabled, disabled_reason=None)
                diff["enabled"] = [before.enabled, enabled]
            if rotate_secret:
                values.update(
                    secret=new_secret(),
                    previous_secret=before.secret,
                    previous_until=now + OVERLAP,
                )
                diff["secret"] = ["kept", "rotated"]
            if not values:
                return before
            values["updated_at"] = now
            row = (
                await conn.execute(
                    webhook_endpoints.update()
                    .where(_e.id == endpoint_id)
                    .values(**values)
                    .returning(*webhook_endpoints.c)
                )
            ).one()
            await record(
                conn,
                actor,
                "webhook.update",
                space_id=before.space_id,
                target_kind="webhook",
                target_id=endpoint_id,
                target={"url": _shown(row.url)},
                diff=diff,
            )
        return _endpoint(row)

    async def delete(self, actor: Actor, space_ids: Collection[str], endpoint_id: str) -> Endpoint:
        """Delete the endpoint, its deliveries with it (their foreign key)."""
        async with self.db.write() as conn:
            gone = await self.one(conn, space_ids, endpoint_id)
            await conn.execute(webhook_endpoints.delete().where(_e.id == endpoint_id))
            await record(
                conn,
                actor,
                "webhook.delete",
                space_id=gone.space_id,
                target_kind="webhook",
                target_id=endpoint_id,
                target={"url": _shown(gone.url), "events": list(gone.events)},
            )
        return gone

    async def disable(self, endpoint_id: str, reason: str) -> str | None:
        """The receiver said 410 Gone: nothing more is sent until an admin enables it again.
        The endpoint's space (None if it is gone or was disabled already)."""
        async with self.db.write() as conn:
            row = (
                await conn.execute(
                    webhook_endpoints.update()
                    .where(_e.id == endpoint_id, _e.enabled == sa.true())
                    .values(enabled=False, disabled_reason=reason[:200], updated_at=utcnow())
                    .returning(_e.space_id, _e.url)
                )
            ).first()
            if row is None:
                return None
            await record(
                conn,
                SYSTEM,
                "webhook.update",
                space_id=row.space_id,
                target_kind="webhook",
                target_id=endpoint_id,
                target={"url": _shown(row.url)},
                diff={"enabled": [True, False]},
                reason=reason,
            )
        return str(row.space_id)
