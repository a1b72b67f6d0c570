"""Pure ASGI middleware for both HTTP and WebSocket scopes: ids and log context, body limits,
security headers."""

from __future__ import annotations

import time
import uuid

import structlog
from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chat.logging import get_logger

__all__ = ["BodyLimitMiddleware", "RequestContextMiddleware", "SecurityHeadersMiddleware"]

log = get_logger("causette.http")


class RequestContextMiddleware:
    """Give every request and socket an id, bind it to the log context, log one line per
    HTTP request (never its query string or body)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

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
            log.info(
                "http_request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                ms=round((time.perf_counter() - started) * 1000, 2),
            )


class BodyLimitMiddleware:
    """Refuse HTTP bodies over the limit with 413, whether announced or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

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

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLarge()
            return message

        try:
            await self.app(scope, limited, send)
        except _BodyTooLarge:
            await _too_big(scope, receive, send, self.max_bytes)


class _BodyTooLarge(Exception):
    pass


async def _too_big(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    response = JSONResponse(
        {"error": {"code": "body_too_large", "message": f"Bodies are limited to {limit} bytes."}},
        status_code=413,
    )
    await response(scope, receive, send)


class SecurityHeadersMiddleware:
    """Headers every HTTP response carries; pages may add a stricter CSP of their own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("x-content-type-options", "nosniff")
                headers.setdefault("referrer-policy", "strict-origin-when-cross-origin")
                headers.setdefault("x-frame-options", "DENY")
                headers.setdefault(
                    "content-security-policy", "default-src 'none'; frame-ancestors 'none'"
                )
            await send(message)

        await self.app(scope, receive, send_wrapper)
