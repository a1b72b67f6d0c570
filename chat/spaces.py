"""Spaces: strictly separated activities, each with its own visitors, agents and origins."""

from __future__ import annotations

import re
import secrets
import uuid
import zoneinfo
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chat.audit import SYSTEM, Actor, diff_of, record
from chat.clock import iso, utcnow
from chat.db import Database
from chat.errors import UsageError
from chat.models import agent_spaces, conversations, legal_holds, space_origins, spaces, visitors
from chat.origins import normalize_origin

__all__ = [
    "IDENTITY_MODES",
    "PRECHAT_FORMS",
    "IdentityMode",
    "Prechat",
    "SpaceInfo",
    "WidgetOptions",
    "create_space",
    "delete_space",
    "identity_secret",
    "list_spaces",
    "set_retention",
    "space_details",
    "update_space",
    "widget_options",
]

MAX_EMAIL_DELAY_MINUTES = 7 * 24 * 60
KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

# off: identify() is taken as the site says; optional: a signature, when given, must be right;
# enforce: every identify() must be signed
IdentityMode = Literal["off", "optional", "enforce"]
Prechat = Literal["none", "name", "name_email"]  # what the widget asks before the first message
IDENTITY_MODES: tuple[str, ...] = get_args(IdentityMode)
PRECHAT_FORMS: tuple[str, ...] = get_args(Prechat)


@dataclass(frozen=True, slots=True)
class SpaceInfo:
    id: str
    key: str
    name: str
    origins: tuple[str, ...]
    identity_mode: str = "off"
    prechat: str = "none"
    time_zone: str = "UTC"
    csat: bool = True


def time_zone_name(value: str) -> str:
    """An IANA time zone this machine knows (``Europe/Paris``), or a UsageError."""
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"Unknown time zone {value!r}: an IANA name such as Europe/Paris."
        ) from None
    return value


def new_identity_secret() -> str:
    return secrets.token_hex(32)


def _choice(value: str | None, allowed: tuple[str, ...], what: str) -> str | None:
    if value is not None and value not in allowed:
        raise UsageError(f"Unknown {what} {value!r}: choose one of {', '.join(allowed)}.")
    return value


def _origins(values: list[str]) -> list[str]:
    try:
        return sorted({normalize_origin(v) for v in values})
    except ValueError as exc:
        raise UsageError(str(exc)) from None


async def create_space(
    db: Database,
    key: str,
    name: str,
    origins: list[str],
    *,
    identity_mode: str = "off",
    prechat: str = "none",
    actor: Actor = SYSTEM,
) -> SpaceInfo:
    if not KEY_RE.match(key):
        raise UsageError(
            f"Invalid space key {key!r}: lower-case letters, digits, '-' and '_', up to 64."
        )
    if not name.strip():
        raise UsageError("The name is empty.")
    clean = _origins(origins)
    _choice(identity_mode, IDENTITY_MODES, "identity mode")
    _choice(prechat, PRECHAT_FORMS, "pre-chat form")
    space_id = str(uuid.uuid4())
    async with db.write() as conn:
        if (await conn.execute(sa.select(spaces.c.id).where(spaces.c.key == key))).first():
            raise UsageError(f"The space {key!r} already exists.")
        await conn.execute(
            spaces.insert().values(
                id=space_id,
                key=key,
                name=name.strip(),
                created_at=utcnow(),
                identity_secret=new_identity_secret(),
                identity_mode=identity_mode,
                prechat=prechat,
            )
        )
        if clean:
            await conn.execute(
                space_origins.insert(), [{"space_id": space_id, "origin": o} for o in clean]
            )
        await record(
            conn,
            actor,
            "space.create",
            space_id=space_id,
            target_kind="space",
            target_id=key,
            target={"key": key, "name": name.strip()},
            diff={"origins": [[], clean], "identity_mode": [None, identity_mode],
                  "prechat": [None, prechat]},
        )  # fmt: skip
    return SpaceInfo(space_id, key, name.strip(), tuple(clean), identity_mode, prechat)


