"""The console's REST layer: one table of operations, from which both the Starlette routes
and the OpenAPI document are made, so that the two cannot drift apart.

Every operation but sign-in needs the session cookie; every one that changes state needs the
CSRF header too (agents/session.py). Or an API key (``Authorization: Bearer KEY``, no cookie,
no CSRF: agents/apikeys.py), where the operation's ``scopes`` let one in (agents/scopes.py).
Errors are ``{"error": {"code", "message"}}``; a conversation, agent or team outside the
caller's spaces is "not found", like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agents.apikeys import bearer_of, check_scopes
from agents.context import ConsoleContext
from agents.scopes import Scope
from agents.session import SessionClaims, current_agent
from chat.context import AppContext
from chat.errors import BadApiKey, CausetteError, InvalidRequest
from chat.http import client_address, read_json
from chat.logging import get_logger
from chat.principals import AgentPrincipal
from chat.responses import response_for

__all__ = ["Body", "Call", "Op", "Param", "routes_of"]

log = get_logger("causette.console")


class Body(BaseModel):
    """A request body: strict JSON, unknown fields refused."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    description: str
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})


@dataclass(frozen=True, slots=True)
class Call:
    request: Request
    ctx: AppContext
    console: ConsoleContext
    agent: AgentPrincipal | None
    session: SessionClaims | None
    body: Any

    @property
    def me(self) -> AgentPrincipal:
        assert self.agent is not None
        return self.agent

    def path(self, name: str) -> str:
        return str(self.request.path_params[name])

    def query(self, name: str, default: str | None = None) -> str | None:
        return self.request.query_params.get(name, default)

    def day(self, name: str, default: date) -> date:
        """A query parameter that is a day, YYYY-MM-DD, or InvalidRequest."""
        raw = self.query(name)
        if raw is None:
            return default
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise InvalidRequest(f"{name}: a date, YYYY-MM-DD") from None


Handler = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Op:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    body: type[Body] | None = None
    response: str | None = None  # a schema name in agents/openapi.py's components
    status: int = 200
    signed_in: bool = True
    query: tuple[Param, ...] = ()
    errors: tuple[int, ...] = ()
    # the scopes of which any one lets an API key call it (agents/scopes.py): SESSION_ONLY
    # (none) keeps it to the cookie session; None is no decision yet, refused to keys
    scopes: tuple[Scope, ...] | None = None

    @property
    def changes_state(self) -> bool:
        return self.method != "GET"

    @property
    def operation_id(self) -> str:
        return self.handler.__name__.strip("_")


async def _read_body(request: Request, model: type[Body]) -> Body:
    raw = await read_json(request, empty=True)  # InvalidJSON, InvalidText, UnsupportedMediaType
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise InvalidRequest(f"{where}: {first['msg']}") from None


def _endpoint(op: Op) -> Any:
    async def endpoint(request: Request) -> Response:
        ctx: AppContext = request.state.ctx
        console: ConsoleContext = request.state.console
        try:
            agent: AgentPrincipal | None = None
            claims: SessionClaims | None = None
            key = bearer_of(request) if op.signed_in else None
            if key is not None:  # a server, not a browser: no cookie, so no CSRF to fear
                agent = await console.keys.principal(key, client_address(request))
                check_scopes(agent, op.scopes)
            elif op.signed_in:
                agent, claims = await current_agent(
                    request, ctx, console.sessions, csrf=op.changes_state
                )
            body = await _read_body(request, op.body) if op.body is not None else None
            result = await op.handler(Call(request, ctx, console, agent, claims, body))
        except CausetteError as exc:
            answer = response_for(exc)
            if isinstance(exc, BadApiKey):
                answer.headers["www-authenticate"] = 'Bearer error="invalid_token"'
            return answer
        if isinstance(result, Response):
            return result
        if result is None:
            return Response(status_code=204)
        return JSONResponse(result, status_code=op.status)

    endpoint.__name__ = op.operation_id
    return endpoint


def routes_of(ops: list[Op]) -> list[Route]:
    return [Route(op.path, _endpoint(op), methods=[op.method]) for op in ops]
