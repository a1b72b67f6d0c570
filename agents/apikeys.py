"""API keys for server-to-server use: the ``api_keys`` table's owner, and the principal a
request made with a key acts as.

A key is ``cst_`` and 43 characters of urlsafe base64 (32 random bytes), shown once, when
it is made. The table keeps only its HMAC-SHA256 under a key of its own derived from the
server's secret (chat/tokens.py ``derived_key("api_key")``): a copy of the database holds no
key that works, and a key made on one node works on every node that shares the secret.

A key belongs to a space, not to a person. Its principal (``KeyPrincipal``) is an admin of
that one space, further limited by the key's scopes, which agents/rest.py checks against the
operation's before its handler runs: whatever a handler lets an admin do, a key does only in
its space and only where its scopes say so.

No cache: every request with a key is one lookup by the key's hash (a unique index), so a key
revoked or expired is refused on the next request, on every node. Its last use (time and
address) is written at most once a minute: most requests only read.

Making and revoking a key are audited (``api_key.create``, ``api_key.revoke``) in the
space's chain, in the same transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from starlette.requests import Request

from agents.models import api_keys
from agents.scopes import SCOPES
from chat.audit import Actor, record
from chat.clock import as_utc, iso, utcnow
from chat.db import Database
from chat.errors import BadApiKey, InvalidRequest, MissingScope, NotFound
from chat.http import client_address
from chat.logging import bind_ids
from chat.models import spaces
from chat.principals import AgentPrincipal
from chat.tokens import TokenSigner

__all__ = [
    "DEFAULT_DAYS",
    "MAX_DAYS",
    "PREFIX",
    "ApiKey",
    "ApiKeys",
    "KeyPrincipal",
    "agent_id_of",
    "bearer_of",
    "check_scopes",
]

PREFIX = "cst_"
DEFAULT_DAYS = 90
MAX_DAYS = 365
MAX_NAME = 100
LAST_USE_EVERY = timedelta(minutes=1)  # the last use is written at most this often per key


@dataclass(frozen=True, slots=True)
class KeyPrincipal(AgentPrincipal):
    """A request made with an API key: an admin of the key's one space (``spaces`` holds that
    space only), limited to the key's scopes. ``id`` and ``name`` are the key's."""

    scopes: frozenset[str] = frozenset()

    kind = "api_key"


def agent_id_of(principal: AgentPrincipal) -> str | None:
    """The agent behind a principal, for a column that names an agent; None for a key."""
    return None if isinstance(principal, KeyPrincipal) else principal.id


def bearer_of(request: Request) -> str | None:
    """The key of an ``Authorization: Bearer KEY`` header; None without one."""
    scheme, _, value = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip()


def check_scopes(principal: KeyPrincipal, allowed: Sequence[str] | None) -> None:
    """MissingScope unless the key has one of the operation's scopes (none: session only)."""
    if not allowed:
        raise MissingScope(
            "This operation needs a console session: an API key cannot use it.",
        )
    if principal.scopes.isdisjoint(allowed):
        raise MissingScope(f"This API key needs the scope {' or '.join(allowed)}.")


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    space_id: str
    space_key: str | None
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    created_by: str | None
    expires_at: datetime
    last_used_at: datetime | None
    last_used_ip: str | None
    revoked_at: datetime | None
    revoked_by: str | None

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= now else "active"

    def public(self) -> dict[str, Any]:
        """What anyone may see of a key: never its secret, which is not kept."""
        return {
            "id": self.id,
            "name": self.name,
            "space": self.space_key,
            "scopes": list(self.scopes),
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            "expires_at": iso(self.expires_at),
            "last_used_at": iso(self.last_used_at) if self.last_used_at else None,
            "last_used_ip": self.last_used_ip,
            "revoked_at": iso(self.revoked_at) if self.revoked_at else None,
            "status": self.status(utcnow()),
        }


def _key(row: Any) -> ApiKey:
    return ApiKey(
        id=row.id,
        space_id=row.space_id,
        space_key=row.space_key,
        name=row.name,
        scopes=tuple(row.scopes or ()),
        created_at=as_utc(row.created_at),
        created_by=row.created_by,
        expires_at=as_utc(row.expires_at),
        last_used_at=as_utc(row.last_used_at) if row.last_used_at else None,
        last_used_ip=row.last_used_ip,
        revoked_at=as_utc(row.revoked_at) if row.revoked_at else None,
        revoked_by=row.revoked_by,
    )


_WITH_SPACE = sa.select(api_keys, spaces.c.key.label("space_key")).select_from(
    api_keys.join(spaces, spaces.c.id == api_keys.c.space_id)
)


def _checked_scopes(scopes: Collection[str]) -> tuple[str, ...]:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise InvalidRequest(
            f"Unknown scope {', '.join(unknown)}: one of {', '.join(SCOPES)}.", ref="scopes"
        )
    if not scopes:
        raise InvalidRequest("A key needs at least one scope.", ref="scopes")
    return tuple(s for s in SCOPES if s in set(scopes))  # in the table's order, once each


