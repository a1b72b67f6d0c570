"""Which browser origins may talk to which endpoints. Exact matches only."""

from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from starlette.types import Scope

from chat.db import Database
from chat.models import space_origins, spaces

__all__ = [
    "normalize_origin",
    "origin_matches",
    "own_origins",
    "request_origin",
    "space_allows",
    "space_origin_allowed",
]


def normalize_origin(origin: str) -> str:
    """``scheme://host[:port]`` in lower case, default ports dropped; ValueError if not one."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"Not an origin: {origin!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError(f"An origin has no path, query or credentials: {origin!r}")
    port = parts.port
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def request_origin(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"origin":
            # "null" is an opaque origin (a sandboxed frame, a file): a browser all the same,
            # and one that matches no allowlist
            return value.decode("latin-1")
    return None


def own_origins(scope: Scope, public_url: str | None) -> set[str]:
    """The server's own origin, as the browser sees it, and the configured public one."""
    out: set[str] = set()
    host = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"host"), None)
    scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme", "http"), scope.get("scheme"))
    if host:
        try:
            out.add(normalize_origin(f"{scheme}://{host}"))
        except ValueError:
            pass
    if public_url:
        out.add(normalize_origin(public_url))
    return out


def origin_matches(origin: str | None, allowed: set[str]) -> bool:
    """No Origin header means no browser is involved: nothing cross-site to defend."""
    if origin is None:
        return True
    try:
        return normalize_origin(origin) in allowed
    except ValueError:
        return False


async def space_origin_allowed(
    db: Database, scope: Scope, public_url: str | None, space_key: str
) -> bool:
    """The request's origin is this server's own, or on the space's allowlist, or absent."""
    origin = request_origin(scope)
    if origin_matches(origin, own_origins(scope, public_url)):
        return True
    try:
        return await space_allows(db, space_key, normalize_origin(origin or ""))
    except ValueError:
        return False


async def space_allows(db: Database, space_key: str, origin: str) -> bool:
    async with db.read() as conn:
        row = (
            await conn.execute(
                sa.select(space_origins.c.origin)
                .select_from(space_origins.join(spaces, spaces.c.id == space_origins.c.space_id))
                .where(spaces.c.key == space_key, space_origins.c.origin == origin)
            )
        ).first()
    return row is not None
