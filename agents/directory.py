"""Agents as the console shows and admins manage them: the teammates of my spaces.

An agent is listed to those who share a space with it, and only with those shared spaces.
Admins create agents in their own spaces and manage memberships of their own spaces only:
an agent's other memberships are not theirs to see or touch.

What belongs to the account rather than to a space (its name, role, capacity and password)
is changed only by an admin of *every* space the agent works in: an admin of one space may
not turn an agent it shares with another space into an admin there, nor sign in as it.
Asked of an agent that also works elsewhere, these answer 403 ``not_allowed``.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import Field, StringConstraints

from agents.accounts import bump_token_version, change_memberships, create_agent, update_account
from agents.models import team_members, teams
from agents.passwords import MIN_PASSWORD_CHARS, check_new_password, hash_password
from agents.privacy import actor_of
from agents.rest import Body, Call, Op
from agents.scopes import ANY_KEY, SESSION_ONLY
from agents.session import close_agent_sockets
from agents.teams import leave_teams, require_admin, space_id_of
from chat.errors import Conflict, InvalidRequest, NotAllowed, NotFound, UsageError
from chat.logging import get_logger
from chat.models import agent_spaces, agents, conversations, spaces
from chat.principals import AgentPrincipal
from chat.types import CloseCode, Role

__all__ = ["OPS"]

log = get_logger("causette.console")

Password = Annotated[str, StringConstraints(min_length=MIN_PASSWORD_CHARS, max_length=1024)]
Keys = Annotated[list[Annotated[str, StringConstraints(max_length=64)]], Field(max_length=100)]


class NewAgent(Body):
    email: Annotated[str, StringConstraints(min_length=3, max_length=320)]
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    role: Role
    password: Password
    spaces: Annotated[Keys, Field(min_length=1)]
    max_chats: Annotated[int, Field(ge=0, le=100)] | None = None


class AgentChange(Body):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    role: Role | None = None
    max_chats: Annotated[int, Field(ge=0, le=100)] | None = None
    spaces: Keys | None = None


class PasswordReset(Body):
    password: Password


async def list_spaces(call: Call) -> dict[str, Any]:
    me = call.me
    async with call.ctx.db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(spaces.c.id, spaces.c.key, spaces.c.name)
                .where(spaces.c.id.in_(list(me.spaces)))
                .order_by(spaces.c.key)
            )
        ).all()
    return {"spaces": [{"id": r.id, "key": r.key, "name": r.name} for r in rows]}


async def _agents(call: Call, agent_id: str | None = None) -> list[dict[str, Any]]:
    me = call.me
    mine = list(me.spaces)
    shared = sa.select(agent_spaces.c.agent_id).where(agent_spaces.c.space_id.in_(mine))
    load = (
        sa.select(sa.func.count())
        .select_from(conversations)
        .where(
            conversations.c.assignee_id == agents.c.id,
            conversations.c.status == "open",
            conversations.c.space_id.in_(mine),
        )
        .scalar_subquery()
    )
    query = sa.select(agents, load.label("open_chats")).where(agents.c.id.in_(shared))
    if agent_id is not None:
        query = query.where(agents.c.id == agent_id)
    async with call.ctx.db.read() as conn:
        rows = (await conn.execute(query.order_by(agents.c.name, agents.c.id))).all()
        ids = [r.id for r in rows]
        memberships = (
            await conn.execute(
                sa.select(agent_spaces).where(
                    agent_spaces.c.agent_id.in_(ids), agent_spaces.c.space_id.in_(mine)
                )
            )
        ).all()
        team_rows = (
            await conn.execute(
                sa.select(team_members.c.agent_id, team_members.c.team_id)
                .select_from(team_members.join(teams, teams.c.id == team_members.c.team_id))
                .where(team_members.c.agent_id.in_(ids), teams.c.space_id.in_(mine))
            )
        ).all()
    space_keys: dict[str, list[str]] = {}
    for m in memberships:
        space_keys.setdefault(m.agent_id, []).append(me.spaces[m.space_id])
    team_ids: dict[str, list[str]] = {}
    for t in team_rows:
        team_ids.setdefault(t.agent_id, []).append(t.team_id)
    presence = call.ctx.presence
    out = []
    for r in rows:
        entry: dict[str, Any] = {
            "id": r.id,
            "name": r.name,
            "role": r.role,
            "status": presence.status(r.id),
            "spaces": sorted(space_keys.get(r.id, [])),
            "teams": sorted(team_ids.get(r.id, [])),
            "max_chats": r.max_chats,
            "open_chats": r.open_chats,
        }
        if me.role == "admin" or r.id == me.id:
            entry["email"] = r.email
        out.append(entry)
    return out


async def list_agents(call: Call) -> dict[str, Any]:
    return {"agents": await _agents(call)}


async def _one(call: Call, agent_id: str) -> dict[str, Any]:
    found = await _agents(call, agent_id)
    if not found:
        raise NotFound("No such agent.", code="agent_not_found")
    return found[0]


async def _memberships(call: Call, agent_id: str) -> set[str]:
    """Every space the agent works in, mine or not."""
    async with call.ctx.db.read() as conn:
        rows = await conn.execute(
            sa.select(agent_spaces.c.space_id).where(agent_spaces.c.agent_id == agent_id)
        )
        return set(rows.scalars())


async def _require_account_admin(call: Call, agent_id: str) -> None:
    """Only an admin of every space the agent works in changes its account."""
    me: AgentPrincipal = call.me
    require_admin(me)
    if not await _memberships(call, agent_id) <= set(me.spaces):
        log.warning("agent_account_change_refused", target_id=agent_id)
        raise NotAllowed(
            "This agent also works in spaces you do not administer: only an admin of all "
            "its spaces changes its name, role, capacity or password."
        )


async def new_agent(call: Call) -> dict[str, Any]:
    me = call.me
    require_admin(me)
    body: NewAgent = call.body
    for key in body.spaces:
        space_id_of(me, key)  # only into the admin's own spaces
    try:
        account = await create_agent(
            call.ctx.db,
            email=body.email,
            name=body.name,
            role=body.role,
            password=body.password,
            space_keys=body.spaces,
            actor=actor_of(call.request, me),
        )
    except UsageError as exc:
        if "already exists" not in exc.message:
            raise
        # emails are unique across the deployment (they sign in): the answer is the same
        # whatever space has it, and each such attempt counts against an allowance, so that
        # probing for addresses shows in the log and soon stops
        log.info("agent_create_email_taken", admin_id=me.id)
        await call.ctx.limits.check("agent_email_taken", me.id)
        raise Conflict("This email cannot be used for a new agent.", code="email_taken") from None
    if body.max_chats is not None:
        await update_account(
            call.ctx.db, account.id, max_chats=body.max_chats, actor=actor_of(call.request, me)
        )
    return await _one(call, account.id)


async def update_agent(call: Call) -> dict[str, Any]:
    me = call.me
    require_admin(me)
    body: AgentChange = call.body
    target = await _one(call, call.path("agent_id"))
    if body.name is not None or body.role is not None or body.max_chats is not None:
        await _require_account_admin(call, target["id"])
    if body.role is not None and target["id"] == me.id and body.role != me.role:
        raise InvalidRequest("An admin cannot change its own role.")
    values: dict[str, Any] = {}
    if body.name is not None:
        values["name"] = body.name
    if body.role is not None:
        values["role"] = body.role
    if body.max_chats is not None:
        values["max_chats"] = body.max_chats
    removed: set[str] = set()
    added: set[str] = set()
    await update_account(call.ctx.db, target["id"], actor=actor_of(call.request, me), **values)
    if body.spaces is not None:
        wanted = {space_id_of(me, key) for key in body.spaces}
        current = {space_id_of(me, key) for key in target["spaces"]}
        removed = current - wanted
        added = wanted - current
        await change_memberships(
            call.ctx.db,
            target["id"],
            added=added,
            removed=removed,
            actor=actor_of(call.request, me),
        )
        if removed:  # out of these spaces: their teams, and its open chats there requeued
            await leave_teams(call.ctx.db, target["id"], removed)
            for conv in await call.ctx.store.release(target["id"], removed):
                call.ctx.relay.publish_state(conv)
    if body.spaces is not None and (removed or added):
        if not await _memberships(call, target["id"]):
            # in no space any more: signed out everywhere, and it cannot sign in again
            version = await bump_token_version(call.ctx.db, target["id"])
            close_agent_sockets(
                call.ctx.hub, target["id"], CloseCode.SIGNED_OUT, below_version=version
            )
        else:
            # its sockets listen to the spaces it had: make them reconnect with the new ones
            close_agent_sockets(call.ctx.hub, target["id"], CloseCode.TRY_AGAIN_LATER)
    now = await _agents(call, target["id"])
    return now[0] if now else {**target, "spaces": [], "teams": []}


async def reset_password(call: Call) -> None:
    """Set another agent's password: all its sessions end, its sockets close."""
    body: PasswordReset = call.body
    target = await _one(call, call.path("agent_id"))
    await _require_account_admin(call, target["id"])
    async with call.ctx.db.read() as conn:
        current = (
            await conn.execute(sa.select(agents.c.password_hash).where(agents.c.id == target["id"]))
        ).scalar_one()
    await asyncio.to_thread(
        check_new_password,
        body.password,
        email=target.get("email", ""),
        name=target["name"],
        current_hash=current,
    )
    version = await bump_token_version(
        call.ctx.db,
        target["id"],
        password_hash=await asyncio.to_thread(hash_password, body.password),
        actor=actor_of(call.request, call.me),
        action="agent.password_reset",
    )
    close_agent_sockets(call.ctx.hub, target["id"], CloseCode.SIGNED_OUT, below_version=version)


