"""Agent accounts: creation, membership in spaces, sign-in with lockout.

The lockout counts failures per (email, client address) pair: five wrong passwords from one
address lock that address out of that account for ``lock_seconds``, and nobody else. A
stranger cannot keep an admin out, and guessing from many addresses is slowed by the
per-address sign-in limit (chat/ratelimit.py) before this. An agent that belongs to no space
cannot sign in: it has nothing to work on, and a session would outlive its removal; nor can a
disabled one.

Agents are never removed (their name is what history shows): a deleted agent keeps its row
and name, loses its email, password and spaces, and is listed nowhere (``mark_deleted``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from agents.passwords import check_new_password, hash_password, needs_rehash, verify_password
from chat.audit import Actor, diff_of, record
from chat.clock import as_utc, utcnow
from chat.db import Database
from chat.errors import AccountLocked, BadCredentials, UsageError
from chat.models import agent_spaces, agents, login_throttle, spaces
from chat.types import ROLES, Role

__all__ = [
    "AgentAccount",
    "AgentRecord",
    "agent_by_email",
    "any_agent",
    "authenticate",
    "bump_token_version",
    "change_memberships",
    "create_agent",
    "list_agents",
    "mark_deleted",
    "normalize_email",
    "set_password",
    "space_ids",
    "update_account",
]


@dataclass(frozen=True, slots=True)
class AgentAccount:
    id: str
    email: str
    name: str
    role: Role
    token_version: int


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def create_agent(
    db: Database,
    *,
    email: str,
    name: str,
    role: str,
    password: str,
    space_keys: list[str],
    actor: Actor | None = None,
) -> AgentAccount:
    email = normalize_email(email)
    if "@" not in email or len(email) > 320:
        raise UsageError(f"Not an email address: {email!r}")
    if role not in ROLES:
        raise UsageError(f"Unknown role {role!r}: choose one of {', '.join(ROLES)}")
    if not name.strip():
        raise UsageError("The name is empty.")
    await asyncio.to_thread(check_new_password, password, email=email, name=name)
    keys = space_keys or ["default"]
    password_hash = await asyncio.to_thread(hash_password, password)
    agent_id = str(uuid.uuid4())
    async with db.write() as conn:
        rows = await conn.execute(
            sa.select(spaces.c.key, spaces.c.id).where(spaces.c.key.in_(keys))
        )
        found = {key: space_id for key, space_id in rows}
        missing = sorted(set(keys) - set(found))
        if missing:
            raise UsageError(f"No such space: {', '.join(missing)}")
        taken = (await conn.execute(sa.select(agents.c.id).where(agents.c.email == email))).first()
        if taken:
            raise UsageError(f"An agent with email {email} already exists.")
        await conn.execute(
            agents.insert().values(
                id=agent_id,
                email=email,
                name=name.strip(),
                role=role,
                password_hash=password_hash,
                token_version=0,
                created_at=utcnow(),
            )
        )
        await conn.execute(
            agent_spaces.insert(), [{"agent_id": agent_id, "space_id": found[k]} for k in set(keys)]
        )
        await _audit(
            conn,
            actor,
            "agent.create",
            agent_id,
            {"role": [None, role], "spaces": [[], sorted(set(keys))]},
        )
    return AgentAccount(agent_id, email, name.strip(), role, 0)


AUDITED_FIELDS = ("name", "role", "max_chats", "disabled")  # never a hash or a token version


async def _audit(
    conn: AsyncConnection,
    actor: Actor | None,
    action: str,
    agent_id: str,
    diff: dict[str, Any] | None = None,
) -> None:
    """An entry of the deployment's chain (agents are the deployment's, not a space's), in
    the change's own transaction, with the agent as it is now (its name and email)."""
    if actor is None:
        return
    row = (
        await conn.execute(
            sa.select(agents.c.name, agents.c.email, agents.c.role).where(agents.c.id == agent_id)
        )
    ).first()
    await record(
        conn,
        actor,
        action,
        target_kind="agent",
        target_id=agent_id,
        target={"name": row.name, "email": row.email, "role": row.role} if row else None,
        diff=diff or None,
    )