class ApiKeys:
    """The api_keys table's owner."""

    def __init__(self, db: Database, secret: bytes) -> None:
        self.db = db
        self._secret = secret

    @classmethod
    def of(cls, db: Database, signer: TokenSigner) -> ApiKeys:
        return cls(db, signer.derived_key("api_key"))

    def digest(self, key: str) -> str:
        """The keyed hash a key is stored and found under."""
        return hmac.new(self._secret, key.encode(), hashlib.sha256).hexdigest()

    async def create(
        self,
        actor: Actor,
        space_id: str,
        *,
        name: str,
        scopes: Collection[str],
        expires_days: int = DEFAULT_DAYS,
    ) -> tuple[ApiKey, str]:
        """A new key of the space: (what is kept of it, the key itself, shown this once)."""
        name = (name or "").strip()
        if not name or len(name) > MAX_NAME:
            raise InvalidRequest(f"A key's name is 1 to {MAX_NAME} characters.", ref="name")
        if not 1 <= expires_days <= MAX_DAYS:
            raise InvalidRequest(f"expires_days: 1 to {MAX_DAYS}.", ref="expires_days")
        chosen = _checked_scopes(scopes)
        secret = PREFIX + secrets.token_urlsafe(32)
        now = utcnow()
        key_id = str(uuid.uuid4())
        values: dict[str, Any] = {
            "id": key_id,
            "space_id": space_id,
            "name": name,
            "key_hash": self.digest(secret),
            "scopes": list(chosen),
            "created_at": now,
            "created_by": actor.name,
            "expires_at": now + timedelta(days=expires_days),
        }
        async with self.db.write() as conn:
            space_key = await conn.scalar(sa.select(spaces.c.key).where(spaces.c.id == space_id))
            if space_key is None:
                raise NotFound("No such space.", code="space_not_found")
            await conn.execute(api_keys.insert().values(**values))
            await record(
                conn,
                actor,
                "api_key.create",
                space_id=space_id,
                target_kind="api_key",
                target_id=key_id,
                target={"name": name, "scopes": list(chosen), "expires_at": values["expires_at"]},
            )
        row = {
            **values,
            "space_key": space_key,
            "last_used_at": None,
            "last_used_ip": None,
            "revoked_at": None,
            "revoked_by": None,
        }
        return _key(SimpleNamespace(**row)), secret

    async def list(self, space_ids: Collection[str]) -> list[ApiKey]:
        """The keys of these spaces, newest first, revoked and expired ones included."""
        query = _WITH_SPACE.where(api_keys.c.space_id.in_(list(space_ids)))
        async with self.db.read() as conn:
            rows = await conn.execute(query.order_by(api_keys.c.created_at.desc()))
            return [_key(r) for r in rows]

    async def revoke(self, actor: Actor, key_id: str, space_ids: Collection[str]) -> ApiKey:
        """Revoke a key of one of these spaces (any other is not found); it stops working
        at once, on every node. Revoking a revoked key changes nothing."""
        async with self.db.write() as conn:
            row = (
                await conn.execute(
                    _WITH_SPACE.where(
                        api_keys.c.id == key_id, api_keys.c.space_id.in_(list(space_ids))
                    )
                )
            ).first()
            if row is None:
                raise NotFound("No such API key.", code="api_key_not_found")
            key = _key(row)
            if key.revoked_at is not None:
                return key
            now = utcnow()
            await conn.execute(
                api_keys.update()
                .where(api_keys.c.id == key_id)
                .values(revoked_at=now, revoked_by=actor.name)
            )
            await record(
                conn,
                actor,
                "api_key.revoke",
                space_id=key.space_id,
                target_kind="api_key",
                target_id=key_id,
                target={"name": key.name, "scopes": list(key.scopes)},
            )
        return replace(key, revoked_at=now, revoked_by=actor.name)

    async def principal(self, key: str, address: str) -> KeyPrincipal:
        """Who a request with this key acts as; BadApiKey for a key unknown, expired or
        revoked. One indexed read, and a write at most once a minute (the last use)."""
        if not key.startswith(PREFIX) or len(key) > 128:
            raise BadApiKey("Unknown API key.")
        async with self.db.read() as conn:
            row = (
                await conn.execute(_WITH_SPACE.where(api_keys.c.key_hash == self.digest(key)))
            ).first()
        if row is None:
            raise BadApiKey("Unknown API key.")
        found = _key(row)
        now = utcnow()
        if found.revoked_at is not None:
            raise BadApiKey("This API key was revoked.")
        if found.expires_at <= now:
            raise BadApiKey("This API key has expired.")
        if found.last_used_at is None or now - found.last_used_at >= LAST_USE_EVERY:
            await self._used(found.id, now, address)
        bind_ids(api_key_id=found.id)  # the request's log line says which key
        return KeyPrincipal(
            id=found.id,
            name=found.name,
            email="",
            role="admin",
            token_version=0,
            spaces={found.space_id: found.space_key or ""},
            scopes=frozenset(found.scopes),
        )

    def guard(self, scope: str) -> Callable[[Request], Awaitable[bool]]:
        """A check for a route outside the REST table (``/metrics``): True for a request
        with a key that has ``scope``, False for one without a key; BadApiKey (401) or
        MissingScope (403) for a key that does not do."""

        async def allowed(request: Request) -> bool:
            key = bearer_of(request)
            if key is None:
                return False
            check_scopes(await self.principal(key, client_address(request)), (scope,))
            return True

        return allowed

    async def _used(self, key_id: str, now: datetime, address: str) -> None:
        """Note the key's last use, unless another request (of any node) did this minute."""
        async with self.db.write() as conn:
            await conn.execute(
                api_keys.update()
                .where(
                    api_keys.c.id == key_id,
                    sa.or_(
                        api_keys.c.last_used_at.is_(None),
                        api_keys.c.last_used_at <= now - LAST_USE_EVERY,
                    ),
                )
                .values(last_used_at=now, last_used_ip=address[:64])
            )
