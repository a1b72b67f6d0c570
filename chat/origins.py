"""Which browser origins may talk to which endpoints. Exact matches only.

One policy for every endpoint (``OriginPolicy``): the console's (its sign-in, its state
changes, the agent socket) allow this server's own origin and CAUSETTE_CONSOLE_ORIGINS; the
widget's (visitor tokens, space status, the visitor socket) allow this server's own origin and
the space's allowlist. A request with no Origin comes from no browser: nothing cross-site to
defend. The server's own origin comes from Host, which AllowedHostsMiddleware has checked.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from starlette.types import Scope

from chat.db import Database
from chat.logging import get_logger
from chat.models import space_origins, spaces

__all__ = [
    "OriginPolicy",
    "normalize_origin",
    "origin_matches",
    "own_origins",
    "request_origin",
    "space_allows",
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


log = get_logger("causette.origins")


class OriginPolicy:
    def __init__(self, db: Database, *, public_url: str | None, console_origins: list[str]):
        self._db = db
        self._public_url = public_url
        self._console = set()
        for origin in console_origins:
            try:
                self._console.add(normalize_origin(origin))
            except ValueError:
                log.warning("console_origin_ignored", origin=origin[:100])

    def console(self, scope: Scope) -> bool:
        """Whether the request may act in the console's name."""
        allowed = own_origins(scope, self._public_url) | self._console
        return origin_matches(request_origin(scope), allowed)

    async def widget(self, scope: Scope, space_key: str | None) -> bool:
        """Whether the request may act for a visitor of this space."""
        origin = request_origin(scope)
        if origin_matches(origin, own_origins(scope, self._public_url)):
            return True
        if not space_key or origin is None:
            return False
        try:
            return await space_allows(self._db, space_key, normalize_origin(origin))
        except ValueError:
            return False
