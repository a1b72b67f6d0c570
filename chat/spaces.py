"""Spaces: strictly separated activities, each with its own visitors, agents and origins."""

from __future__ import annotations

import re
import secrets
import uuid
import zoneinfo
from dataclasses import dataclass
from typing import Literal, get_args

import sqlalchemy as sa

from chat.clock import utcnow
from chat.db import Database
from chat.errors import UsageError
from chat.models import space_origins, spaces
from chat.origins import normalize_origin

__all__ = [
    "IDENTITY_MODES",
    "PRECHAT_FORMS",
    "IdentityMode",
    "Prechat",
    "SpaceInfo",
    "WidgetOptions",
    "create_space",
    "identity_secret",
    "list_spaces",
    "update_space",
    "widget_options",
]

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
    }
    options = {k: v for k, v in options.items() if v is not None}
    async with db.write() as conn:
        row = (await conn.execute(sa.select(spaces).where(spaces.c.key == key))).first()
        if row is None:
            raise UsageError(f"No such space: {key}")
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
    return (await list_spaces(db, key))[0]


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


async def identity_secret(db: Database, key: str, *, rotate: bool = False) -> str:
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
    return str(secret)
