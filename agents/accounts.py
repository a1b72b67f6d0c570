"""Agent accounts: creation, membership in spaces, sign-in with lockout.

The lockout counts failures per (email, client address) pair: five wrong passwords from one
address lock that address out of that account for ``lock_seconds``, and nobody else. A
stranger cannot keep an admin out, and guessing from many addresses is slowed by the
per-address sign-in limit (chat/ratelimit.py) before this. An agent that belongs to no space
cannot sign in: it has nothing to work on, and a session would outlive its removal.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from agents.passwords import check_new_password, hash_password, needs_rehash, verify_password
from chat.clock import as_utc, utcnow
from chat.db import Database
from chat.errors import AccountLocked, BadCredentials, UsageError
from chat.models import agent_spaces, agents, login_throttle, spaces
from chat.types import ROLES, Role

__all__ = [
    "AgentAccount",
    "authenticate",
    "bump_token_version",
    "change_memberships",
    "create_agent",
    "normalize_email",
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
    db: Database, *, email: str, name: str, role: str, password: str, space_keys: list[str]
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
    return AgentAccount(agent_id, email, name.strip(), role, 0)


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
) -> AgentAccount:
    """Check a sign-in from ``client`` (its address). A wrong email and a wrong password look
    the same, and so does the lockout after too many failures: it is kept per (email,
    address), whether or not an agent has the email."""
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


async def bump_token_version(db: Database, agent_id: str, **values: object) -> int:
    """Invalidate every session and token of the agent (optionally changing columns too)."""
    async with db.write() as conn:
        version = (
            await conn.execute(
                agents.update()
                .where(agents.c.id == agent_id)
                .values(token_version=agents.c.token_version + 1, **values)
                .returning(agents.c.token_version)
            )
        ).scalar_one()
    return int(version)


async def update_account(db: Database, agent_id: str, **values: Any) -> None:
    """Change account columns (name, role, max_chats) of one agent."""
    if values:
        async with db.write() as conn:
            await conn.execute(agents.update().where(agents.c.id == agent_id).values(**values))


async def change_memberships(
    db: Database, agent_id: str, *, added: set[str], removed: set[str]
) -> None:
    """Add the agent to these spaces and take it out of those, in one transaction."""
    if not added and not removed:
        return
    async with db.write() as conn:
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
