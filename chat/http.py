"""HTTP endpoints of the core: visitor tokens, agent sign-in, health and readiness."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from agents.accounts import AgentAccount, authenticate
from chat.context import AppContext
from chat.errors import AuthError, CausetteError, RateLimited, UnsupportedMediaType
from chat.jsontext import load_object
from chat.logging import get_logger
from chat.origins import origin_matches, own_origins, request_origin, space_origin_allowed
from chat.responses import error_response, response_for

__all__ = [
    "agent_login",
    "client_address",
    "create_visitor",
    "healthz",
    "read_json",
    "readyz",
    "sign_in_attempt",
]

log = get_logger("causette.http")


def error(status: int, code: str, message: str) -> JSONResponse:
    return error_response(status, code, message)


def ctx_of(request: Request) -> AppContext:
    return request.state.ctx  # type: ignore[no-any-return]


def client_address(request: Request) -> str:
    """The client's address (behind a trusted proxy, the one it forwarded)."""
    return request.client.host if request.client else "unknown"


async def read_json(request: Request, *, empty: bool = False) -> dict[str, Any]:
    """The JSON object of a request (chat/jsontext.py's checks), or raise the error to
    answer; with ``empty``, no body at all reads as ``{}``. Requiring application/json also
    keeps other sites' plain forms out (they cannot send it)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise UnsupportedMediaType()
    raw = await request.body()
    return load_object(raw or b"{}" if empty else raw)


async def json_body(request: Request) -> dict[str, Any] | JSONResponse:
    """The JSON object of a request, or the error response to send instead."""
    try:
        return await read_json(request)
    except CausetteError as exc:
        return response_for(exc)


def string_field(body: dict[str, Any], name: str, max_len: int) -> str | JSONResponse:
    value = body.get(name)
    if not isinstance(value, str) or not value or len(value) > max_len:
        return error(400, "invalid_request", f"{name}: a non-empty string is required.")
    return value


async def refuse_foreign_site(request: Request, space_key: str) -> JSONResponse | None:
    """403 unless the request comes from this server's own site, from a site on the space's
    allowlist (exact match), or from no browser at all."""
    ctx = ctx_of(request)
    if await space_origin_allowed(ctx.db, request.scope, ctx.settings.public_url, space_key):
        return None
    log.info("origin_refused", origin=request_origin(request.scope), space=space_key)
    return error(403, "origin_not_allowed", "This site may not open chats in this space.")


async def create_visitor(request: Request) -> JSONResponse:
    ctx = ctx_of(request)
    try:
        await ctx.limits.check("visitor_tokens", client_address(request))
    except RateLimited as exc:
        log.info("visitor_token_rate_limited")
        return response_for(exc)
    body = await json_body(request)
    if isinstance(body, JSONResponse):
        return body
    key = string_field(body, "space", 64)
    if isinstance(key, JSONResponse):
        return key
    refused = await refuse_foreign_site(request, key)
    if refused is not None:
        return refused
    space = await ctx.store.space_by_key(key)
    if space is None:
        return error(404, "space_not_found", "No such space.")
    space_id, _name = space
    visitor_id = await ctx.store.create_visitor(space_id)
    token = ctx.signer.visitor_token(visitor_id, space_id)
    log.info("visitor_created", visitor_id=visitor_id, space=key)
    return JSONResponse({"visitor_id": visitor_id, "token": token, "space": key}, status_code=201)


async def agent_login(request: Request) -> JSONResponse:
    ctx = ctx_of(request)
    allowed = own_origins(request.scope, ctx.settings.public_url) | set(
        ctx.settings.console_origins
    )
    if not origin_matches(request_origin(request.scope), allowed):
        return error(403, "origin_not_allowed", "Sign in from the console's own site.")
    body = await json_body(request)
    if isinstance(body, JSONResponse):
        return body
    email = string_field(body, "email", 320)
    if isinstance(email, JSONResponse):
        return email
    password = string_field(body, "password", 1024)
    if isinstance(password, JSONResponse):
        return password
    try:
        account = await sign_in_attempt(ctx, client_address(request), email, password)
    except AuthError as exc:
        log.info("agent_login_refused", code=exc.code)
        return error(exc.status, exc.code, exc.message)
    except RateLimited as exc:
        log.info("agent_login_rate_limited")
        return response_for(exc)
    log.info("agent_login", agent_id=account.id)
    token = ctx.signer.agent_token(account.id, account.token_version)
    return JSONResponse(
        {
            "token": token,
            "agent": {"id": account.id, "name": account.name, "role": account.role},
        }
    )


async def sign_in_attempt(ctx: AppContext, client: str, email: str, password: str) -> AgentAccount:
    """One sign-in, counted against the client address's allowance first (RateLimited), then
    checked with the (email, address) lockout (agents/accounts.py)."""
    await ctx.limits.check("sign_ins", client)
    return await authenticate(
        ctx.db,
        email,
        password,
        client=client,
        secret=ctx.signer.derived_key("login-throttle"),
        max_failures=ctx.settings.login_max_failures,
        lock_seconds=ctx.settings.login_lock_seconds,
    )


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    ctx = ctx_of(request)
    checks: dict[str, str] = {}

    async def check(name: str, probe: Any) -> None:
        try:
            await asyncio.wait_for(probe(), timeout=2.0)
        except Exception:
            checks[name] = "unavailable"
        else:
            checks[name] = "ok"

    await asyncio.gather(check("database", ctx.db.ping), check("broker", ctx.hub.broker.ping))
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", **checks}, status_code=200 if ready else 503
    )
