"""The widget as the server delivers it: the script, a demo site, and the one public endpoint
the widget reads before it shows a form.

Files are served from a fixed list, never from a path taken from the request.
"""

from __future__ import annotations

import gzip
import hashlib
import html
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from chat.http import ctx_of, error, refuse_foreign_site
from chat.logging import get_logger
from chat.spaces import KEY_RE, widget_options

__all__ = ["WIDGET_DIR", "StaticFile", "widget_routes"]

log = get_logger("causette.widget")

WIDGET_DIR = Path(__file__).resolve().parent.parent / "widget"
SHORT_CACHE = "public, max-age=300"  # a new release reaches every visitor within minutes
LONG_CACHE = "public, max-age=31536000, immutable"  # /widget.js?v=<version>: never changes


@dataclass
class _Loaded:
    stamp: tuple[int, int]
    body: bytes
    gzipped: bytes
    version: str


class StaticFile:
    """One file of ours: read once (again when it changes on disk), served with an ETag,
    gzip when the client takes it, and 304 when the client has it already."""

    def __init__(self, path: Path, media_type: str, *, cross_origin: bool = False) -> None:
        self.path = path
        self.media_type = media_type
        self.cross_origin = cross_origin
        self._loaded: _Loaded | None = None

    def load(self) -> _Loaded:
        stat = self.path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        if self._loaded is None or self._loaded.stamp != stamp:
            body = self.path.read_bytes()
            self._loaded = _Loaded(
                stamp=stamp,
                body=body,
                gzipped=gzip.compress(body, compresslevel=9, mtime=0),
                version=hashlib.sha256(body).hexdigest()[:16],
            )
        return self._loaded

    async def serve(self, request: Request) -> Response:
        loaded = self.load()
        etag = f'"{loaded.version}"'
        versioned = request.query_params.get("v") == loaded.version
        headers = {
            "etag": etag,
            "cache-control": LONG_CACHE if versioned else SHORT_CACHE,
            "vary": "Accept-Encoding",
        }
        if self.cross_origin:  # a public script: any site may load it, with SRI if it likes
            headers["cross-origin-resource-policy"] = "cross-origin"
            headers["access-control-allow-origin"] = "*"
        if _etag_matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
        body = loaded.body
        if _accepts_gzip(request.headers.get("accept-encoding", "")):
            body = loaded.gzipped
            headers["content-encoding"] = "gzip"
        return Response(body, media_type=self.media_type, headers=headers)


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag in tags


def _accepts_gzip(header: str) -> bool:
    for part in header.lower().split(","):
        name, _, params = part.strip().partition(";")
        if name.strip() in ("gzip", "*"):
            q = params.strip().removeprefix("q=")
            try:
                return not params or float(q) > 0
            except ValueError:
                return False
    return False


class DemoPage:
    """A sample shop with the widget on it, for whoever just ran ``causette serve``."""

    def __init__(self, template: Path) -> None:
        self.template = template

    async def serve(self, request: Request) -> Response:
        key = request.query_params.get("space", "default")
        if not KEY_RE.match(key) or await widget_options(ctx_of(request).db, key) is None:
            return HTMLResponse("<!doctype html><title>Not found</title>No such space.", 404)
        page = self.template.read_text(encoding="utf-8").replace(
            "{{space}}", html.escape(key, quote=True)
        )
        ws = {"http": "ws", "https": "wss"}.get(request.url.scheme, "ws")
        csp = "; ".join(
            (
                "default-src 'none'",
                "script-src 'self'",
                "style-src 'self'",
                "img-src 'self' data:",
                f"connect-src 'self' {ws}://{request.url.netloc}",
                "base-uri 'none'",
                "form-action 'none'",
                "frame-ancestors 'none'",
            )
        )
        return HTMLResponse(page, headers={"content-security-policy": csp})


async def space_status(request: Request) -> JSONResponse:
    """Whether an agent of the space is online, which forms the widget shows, and whether a
    campaign is live."""
    ctx = ctx_of(request)
    key = request.path_params["key"]
    refused = await refuse_foreign_site(request, key)
    if refused is not None:
        return refused
    options = await widget_options(ctx.db, key)
    if options is None:
        return error(404, "space_not_found", "No such space.")
    return JSONResponse(
        {
            "agents_online": ctx.presence.space_has_online_agent(options.space_id),
            "prechat": options.prechat,
            "identity_mode": options.identity_mode,
            # a live campaign: the widget connects for it, even for a visitor who never wrote
            "campaigns": await ctx.relay.wants_every_visitor(options.space_id),
            # whether agents' replies reach a visitor who left by email (SMTP configured)
            "email_replies": ctx.settings.email_enabled,
        },
        headers={"cache-control": "no-store"},
    )


def widget_routes(directory: Path = WIDGET_DIR) -> list[BaseRoute]:
    demo = directory / "demo"
    return [
        Route(
            "/widget.js",
            StaticFile(
                directory / "widget.js", "text/javascript; charset=utf-8", cross_origin=True
            ).serve,
            methods=["GET"],
        ),
        Route("/demo", DemoPage(demo / "index.html").serve, methods=["GET"]),
        Route("/demo/site.css", StaticFile(demo / "site.css", "text/css; charset=utf-8").serve),
        Route(
            "/demo/site.js", StaticFile(demo / "site.js", "text/javascript; charset=utf-8").serve
        ),
        Route("/api/spaces/{key}/status", space_status, methods=["GET"]),
    ]
