"""Pure ASGI middleware for both HTTP and WebSocket scopes: ids and log context, security
headers, the Host check, client errors, body limits and deadlines.

From the outside in: RequestContext (an id, one log line) → SecurityHeaders (on every answer,
errors included) → AllowedHosts → ClientErrors (what a client can break answers 4xx, and a
bug answers a JSON 500 with the same headers) → the rest of the app.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes

import structlog
from starlette.datastructures import MutableHeaders
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chat.logging import get_logger
from chat.responses import error_response

if TYPE_CHECKING:
    from chat.metrics import Metrics

__all__ = [
    "AllowedHostsMiddleware",
    "BodyLimitMiddleware",
    "ClientErrorsMiddleware",
    "RequestContextMiddleware",
    "SecurityHeadersMiddleware",
    "default_allowed_hosts",
]

log = get_logger("causette.http")

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
HSTS = "max-age=63072000"  # two years; no includeSubDomains: the site's other hosts are not ours
# probes and scrapers address a node by its IP: the probes reveal nothing, and /metrics on
# this port needs authorization (chat/metrics.py MetricsGuard)
UNCHECKED_PATHS = ("/healthz", "/readyz", "/metrics")


class RequestContextMiddleware:
    """Give every request and socket an id, bind it to the log context, log one line per
    HTTP request and count it in the metrics.

    The line, ``http_request``, is the one to read about a request: ``method``, ``route``
    (the template, ``/api/conversations/{conversation_id}``; the raw path only when no route
    matched), ``params`` (the template's values: ids), ``status``, ``ms``, and whatever the
    handler bound to the log context (``agent_id`` once a session is read, ``space``...)
    besides ``request_id``. Never the query string or the body. The request id is also in
    the scope's state, where the audit trail's actor takes it (agents/privacy.py
    ``actor_of``), and in the ``X-Request-Id`` header of the answer."""

    def __init__(self, app: ASGIApp, metrics: Metrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["x-request-id"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None)  # set by the router on a match
            line: dict[str, Any] = {"method": scope["method"], "route": route}
            if route is None:
                line["path"] = scope["path"][:200]
            elif scope.get("path_params"):
                line["params"] = scope["path_params"]
            log.info("http_request", **line, status=status, ms=round(seconds * 1000, 2))
            if self.metrics is not None:
                self.metrics.request_done(scope["method"], route, status, seconds)


class SecurityHeadersMiddleware:
    """Headers every HTTP response carries; pages may add a stricter CSP of their own. API
    answers (sessions, tokens, transcripts) and anything setting a cookie are never stored by
    a cache; over https, browsers are told to keep to https (HSTS)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = scope["path"].startswith("/api/")
        https = scope.get("scheme") == "https"

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("x-content-type-options", "nosniff")
                headers.setdefault("referrer-policy", "strict-origin-when-cross-origin")
                headers.setdefault("x-frame-options", "DENY")
                headers.setdefault(
                    "content-security-policy", "default-src 'none'; frame-ancestors 'none'"
                )
                if api or "set-cookie" in headers or message["status"] >= 400:
                    headers["cache-control"] = "no-store"
                if https:
                    headers.setdefault("strict-transport-security", HSTS)
            await send(message)

        await self.app(scope, receive, send_wrapper)


def default_allowed_hosts(public_url: str | None) -> list[str]:
    """The host of the public URL, or loopback names when none is set (development)."""
    if public_url:
        from urllib.parse import urlsplit

        host = urlsplit(public_url).hostname
        if host:
            return [host.lower()]
    return list(LOOPBACK_HOSTS)


def _host_name(value: str) -> str:
    """``example.com:8000`` → ``example.com``; ``[::1]:80`` → ``::1``."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class AllowedHostsMiddleware:
    """Answer only to the host names the server is known by: a request whose Host is another
    (DNS rebinding, a poisoned redirect) gets 400, a socket is refused before accept. The
    server's own origin, which the origin checks allow, comes from Host: this keeps it true."""

    def __init__(self, app: ASGIApp, hosts: Iterable[str]) -> None:
        self.app = app
        self.any = "*" in hosts
        self.exact = {h.lower() for h in hosts if not h.startswith("*.")}
        self.suffixes = tuple(h[1:].lower() for h in hosts if h.startswith("*."))

    def allows(self, host: str) -> bool:
        name = _host_name(host)
        return name in self.exact or (bool(self.suffixes) and name.endswith(self.suffixes))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.any or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
        if self.allows(host) or (scope["type"] == "http" and scope["path"] in UNCHECKED_PATHS):
            await self.app(scope, receive, send)
            return
        log.warning("host_refused", host=host[:100])
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        response = error_response(
            400,
            "host_not_allowed",
            "This server does not answer to this host name (see CAUSETTE_ALLOWED_HOSTS).",
        )
        await response(scope, receive, send)


def _bad_target(scope: Scope) -> str | None:
    """Why the path or query string cannot be text causette stores or searches, if so."""
    raw = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
    for part in (raw, scope.get("query_string", b"")):
        decoded = unquote_to_bytes(part.replace(b"+", b" "))
        if b"\x00" in decoded:
            return "The URL may not contain NUL characters."
        try:
            decoded.decode("utf-8")
        except UnicodeDecodeError:
            return "The URL is not valid UTF-8."
    return None


class ClientErrorsMiddleware:
    """What a client can get wrong is its error, never the server's: a URL with NUL or
    invalid UTF-8 is 400, a client that leaves mid-body is logged in one line. Anything else
    that escapes a handler is a bug: one logged traceback and a JSON 500 (inside the
    middleware that adds the security headers and the request id)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        reason = _bad_target(scope)
        if reason is not None:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            else:
                await error_response(400, "invalid_request", reason)(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except ClientDisconnect:
            log.info("http_client_disconnected")
        except Exception:
            log.exception("http_internal_error", path=scope["path"])
            if not started:
                response = error_response(500, "internal_error", "Something went wrong.")
                await response(scope, receive, send)


class BodyLimitMiddleware:
    """Refuse HTTP bodies over the limit with 413, whether announced or streamed, and bodies
    that take longer than ``timeout`` seconds to arrive with 408 (a client that trickles its
    body would otherwise hold the connection for as long as it likes)."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float = 10.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = True
                if too_big:
                    await _too_big(scope, receive, send, self.max_bytes)
                    return
        seen = 0
        deadline = time.monotonic() + self.timeout

        async def limited() -> Message:
            nonlocal seen
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    message = await receive()
            except TimeoutError:
                raise _BodyTooSlow() from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLarge()
            return message

        try:
            await self.app(scope, limited, send)
        except _BodyTooLarge:
            await _too_big(scope, receive, send, self.max_bytes)
        except _BodyTooSlow:
            log.info("http_body_timeout")
            response = error_response(
                408, "request_timeout", "The request body took too long.", {"connection": "close"}
            )
            await response(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


class _BodyTooSlow(Exception):
    pass


async def _too_big(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    response = error_response(413, "body_too_large", f"Bodies are limited to {limit} bytes.")
    await response(scope, receive, send)
