"""The console's pages: ``/console`` and its static ES modules, under a strict CSP.

No inline script or style is allowed, and Trusted Types forbid handing strings to the DOM's
HTML sinks (innerHTML and friends): the console renders user content as text only, and the
browser enforces it.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

__all__ = ["CONSOLE_CSP", "STATIC", "web_routes"]

STATIC = Path(__file__).resolve().parent / "console"

CONSOLE_CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    )
)


async def console_page(request: Request) -> Response:
    return FileResponse(
        STATIC / "index.html",
        headers={
            "content-security-policy": CONSOLE_CSP,
            "cache-control": "no-cache",
            "cross-origin-opener-policy": "same-origin",
            "permissions-policy": "camera=(), microphone=(), geolocation=()",
        },
    )


class _Assets(StaticFiles):
    """Static files revalidated on every load (ETag), under the console's CSP."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"cache-control", b"no-cache"))
                headers.append((b"content-security-policy", CONSOLE_CSP.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await super().__call__(scope, receive, with_headers)


def web_routes() -> list[BaseRoute]:
    return [
        Route("/console", console_page, methods=["GET"]),
        Mount("/console/assets", app=_Assets(directory=STATIC), name="console-assets"),
    ]
