"""What an operator does to an agent from the command line, with what follows from it: teams
left and open conversations put back in the queue when the agent leaves a space, is
disabled or deleted; every session and token ended when it can no longer work.

Conversations put back in the queue are unassigned in the database; the routing sweep of a
running server (agents/routing.py) gives them to an online agent within seconds. Sessions
and agent tokens are checked against the database on every request and socket hello, so
they stop working at once; a socket already open stays until it reconnects (this process
cannot reach the server's broker).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents.accounts import (
    AgentRecord,
    agent_by_email,
    bump_token_version,
    change_memberships,
    mark_deleted,
    set_password,
    space_ids,
    update_account,
)
from agents.teams import leave_teams
from chat.audit import Actor
from chat.db import Database
from chat.errors import UsageError
from chat.store import Store
from chat.types import ROLES

__all__ = ["AgentChange", "change_agent", "delete_agent", "reset_agent_password"]


@dataclass(frozen=True, slots=True)
class AgentChange:
    """The agent after a change, and how many of its open conversations went back to the
    queue."""

    agent: AgentRecord
    requeued: int = 0


async def change_agent(
    db: Database,
    email: str,
    *,
    name: str | None = None,
    role: str | None = None,
    max_chats: int | None = None,
    add_spaces: tuple[str, ...] = (),
    remove_spaces: tuple[str, ...] = (),
    disabled: bool | None = None,
    actor: Actor | None = None,
) -> AgentChange:
    """Change an agent's name, role, capacity or spaces, or disable or enable it. Adding a
    space it is in, or removing one it is not in, changes nothing."""
    agent = await agent_by_email(db, email)
    if role is not None and role not in ROLES:
        raise UsageError(f"Unknown role {role!r}: choose one of {', '.join(ROLES)}")
    if name is not None and not name.strip():
        raise UsageError("The name is empty.")
    both = sorted(set(add_spaces) & set(remove_spaces))
    if both:
        raise UsageError(f"Both added and removed: {', '.join(both)}")
    ids = await space_ids(db, [*add_spaces, *remove_spaces])
    added = {ids[k] for k in add_spaces if k not in agent.spaces}
    removed = {ids[k] for k in remove_spaces if k in agent.spaces}
    values: dict[str, Any] = {}
    if name is not None:
        values["name"] = name.strip()
    if role is not None:
        values["role"] = role
    if max_chats is not None:
        values["max_chats"] = max_chats
    if disabled is False:
        values["disabled"] = False
    await update_account(db, agent.id, actor=actor, **values)
    disabling = bool(disabled) and not agent.disabled
    if disabling:  # first: from now on it cannot sign in, nor be given a conversation
        await bump_token_version(db, agent.id, disabled=True, actor=actor, action="agent.disable")
    await change_memberships(db, agent.id, added=added, removed=removed, actor=actor)
    if removed:  # out of these spaces: out of their teams too
        await leave_teams(db, agent.id, removed)
    requeued = 0
    if disabling:
        requeued = await _requeue(db, agent.id)
    elif removed:
        requeued = await _requeue(db, agent.id, removed)
        if not (set(agent.spaces) - set(remove_spaces)) and not added:
            await bump_token_version(db, agent.id)  # in no space: signed out everywhere
    return AgentChange(await agent_by_email(db, agent.email), requeued)


async def reset_agent_password(
    db: Database, email: str, password: str, *, actor: Actor | None = None
) -> AgentRecord:
    """A new password, with the policy of a new agent's; the agent's sessions end."""
    agent = await agent_by_email(db, email)
    await set_password(db, agent, password, actor=actor)
    return agent


async def delete_agent(db: Database, email: str, *, actor: Actor | None = None) -> AgentChange:
    """Delete an agent (agents/accounts.py ``mark_deleted``: its row and name stay for the
    history): its teams left, its open conversations back in the queue, unassigned."""
    agent = await agent_by_email(db, email)
    spaces_of = set((await space_ids(db, list(agent.spaces))).values())
    await mark_deleted(
        db, agent.id, actor=actor
    )  # first: from now on it cannot sign in, nor get a chat
    await leave_teams(db, agent.id, spaces_of)
    return AgentChange(agent, await _requeue(db, agent.id))


async def _requeue(db: Database, agent_id: str, in_spaces: set[str] | None = None) -> int:
    store = Store(db)
    try:
        return len(await store.release(agent_id, in_spaces))
    finally:
        await store.close()