async def update_space(
    db: Database,
    key: str,
    *,
    name: str | None,
    origins: list[str] | None,
    identity_mode: str | None = None,
    prechat: str | None = None,
    time_zone: str | None = None,
    csat: bool | None = None,
    business_hours: dict[str, list[list[str]]] | None = None,
    holidays: list[str] | None = None,
    missed_after_seconds: int | None = None,
    redaction_patterns: list[list[str]] | None = None,
    email_delay_minutes: int | None = None,
    actor: Actor = SYSTEM,
) -> SpaceInfo:
    """Rename a space, replace its origin allowlist, change its widget options, its time
    zone (campaign hours, reports) and whether resolved chats ask for a rating."""
    clean = _origins(origins) if origins is not None else None
    options: dict[str, object | None] = {
        "identity_mode": _choice(identity_mode, IDENTITY_MODES, "identity mode"),
        "prechat": _choice(prechat, PRECHAT_FORMS, "pre-chat form"),
        "time_zone": time_zone_name(time_zone) if time_zone is not None else None,
        "csat": csat,
        # checked by the caller (agents/reports/hours.py reads them)
        "business_hours": business_hours,
        "holidays": holidays,
        "missed_after_seconds": missed_after_seconds,
        "redaction_patterns": redaction_patterns,
        "email_delay_minutes": _email_delay(email_delay_minutes),
    }
    options = {k: v for k, v in options.items() if v is not None}
    async with db.write() as conn:
        row = (await conn.execute(sa.select(spaces).where(spaces.c.key == key))).first()
        if row is None:
            raise UsageError(f"No such space: {key}")
        before = await _settings_of(conn, row.id)
        if name is not None:
            if not name.strip():
                raise UsageError("The name is empty.")
            await conn.execute(
                spaces.update().where(spaces.c.id == row.id).values(name=name.strip())
            )
        if options:
            await conn.execute(spaces.update().where(spaces.c.id == row.id).values(**options))
        if clean is not None:
            await conn.execute(space_origins.delete().where(space_origins.c.space_id == row.id))
            if clean:
                await conn.execute(
                    space_origins.insert(), [{"space_id": row.id, "origin": o} for o in clean]
                )
        diff = diff_of(before, await _settings_of(conn, row.id))
        if diff:
            await record(
                conn,
                actor,
                "space.update",
                space_id=row.id,
                target_kind="space",
                target_id=key,
                target={"key": key, "name": row.name},
                diff=diff,
            )
    return (await list_spaces(db, key))[0]


AUDITED_SETTINGS = (
    "name", "identity_mode", "prechat", "time_zone", "csat", "business_hours", "holidays",
    "missed_after_seconds", "redaction_patterns", "email_delay_minutes",
)  # fmt: skip


async def _settings_of(conn: AsyncConnection, space_id: str) -> dict[str, Any]:
    """What an audit entry shows of a space's settings (never its identity secret)."""
    row = (await conn.execute(sa.select(spaces).where(spaces.c.id == space_id))).first()
    origins = await conn.execute(
        sa.select(space_origins.c.origin)
        .where(space_origins.c.space_id == space_id)
        .order_by(space_origins.c.origin)
    )
    found = {k: v for k, v in row._mapping.items() if k in AUDITED_SETTINGS} if row else {}
    return {**found, "origins": list(origins.scalars())}


def _email_delay(minutes: int | None) -> int | None:
    """Minutes without an open socket before a visitor gets agent replies by email."""
    if minutes is not None and not 0 <= minutes <= MAX_EMAIL_DELAY_MINUTES:
        raise UsageError(f"The email delay is 0 to {MAX_EMAIL_DELAY_MINUTES} minutes.")
    return minutes