def throttle_key(email: str, client: str, secret: bytes) -> str:
    """The lockout row of one (email, address) pair: a keyed hash, so no address is stored."""
    text = f"{normalize_email(email)[:320]}\n{client}".encode()
    return hmac.new(secret, text, hashlib.sha256).hexdigest()


async def authenticate(
    db: Database,
    email: str,
    password: str,
    *,
    client: str,
    secret: bytes,
    max_failures: int,
    lock_seconds: int,
    actor: Actor | None = None,
) -> AgentAccount:
    """Check a sign-in from ``client`` (its address). A wrong email and a wrong password look
    the same, and so does the lockout after too many failures: it is kept per (email,
    address), whether or not an agent has the email. With an ``actor`` (the request's
    address and browser), the outcome is audited in the deployment's chain."""
    email = normalize_email(email)[:320]
    key = throttle_key(email, client, secret)
    async with db.read() as conn:
        row = (await conn.execute(sa.select(agents).where(agents.c.email == email))).first()
        throttle = (
            await conn.execute(sa.select(login_throttle).where(login_throttle.c.key == key))
        ).first()
        member = (
            row is not None
            and (
                await conn.execute(
                    sa.select(agent_spaces.c.agent_id)
                    .where(agent_spaces.c.agent_id == row.id)
                    .limit(1)
                )
            ).first()
            is not None
        )
    if _locked(throttle):
        raise AccountLocked()
    # argon2 is deliberately slow: off the event loop, so sign-ins never stall the sockets
    hashed = row.password_hash if row is not None else None
    ok = await asyncio.to_thread(verify_password, hashed, password) and row is not None
    ok = ok and member  # in no space any more: as if the account did not exist
    ok = ok and row is not None and not row.disabled  # disabled (or deleted): the same
    new_hash = None
    if ok and hashed is not None and needs_rehash(hashed):
        new_hash = await asyncio.to_thread(hash_password, password)
    failures = 0
    async with db.write() as conn:
        # count under the row's lock: guesses sent in parallel are counted one by one
        if not ok:
            await conn.execute(
                _insert_ignoring_conflict(db).values(key=key, failures=0, locked_until=None)
            )
        throttle = (
            await conn.execute(
                sa.select(login_throttle).where(login_throttle.c.key == key).with_for_update()
            )
        ).first()
        if _locked(throttle):
            raise AccountLocked()  # a parallel guess locked it meanwhile
        if not ok:
            assert throttle is not None
            failures = 1 if throttle.locked_until else throttle.failures + 1  # an old lock: anew
            locked = (
                utcnow() + timedelta(seconds=lock_seconds) if failures >= max_failures else None
            )
            await conn.execute(
                login_throttle.update()
                .where(login_throttle.c.key == key)
                .values(failures=failures, locked_until=locked)
            )
        else:
            assert row is not None
            if throttle is not None:
                await conn.execute(login_throttle.delete().where(login_throttle.c.key == key))
            if new_hash is not None:
                await conn.execute(
                    agents.update().where(agents.c.id == row.id).values(password_hash=new_hash)
                )
        if actor is not None:
            await record(
                conn,
                replace(
                    actor, id=row.id if ok and row else None, name=row.name if ok and row else None
                ),
                "agent.sign_in",
                target_kind="agent",
                target_id=row.id if row is not None else None,
                target={"email": email},
                outcome="ok" if ok else "denied",
                reason=None
                if ok
                else ("locked" if failures >= max_failures else "bad credentials"),
            )
    if not ok or row is None:
        if failures >= max_failures:
            raise AccountLocked()
        raise BadCredentials()
    return AgentAccount(row.id, row.email, row.name, row.role, row.token_version)


