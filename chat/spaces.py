"""Spaces: strictly separated activities, each with its own visitors, agents and origins."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from chat.clock import utcnow
from chat.db import Database
from chat.errors import UsageError
from chat.models import space_origins, spaces
from chat.origins import normalize_origin

__all__ = ["SpaceInfo", "create_space", "list_spaces", "update_space"]

KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True, slots=True)
class SpaceInfo:
    id: str
    key: str
    name: str
    origins: tuple[str, ...]


def _origins(values: list[str]) -> list[str]:
    try:
        return sorted({normalize_origin(v) for v in values})
    except ValueError as exc:
        raise UsageError(str(exc)) from None


async def create_space(db: Database, key: str, name: str, origins: list[str]) -> SpaceInfo:
    if not KEY_RE.match(key):
        raise UsageError(
            f"Invalid space key {key!r}: lower-case letters, digits, '-' and '_', up to 64."
        )
    if not name.strip():
        raise UsageError("The name is empty.")
    clean = _origins(origins)
    space_id = str(uuid.uuid4())
    async with db.write() as conn:
        if (await conn.execute(sa.select(spaces.c.id).where(spaces.c.key == key))).first():
            raise UsageError(f"The space {key!r} already exists.")
        await conn.execute(
            spaces.insert().values(id=space_id, key=key, name=name.strip(), created_at=utcnow())
        )
        if clean:
            await conn.execute(
                space_origins.insert(), [{"space_id": space_id, "origin": o} for o in clean]
            )
    return SpaceInfo(space_id, key, name.strip(), tuple(clean))


async def update_space(
    db: Database, key: str, *, name: str | None, origins: list[str] | None
) -> SpaceInfo:
    """Rename a space and/or replace its origin allowlist."""
    clean = _origins(origins) if origins is not None else None
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
    return [SpaceInfo(r.id, r.key, r.name, tuple(sorted(by_space.get(r.id, [])))) for r in rows]