async def list_spaces(db: Database, key: str | None = None) -> list[SpaceInfo]:
    async with db.read() as conn:
        query = sa.select(spaces).order_by(spaces.c.key)
        if key is not None:
            query = query.where(spaces.c.key == key)
        rows = (await conn.execute(query)).all()
        origin_rows = (await conn.execute(sa.select(space_origins))).all()
    by_space: dict[str, list[str]] = {}
    for o in origin_rows:
        by_space.setdefault(o.space_id, []).append(o.origin)
    return [
        SpaceInfo(
            r.id,
            r.key,
            r.name,
            tuple(sorted(by_space.get(r.id, []))),
            r.identity_mode,
            r.prechat,
            r.time_zone,
            bool(r.csat),
        )
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class WidgetOptions:
    space_id: str
    identity_mode: str
    prechat: str


async def widget_options(db: Database, key: str) -> WidgetOptions | None:
    """What the widget needs to know of a space before it shows a form (no secret)."""
    async with db.read() as conn:
        row = (
            await conn.execute(
                sa.select(spaces.c.id, spaces.c.identity_mode, spaces.c.prechat).where(
                    spaces.c.key == key
                )
            )
        ).first()
    return WidgetOptions(row.id, row.identity_mode, row.prechat) if row else None


async def identity_secret(
    db: Database, key: str, *, rotate: bool = False, actor: Actor = SYSTEM
) -> str:
    """The space's identity secret, made anew first if ``rotate``: signatures made with the old
    one stop working at once."""
    async with db.write() as conn:
        row = (
            await conn.execute(
                sa.select(spaces.c.id, spaces.c.identity_secret).where(spaces.c.key == key)
            )
        ).first()
        if row is None:
            raise UsageError(f"No such space: {key}")
        secret = row.identity_secret
        if rotate or not secret:
            secret = new_identity_secret()
            await conn.execute(
                spaces.update().where(spaces.c.id == row.id).values(identity_secret=secret)
            )
            await record(
                conn,
                actor,
                "space.identity_secret",
                space_id=row.id,
                target_kind="space",
                target_id=key,
                target={"key": key},
                reason="rotated" if rotate else "created",
            )
    return str(secret)


SECRET_COLUMNS = frozenset({"identity_secret"})  # never shown, not even to an operator


async def space_details(db: Database, key: str) -> dict[str, Any]:
    """Everything about a space but its secret, JSON-ready: each setting, its origins, and
    how many agents, visitors and open and resolved conversations it holds."""
    async with db.read() as conn:
        row = (await conn.execute(sa.select(spaces).where(spaces.c.key == key))).first()
        if row is None:
            raise UsageError(f"No such space: {key}")
        origins = (
            await conn.execute(
                sa.select(space_origins.c.origin)
                .where(space_origins.c.space_id == row.id)
                .order_by(space_origins.c.origin)
            )
        ).scalars()
        members = await conn.scalar(
            sa.select(sa.func.count()).where(agent_spaces.c.space_id == row.id)
        )
        people = await conn.scalar(sa.select(sa.func.count()).where(visitors.c.space_id == row.id))
        by_status: dict[str, int] = dict(
            (
                await conn.execute(
                    sa.select(conversations.c.status, sa.func.count())
                    .where(conversations.c.space_id == row.id)
                    .group_by(conversations.c.status)
                )
            ).all()
        )
        details = {
            name: iso(value) if isinstance(value, datetime) else value
            for name, value in row._mapping.items()
            if name not in SECRET_COLUMNS
        }
        details["origins"] = list(origins)
    details["agents"] = int(members or 0)
    details["visitors"] = int(people or 0)
    details["conversations"] = {s: int(by_status.get(s, 0)) for s in ("open", "resolved")}
    return details


# what deletes the rows of another table that refer to the space's visitors or conversations,
# in the transaction that deletes the space (each written by that table's owner)
Cleanup = Callable[[AsyncConnection, str], Awaitable[object]]


async def delete_space(
    db: Database,
    key: str,
    *,
    purge: bool,
    cleanups: Sequence[Cleanup] = (),
    actor: Actor = SYSTEM,
) -> int:
    """Delete a space and everything in it, in one transaction; the number of conversations
    deleted with it. Refused while a legal hold is on the space, and while it holds
    conversations unless ``purge``.

    ``cleanups`` run first, in order, with the space's id: each owner's deletion of what
    refers to the space's visitors and conversations (agents/space_removal.py lists them).
    What refers to the space itself by a cascading key (origins, memberships, teams, canned
    responses, campaigns) goes with its row. The row is locked first (PostgreSQL): a visitor
    arriving meanwhile waits, then finds no space."""
    async with db.write() as conn:
        row = (
            await conn.execute(sa.select(spaces.c.id).where(spaces.c.key == key).with_for_update())
        ).first()
        if row is None:
            raise UsageError(f"No such space: {key}")
        held = await conn.scalar(
            sa.select(sa.func.count()).where(
                legal_holds.c.space_id == row.id, legal_holds.c.released_at.is_(None)
            )
        )
        if held:
            raise UsageError(f"The space {key} is under a legal hold: it cannot be deleted.")
        count = int(
            await conn.scalar(sa.select(sa.func.count()).where(conversations.c.space_id == row.id))
            or 0
        )
        if count and not purge:
            raise UsageError(
                f"The space {key} holds {count} conversation(s): delete them with it "
                "(--purge), or keep the space."
            )
        for cleanup in cleanups:
            await cleanup(conn, row.id)
        await conn.execute(spaces.delete().where(spaces.c.id == row.id))
        await record(  # the deployment's chain: the space's own outlives it, unreadable
            conn,
            actor,
            "space.delete",
            target_kind="space",
            target_id=key,
            target={"key": key, "id": row.id},
            diff={"conversations": [count, 0]},
        )
    return count


async def set_retention(
    db: Database,
    key: str,
    policy: Mapping[str, int | None],
    *,
    actor: Actor = SYSTEM,
    merge: bool = False,
) -> dict[str, int]:
    """Replace a space's retention policy ({kind: days}; a kind left out is kept forever),
    or with ``merge`` change only the kinds given (None: forever), audited with the before
    and after in the same transaction. The next retention run applies it;
    ``causette retention run --dry-run`` shows what it will delete."""
    async with db.write() as conn:
        row = (
            await conn.execute(
                sa.select(spaces.c.id, spaces.c.retention).where(spaces.c.key == key)
            )
        ).first()
        if row is None:
            raise UsageError(f"No such space: {key}")
        before = dict(row.retention) if isinstance(row.retention, dict) else {}
        after = {**before, **policy} if merge else dict(policy)
        clean = {k: int(v) for k, v in sorted(after.items()) if v is not None}
        await conn.execute(
            spaces.update().where(spaces.c.id == row.id).values(retention=clean or None)
        )
        await record(
            conn,
            actor,
            "retention.update",
            space_id=row.id,
            target_kind="space",
            target_id=key,
            target={"key": key},
            diff=diff_of(before, clean),
        )
    return clean
