"""Teams inside a space: who they are, who is in them. Admins manage them."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import Field, StringConstraints
from sqlalchemy.exc import IntegrityError

from agents.models import team_members, teams
from agents.rest import Body, Call, Op
from agents.scopes import SESSION_ONLY
from chat.clock import iso, utcnow
from chat.db import Database
from chat.errors import Conflict, NotAllowed, NotFound
from chat.models import agent_spaces
from chat.principals import AgentPrincipal

__all__ = ["OPS", "leave_teams", "require_admin", "space_id_of", "team_in_spaces"]

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


def require_admin(agent: AgentPrincipal) -> None:
    if agent.role != "admin":
        raise NotAllowed("Only an admin does this.")


def space_id_of(agent: AgentPrincipal, key: str) -> str:
    """The id of one of the agent's spaces, by key; any other is 'not found'."""
    for space_id, space_key in agent.spaces.items():
        if space_key == key:
            return space_id
    raise NotFound("No such space.", code="space_not_found")


async def team_in_spaces(call: Call, team_id: str) -> Any:
    async with call.ctx.db.read() as conn:
        row = (
            await conn.execute(
                sa.select(teams).where(
                    teams.c.id == team_id, teams.c.space_id.in_(list(call.me.spaces))
                )
            )
        ).first()
    if row is None:
        raise NotFound("No such team.", code="team_not_found")
    return row


class NewTeam(Body):
    space: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    name: Name


class TeamChange(Body):
    name: Name | None = None
    members: Annotated[list[str], Field(max_length=500)] | None = None


async def list_teams(call: Call) -> dict[str, Any]:
    return {"teams": await _teams(call)}


async def _teams(call: Call, team_id: str | None = None) -> list[dict[str, Any]]:
    me = call.me
    query = sa.select(teams).where(teams.c.space_id.in_(list(me.spaces)))
    if team_id is not None:
        query = query.where(teams.c.id == team_id)
    async with call.ctx.db.read() as conn:
        rows = (await conn.execute(query.order_by(teams.c.name, teams.c.id))).all()
        members = (
            await conn.execute(
                sa.select(team_members).where(team_members.c.team_id.in_([r.id for r in rows]))
            )
        ).all()
    by_team: dict[str, list[str]] = {}
    for m in members:
        by_team.setdefault(m.team_id, []).append(m.agent_id)
    return [_team(r, me, sorted(by_team.get(r.id, []))) for r in rows]


def _team(row: Any, me: AgentPrincipal, members: list[str]) -> dict[str, Any]:
    return {
        "id": row.id,
        "space": me.spaces.get(row.space_id),
        "space_id": row.space_id,
        "name": row.name,
        "members": members,
        "created_at": iso(row.created_at),
    }


async def create_team(call: Call) -> dict[str, Any]:
    require_admin(call.me)
    body: NewTeam = call.body
    space_id = space_id_of(call.me, body.space)
    team_id = str(uuid.uuid4())
    try:
        async with call.ctx.db.write() as conn:
            await conn.execute(
                teams.insert().values(
                    id=team_id, space_id=space_id, name=body.name, created_at=utcnow()
                )
            )
    except IntegrityError:
        raise Conflict("A team of this space has this name.", code="team_exists") from None
    return (await _teams(call, team_id))[0]


async def update_team(call: Call) -> dict[str, Any]:
    require_admin(call.me)
    body: TeamChange = call.body
    team = await team_in_spaces(call, call.path("team_id"))
    try:
        async with call.ctx.db.write() as conn:
            if body.name is not None:
                await conn.execute(
                    teams.update().where(teams.c.id == team.id).values(name=body.name)
                )
            if body.members is not None:
                wanted = set(body.members)
                in_space = set(
                    (
                        await conn.execute(
                            sa.select(agent_spaces.c.agent_id).where(
                                agent_spaces.c.space_id == team.space_id,
                                agent_spaces.c.agent_id.in_(list(wanted)),
                            )
                        )
                    ).scalars()
                )
                if wanted - in_space:
                    raise NotFound("No such agent in this space.", code="agent_not_found")
                await conn.execute(team_members.delete().where(team_members.c.team_id == team.id))
                if wanted:
                    await conn.execute(
                        team_members.insert(),
                        [{"team_id": team.id, "agent_id": a} for a in sorted(wanted)],
                    )
    except IntegrityError:
        raise Conflict("A team of this space has this name.", code="team_exists") from None
    return (await _teams(call, team.id))[0]


async def delete_team(call: Call) -> None:
    """Its queued conversations go back to the space's queue; its canned responses go."""
    require_admin(call.me)
    team = await team_in_spaces(call, call.path("team_id"))
    await call.ctx.store.clear_team(team.id)
    async with call.ctx.db.write() as conn:
        await conn.execute(teams.delete().where(teams.c.id == team.id))


async def leave_teams(db: Database, agent_id: str, space_ids: set[str]) -> None:
    """The agent is no member of any team of these spaces any more."""
    async with db.write() as conn:
        await conn.execute(
            team_members.delete().where(
                team_members.c.agent_id == agent_id,
                team_members.c.team_id.in_(
                    sa.select(teams.c.id).where(teams.c.space_id.in_(sorted(space_ids)))
                ),
            )
        )


OPS = [
    Op(
        "GET",
        "/api/teams",
        list_teams,
        "Teams of my spaces",
        "teams",
        response="TeamList",
        scopes=("conversations:read",),
    ),
    Op(
        "POST",
        "/api/teams",
        create_team,
        "Create a team (admin)",
        "teams",
        body=NewTeam,
        response="Team",
        status=201,
        errors=(403, 404, 409),
        scopes=SESSION_ONLY,
    ),
    Op(
        "PATCH",
        "/api/teams/{team_id}",
        update_team,
        "Rename a team or set its members (admin)",
        "teams",
        body=TeamChange,
        response="Team",
        errors=(403, 404, 409),
        scopes=SESSION_ONLY,
    ),
    Op(
        "DELETE",
        "/api/teams/{team_id}",
        delete_team,
        "Delete a team (admin)",
        "teams",
        status=204,
        errors=(403, 404),
        scopes=SESSION_ONLY,
    ),
]
