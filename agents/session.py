"""The console's sign-in: a signed, expiring, HttpOnly cookie, and CSRF protection.

The cookie carries the agent id, its ``token_version`` and a random session id. Bumping the
version (sign-out, a password change) kills every session and agent token at once, and a
control event on the agent's channel closes its sockets on every node.

State-changing calls must carry ``X-CSRF-Token``, an HMAC of the session id that only the
console's own pages can read (from ``GET /api/session``), and any Origin they send must be
the console's own. ``SameSite=Strict`` keeps the cookie off other sites' requests besides.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadData, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from chat.context import AppContext
from chat.errors import BadToken, NotAllowed, NotSignedIn
from chat.events import CloseSockets, Event
from chat.hub import Hub
from chat.logging import bind_ids
from chat.principals import AgentPrincipal, agent_channel
from chat.types import CloseCode

__all__ = [
    "CSRF_HEADER",
    "SessionClaims",
    "Sessions",
    "close_agent_sockets",
    "current_agent",
]

COOKIE = "causette_session"
SECURE_COOKIE = "__Host-causette_session"  # https only: no Domain, Path=/, Secure
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True, slots=True)
class SessionClaims:
    agent_id: str
    token_version: int
    sid: str


class Sessions:
    def __init__(self, secret_key: str, *, ttl: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="causette.session.v1")
        self._csrf_key = hashlib.sha256(f"causette.csrf.v1:{secret_key}".encode()).digest()
        self.ttl = ttl

    def issue(self, agent_id: str, token_version: int) -> tuple[str, SessionClaims]:
        claims = SessionClaims(agent_id, token_version, secrets.token_urlsafe(16))
        value = self._serializer.dumps({"a": agent_id, "n": token_version, "s": claims.sid})
        return value, claims

    def read(self, value: str) -> SessionClaims:
        try:
            data = self._serializer.loads(value, max_age=self.ttl)
            return SessionClaims(str(data["a"]), int(data["n"]), str(data["s"]))
        except (BadData, KeyError, TypeError, ValueError):
            raise BadToken() from None

    def csrf_token(self, claims: SessionClaims) -> str:
        return hmac.new(self._csrf_key, claims.sid.encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def cookie_name(request: Request) -> str:
        return SECURE_COOKIE if request.url.scheme == "https" else COOKIE

    def set_cookie(self, response: Response, request: Request, value: str) -> None:
        response.set_cookie(
            self.cookie_name(request),
            value,
            max_age=self.ttl,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )

    def clear_cookie(self, response: Response, request: Request) -> None:
        response.delete_cookie(
            self.cookie_name(request),
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )


async def current_agent(
    request: Request, ctx: AppContext, sessions: Sessions, *, csrf: bool
) -> tuple[AgentPrincipal, SessionClaims]:
    """The signed-in agent, as of now in the database; else NotSignedIn, or NotAllowed (CSRF)."""
    value = request.cookies.get(sessions.cookie_name(request))
    if not value:
        raise NotSignedIn()
    try:
        claims = sessions.read(value)
    except BadToken:
        raise NotSignedIn() from None
    if csrf:
        if not ctx.origins.console(request.scope):
            raise NotAllowed("This request did not come from the console.", code="csrf_failed")
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), sessions.csrf_token(claims).encode()):
            raise NotAllowed("Missing or wrong CSRF token: reload the page.", code="csrf_failed")
    try:
        principal = await ctx.store.agent_principal(claims.agent_id, claims.token_version)
    except BadToken:
        raise NotSignedIn() from None
    bind_ids(agent_id=principal.id)  # the request's log line says who
    return principal, claims


def close_agent_sockets(
    hub: Hub, agent_id: str, code: CloseCode, *, below_version: int | None = None
) -> None:
    """Close the agent's sockets on every node: those signed in before ``below_version``, or
    all of them (they reconnect and pick up new memberships)."""
    hub.publish([agent_channel(agent_id)], Event.control(CloseSockets(int(code), below_version)))
