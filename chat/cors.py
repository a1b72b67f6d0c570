"""Cross-origin access for the few endpoints the widget calls from its host sites.

The browser asks first (a preflight) and this middleware says yes to any origin: a preflight
carries no body, so it cannot tell which space is meant. The endpoints themselves check the
page's origin against the space's allowlist and refuse the others with 403; what they do
return is readable by the page that asked (its origin is echoed back). No cookies are involved.
"""

from __future__ import annotations

import re

from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["WIDGET_API", "WidgetCorsMiddleware"]

WIDGET_API = re.compile(r"^/api/(visitors|spaces/[^/]+/status)$")


def _origin(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"origin":
            return value.decode("latin-1")
    return None


def _has(scope: Scope, header: bytes) -> bool:
    return any(name == header for name, _ in scope.get("headers", ()))


class WidgetCorsMiddleware:
    def __init__(self, app: ASGIApp, paths: re.Pattern[str] = WIDGET_API) -> None:
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        origin = _origin(scope) if scope["type"] == "http" else None
        if origin is None or not self.paths.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and _has(scope, b"access-control-request-method"):
            preflight = Response(
                status_code=204,
                headers={
                    "access-control-allow-origin": origin,
                    "access-control-allow-methods": "GET, POST",
                    "access-control-allow-headers": "content-type",
                    "access-control-max-age": "600",
                    "vary": "Origin",
                },
            )
            await preflight(scope, receive, send)
            return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["access-control-allow-origin"] = origin
                headers.add_vary_header("Origin")
            await send(message)

        await self.app(scope, receive, send_wrapper)
