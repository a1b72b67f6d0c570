"""HTTP endpoints of the core: visitor tokens, health and readiness; the JSON-body reader."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chat.context import AppContext
from chat.errors import CausetteError, RateLimited, UnsupportedMediaType
from chat.jsontext import load_object
from chat.logging import bind_ids, get_logger
from chat.metrics import CONTENT_TYPE
from chat.origins import request_origin
from chat.responses import error_response, response_for

__all__ = [
    "client_address",
    "create_visitor",
    "ctx_of",
    "error",
    "healthz",
    "json_body",
    "metrics",
    "read_json",
    "readyz",
    "refuse_foreign_site",
    "string_field",
]

log = get_logger("causette.http")


def error(status: int, code: str, message: str) -> JSONResponse:
    return error_response(status, code, message)


def ctx_of(request: Request) -> AppContext:
    return request.state.ctx


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
    if await ctx.origins.widget(request.scope, space_key):
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
    bind_ids(space=key, visitor_id=visitor_id)
    log.info("visitor_created")
    return JSONResponse({"visitor_id": visitor_id, "token": token, "space": key}, status_code=201)


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


async def metrics(request: Request) -> Response:
    """The Prometheus metrics of every process of this server, to whom the app context's
    ``metrics_guard`` lets in (nobody by default: CAUSETTE_METRICS_ADDRESS serves them on an
    address of their own)."""
    ctx = ctx_of(request)
    try:
        allowed = await ctx.metrics_guard(request)
    except CausetteError as exc:
        return response_for(exc)
    if not allowed:
        return error(
            403,
            "not_allowed",
            "Metrics on this port need authorization; serve them on CAUSETTE_METRICS_ADDRESS.",
        )
    body = await asyncio.to_thread(ctx.metrics.exposition)  # reads every process's files
    return Response(body, media_type=CONTENT_TYPE)