def _locked(throttle: Any) -> bool:
    return bool(
        throttle is not None and throttle.locked_until and as_utc(throttle.locked_until) > utcnow()
    )


def _insert_ignoring_conflict(db: Database) -> Any:
    insert = sqlite_insert if db.sqlite else pg_insert
    return insert(login_throttle).on_conflict_do_nothing(index_elements=["key"])


async def bump_token_version(
    db: Database,
    agent_id: str,
    *,
    actor: Actor | None = None,
    action: str | None = None,
    **values: object,
) -> int:
    """Invalidate every session and token of the agent (optionally changing columns too);
    audited as ``action`` when an ``actor`` and an action are given."""
    async with db.write() as conn:
        before = await _fields(conn, agent_id)
        version = (
            await conn.execute(
                agents.update()
                .where(agents.c.id == agent_id)
                .values(token_version=agents.c.token_version + 1, **values)
                .returning(agents.c.token_version)
            )
        ).scalar_one()
        if action is not None:
            await _audit(
                conn, actor, action, agent_id, diff_of(before, await _fields(conn, agent_id))
            )
    return int(version)


async def _fields(conn: AsyncConnection, agent_id: str) -> dict[str, Any]:
    row = (
        await conn.execute(
            sa.select(*(agents.c[f] for f in AUDITED_FIELDS)).where(agents.c.id == agent_id)
        )
    ).first()
    return dict(row._mapping) if row else {}


async def update_account(
    db: Database, agent_id: str, *, actor: Actor | None = None, **values: Any
) -> None:
    """Change account columns (name, role, max_chats) of one agent, audited with the before
    and after when an ``actor`` is given."""
    if values:
        async with db.write() as conn:
            before = await _fields(conn, agent_id)
            await conn.execute(agents.update().where(agents.c.id == agent_id).values(**values))
            diff = diff_of(before, await _fields(conn, agent_id))
            if diff:
                await _audit(conn, actor, "agent.update", agent_id, diff)


async def _space_keys(conn: AsyncConnection, agent_id: str) -> list[str]:
    rows = await conn.execute(
        sa.select(spaces.c.key)
        .select_from(agent_spaces.join(spaces, spaces.c.id == agent_spaces.c.space_id))
        .where(agent_spaces.c.agent_id == agent_id)
    )
    return sorted(rows.scalars())


async def change_memberships(
    db: Database,
    agent_id: str,
    *,
    added: set[str],
    removed: set[str],
    actor: Actor | None = None,
) -> None:
    """Add the agent to these spaces and take it out of those, in one transaction."""
    if not added and not removed:
        return
    async with db.write() as conn:
        before = await _space_keys(conn, agent_id)
        if removed:
            await conn.execute(
                agent_spaces.delete().where(
                    agent_spaces.c.agent_id == agent_id,
                    agent_spaces.c.space_id.in_(sorted(removed)),
                )
            )
        if added:
            await conn.execute(
                agent_spaces.insert(),
                [{"agent_id": agent_id, "space_id": s} for s in sorted(added)],
            )
        await _audit(
            conn,
            actor,
            "agent.spaces",
            agent_id,
            {"spaces": [before, await _space_keys(conn, agent_id)]},
        )


NO_HASH = "!"  # no argon2 hash: verify_password says no to every password


@dataclass(frozen=True, slots=True)
class AgentRecord:
    """An agent as an operator sees it: never its password hash."""

    id: str
    email: str
    name: str
    role: Role
    spaces: tuple[str, ...]  # keys, sorted
    disabled: bool
    max_chats: int
    created_at: datetime


async def any_agent(db: Database) -> bool:
    """Whether an agent exists (a deleted one does not count): a first run has none."""
    async with db.read() as conn:
        row = await conn.execute(
            sa.select(agents.c.id).where(agents.c.deleted_at.is_(None)).limit(1)
        )
        return row.first() is not None


