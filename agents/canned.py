"""Canned responses: texts an agent inserts with ``/shortcut``, for a whole space or one
team of it. An agent sees those of its spaces that are for everyone or for its teams; admins
see and manage all those of their spaces."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import StringConstraints

from agents.inbox import Inbox
from agents.models import canned_responses, teams
from agents.rest import Body, Call, Op
from agents.scopes import SESSION_ONLY
from agents.teams import require_admin, space_id_of
from chat.clock import iso, utcnow
from chat.db import Database
from chat.errors import Conflict, NotFound

__all__ = ["OPS"]

Shortcut = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=4000)]


class NewCanned(Body):
    space: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    team_id: str | None = None
    shortcut: Shortcut
    body: Text


class CannedChange(Body):
    shortcut: Shortcut | None = None
    body: Text | None = None


def _canned(row: Any, spaces: dict[str, str]) -> dict[str, Any]:
    return {
        "id": row.id,
        "space": spaces.get(row.space_id),
        "team_id": row.team_id,
        "shortcut": row.shortcut,
        "body": row.body,
        "updated_at": iso(row.updated_at),
    }


async def list_canned(call: Call) -> dict[str, Any]:
    me = call.me
    query = sa.select(canned_responses).where(canned_responses.c.space_id.in_(list(me.spaces)))
    if me.role != "admin":
        mine = await Inbox(call.ctx.db).my_teams(me)
        query = query.where(
            sa.or_(canned_responses.c.team_id.is_(None), canned_responses.c.team_id.in_(mine))
        )
    async with call.ctx.db.read() as conn:
        rows = (await conn.execute(query.order_by(canned_responses.c.shortcut))).all()
    return {"canned": [_canned(r, me.spaces) for r in rows]}


async def _taken(
    db: Database, space_id: str, team_id: str | None, shortcut: str, but: str | None
) -> bool:
    query = sa.select(canned_responses.c.id).where(
        canned_responses.c.space_id == space_id,
        canned_responses.c.shortcut == shortcut,
        canned_responses.c.team_id.is_(None)
        if team_id is None
        else canned_responses.c.team_id == team_id,
    )
    if but is not None:
        query = query.where(canned_responses.c.id != but)
    async with db.read() as conn:
        return (await conn.execute(query)).first() is not None


async def create_canned(call: Call) -> dict[str, Any]:
    require_admin(call.me)
    body: NewCanned = call.body
    space_id = space_id_of(call.me, body.space)
    if body.team_id is not None:
        async with call.ctx.db.read() as conn:
            team = (
                await conn.execute(
                    sa.select(teams.c.id).where(
                        teams.c.id == body.team_id, teams.c.space_id == space_id
                    )
                )
            ).first()
        if team is None:
            raise NotFound("No such team in this space.", code="team_not_found")
    if await _taken(call.ctx.db, space_id, body.team_id, body.shortcut, None):
        raise Conflict("This shortcut is already used here.", code="shortcut_taken")
    now = utcnow()
    canned_id = str(uuid.uuid4())
    async with call.ctx.db.write() as conn:
        await conn.execute(
            canned_responses.insert().values(
                id=canned_id,
                space_id=space_id,
                team_id=body.team_id,
                shortcut=body.shortcut,
                body=body.body,
                created_at=now,
                updated_at=now,
            )
        )
    return await _one(call, canned_id)


async def _one(call: Call, canned_id: str) -> dict[str, Any]:
    async with call.ctx.db.read() as conn:
        row = (
            await conn.execute(
                sa.select(canned_responses).where(
                    canned_responses.c.id == canned_id,
                    canned_responses.c.space_id.in_(list(call.me.spaces)),
                )
            )
        ).first()
    if row is None:
        raise NotFound("No such canned response.", code="canned_not_found")
    return _canned(row, call.me.spaces)


async def update_canned(call: Call) -> dict[str, Any]:
    require_admin(call.me)
    body: CannedChange = call.body
    current = await _one(call, call.path("canned_id"))
    values: dict[str, Any] = {"updated_at": utcnow()}
    if body.shortcut is not None:
        space_id = space_id_of(call.me, current["space"])
        if await _taken(call.ctx.db, space_id, current["team_id"], body.shortcut, current["id"]):
            raise Conflict("This shortcut is already used here.", code="shortcut_taken")
        values["shortcut"] = body.shortcut
    if body.body is not None:
        values["body"] = body.body
    async with call.ctx.db.write() as conn:
        await conn.execute(
            canned_responses.update().where(canned_responses.c.id == current["id"]).values(values)
        )
    return await _one(call, current["id"])


async def delete_canned(call: Call) -> None:
    require_admin(call.me)
    current = await _one(call, call.path("canned_id"))
    async with call.ctx.db.write() as conn:
        await conn.execute(canned_responses.delete().where(canned_responses.c.id == current["id"]))


OPS = [
    Op(
        "GET",
        "/api/canned",
        list_canned,
        "Canned responses I may use",
        "canned",
        response="CannedList",
        scopes=("conversations:read",),
    ),
    Op(
        "POST",
        "/api/canned",
        create_canned,
        "Create a canned response (admin)",
        "canned",
        body=NewCanned,
        response="Canned",
        status=201,
        errors=(403, 404, 409),
        scopes=SESSION_ONLY,
    ),
    Op(
        "PATCH",
        "/api/canned/{canned_id}",
        update_canned,
        "Change a canned response (admin)",
        "canned",
        body=CannedChange,
        response="Canned",
        errors=(403, 404, 409),
        scopes=SESSION_ONLY,
    ),
    Op(
        "DELETE",
        "/api/canned/{canned_id}",
        delete_canned,
        "Delete a canned response (admin)",
        "canned",
        status=204,
        errors=(403, 404),
        scopes=SESSION_ONLY,
    ),
]