OPS = [
    Op(
        "GET",
        "/api/spaces",
        list_spaces,
        "My spaces",
        "agents",
        response="SpaceList",
        scopes=ANY_KEY,
    ),
    Op(
        "GET",
        "/api/agents",
        list_agents,
        "Agents of my spaces",
        "agents",
        response="AgentList",
        scopes=SESSION_ONLY,
    ),
    Op(
        "POST",
        "/api/agents",
        new_agent,
        "Create an agent in my spaces (admin)",
        "agents",
        body=NewAgent,
        response="Agent",
        status=201,
        errors=(400, 403, 404, 409, 429),
        scopes=SESSION_ONLY,
    ),
    Op(
        "PATCH",
        "/api/agents/{agent_id}",
        update_agent,
        "Change an agent's name, role, capacity (admin of all its spaces) or spaces (admin)",
        "agents",
        body=AgentChange,
        response="Agent",
        errors=(400, 403, 404),
        scopes=SESSION_ONLY,
    ),
    Op(
        "POST",
        "/api/agents/{agent_id}/password",
        reset_password,
        "Reset an agent's password; its sessions end (admin of all its spaces)",
        "agents",
        body=PasswordReset,
        status=204,
        errors=(400, 403, 404),
        scopes=SESSION_ONLY,
    ),
]