async def list_agents(db: Database, space_key: str | None = None) -> list[AgentRecord]:
    """Every agent (of that space), by email; deleted ones are not listed."""
    where: sa.ColumnElement[bool] = agents.c.deleted_at.is_(None)
    if space_key is not None:
        space_id = (await space_ids(db, [space_key]))[space_key]
        members = sa.select(agent_spaces.c.agent_id).where(agent_spaces.c.space_id == space_id)
        where = sa.and_(where, agents.c.id.in_(members))
    return await _records(db, where)


async def agent_by_email(db: Database, email: str) -> AgentRecord:
    """The agent with this email, or UsageError."""
    wanted = normalize_email(email)
    found = await _records(db, sa.and_(agents.c.email == wanted, agents.c.deleted_at.is_(None)))
    if not found:
        raise UsageError(f"No agent has the email {wanted}.")
    return found[0]


async def _records(db: Database, where: sa.ColumnElement[bool]) -> list[AgentRecord]:
    async with db.read() as conn:
        rows = (await conn.execute(sa.select(agents).where(where).order_by(agents.c.email))).all()
        memberships = await conn.execute(
            sa.select(agent_spaces.c.agent_id, spaces.c.key)
            .join(spaces, spaces.c.id == agent_spaces.c.space_id)
            .where(agent_spaces.c.agent_id.in_(sa.select(agents.c.id).where(where)))
        )
        keys: dict[str, list[str]] = {}
        for agent_id, key in memberships:
            keys.setdefault(agent_id, []).append(key)
    return [
        AgentRecord(
            id=r.id,
            email=r.email,
            name=r.name,
            role=r.role,
            spaces=tuple(sorted(keys.get(r.id, []))),
            disabled=bool(r.disabled),
            max_chats=r.max_chats,
            created_at=as_utc(r.created_at),
        )
        for r in rows
    ]


async def space_ids(db: Database, keys: list[str]) -> dict[str, str]:
    """The id of each of these spaces, by key; UsageError naming those that do not exist."""
    async with db.read() as conn:
        rows = await conn.execute(
            sa.select(spaces.c.key, spaces.c.id).where(spaces.c.key.in_(sorted(set(keys))))
        )
        found = {key: space_id for key, space_id in rows}
    missing = sorted(set(keys) - set(found))
    if missing:
        raise UsageError(f"No such space: {', '.join(missing)}")
    return found


async def set_password(
    db: Database, agent: AgentRecord, password: str, *, actor: Actor | None = None
) -> int:
    """A new password, checked like a new agent's (and not the current one): every session
    and token of the agent ends. The new token version."""
    async with db.read() as conn:
        current = (
            await conn.execute(sa.select(agents.c.password_hash).where(agents.c.id == agent.id))
        ).scalar_one()
    await asyncio.to_thread(
        check_new_password, password, email=agent.email, name=agent.name, current_hash=current
    )
    password_hash = await asyncio.to_thread(hash_password, password)
    return await bump_token_version(
        db, agent.id, password_hash=password_hash, actor=actor, action="agent.password_reset"
    )


async def mark_deleted(db: Database, agent_id: str, *, actor: Actor | None = None) -> None:
    """Delete an agent the way agents are deleted: the row stays with its name (messages,
    notes, ratings and reports show it), its email is scrubbed (free for a new account), its
    password can match nothing, it is in no space, and every session and token ends."""
    async with db.write() as conn:
        await _audit(  # with its name and email as they were: the entry keeps them
            conn,
            actor,
            "agent.delete",
            agent_id,
            {"spaces": [await _space_keys(conn, agent_id), []]},
        )
        await conn.execute(agent_spaces.delete().where(agent_spaces.c.agent_id == agent_id))
        await conn.execute(
            agents.update()
            .where(agents.c.id == agent_id)
            .values(
                email=f"deleted-{agent_id}@deleted.invalid",
                password_hash=NO_HASH,
                disabled=True,
                deleted_at=utcnow(),
                token_version=agents.c.token_version + 1,
            )
        )
