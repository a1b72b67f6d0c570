"""Fixtures for the widget: spaces with options, agents on the protocol, and a host site on
another origin than the chat server, with a hostile stylesheet and a strict CSP."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests import wsclient
from tests.servers import ServerProcess, free_port
from tests.wsclient import ChatClient

HOSTILE_CSS = """
* { font-family: "Comic Sans MS", cursive !important; font-size: 31px !important;
    color: rgb(255, 0, 0) !important; letter-spacing: 9px !important; line-height: 3 !important; }
div, span, button, textarea, input, p, a, svg, form, header, h2 {
    display: inline !important; background: rgb(0, 255, 0) !important; padding: 40px !important;
    border: 7px dashed rgb(255, 0, 255) !important; width: 7px !important; opacity: .1 !important; }
causette-widget, body > :last-child { display: none !important; visibility: hidden !important;
    transform: translateX(-5000px) !important; position: static !important; }
[role="dialog"], [role="log"], textarea { display: none !important; }
button { all: unset !important; }
"""

# runs before the widget: what the page had, what its CSP blocked, which keys it heard
HOST_JS = """
window.__before = Object.getOwnPropertyNames(window);
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(e.violatedDirective + " " + e.blockedURI);
});
window.__keys = [];
document.addEventListener("keydown", (e) => window.__keys.push(e.key));
// queued before the widget loads, as docs/widget.md shows
(window.Causette = window.Causette || []).push(["on", "ready", () => { window.__ready = true; }]);
"""

HOST_PAGE = """<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="/favicon.ico">
<link rel="stylesheet" href="/hostile.css">
<script src="/host.js"></script>
<script src="{chat}/widget.js" data-space="{space}" async></script>
</head>
<body>
<h1 id="host-title">A host shop</h1>
<input id="search" aria-label="Search the shop">
<button id="host-button" type="button">Host button</button>
</body>
</html>
"""


@dataclass
class HostSite:
    """One server, two origins: http://localhost:PORT and http://127.0.0.1:PORT."""

    port: int
    chat_url: str

    @property
    def origin(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def other_origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def page(self, space: str, *, lang: str = "en", path: str = "/", other: bool = False) -> str:
        base = self.other_origin if other else self.origin
        return f"{base}{path}?space={space}&lang={lang}"


def _handler(chat_url: str) -> type[BaseHTTPRequestHandler]:
    chat_ws = chat_url.replace("http://", "ws://")
    csp = (
        f"default-src 'self'; script-src 'self' {chat_url}; style-src 'self'; "
        f"connect-src {chat_url} {chat_ws}; img-src 'self'; base-uri 'none'; form-action 'self'"
    )

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/hostile.css":
                self._send(HOSTILE_CSS, "text/css")
            elif url.path == "/host.js":
                self._send(HOST_JS, "text/javascript")
            elif url.path == "/favicon.ico":
                self._send("", "image/x-icon")
            else:  # any other path is the shop page: the widget follows page changes
                query = parse_qs(url.query)
                page = HOST_PAGE.format(
                    lang=query.get("lang", ["en"])[0],
                    title=f"Shop {url.path}",
                    chat=chat_url,
                    space=query.get("space", ["default"])[0],
                )
                self._send(page, "text/html", csp=csp)

        def _send(self, body: str, media_type: str, csp: str | None = None) -> None:
            data = body.encode()
            self.send_response(200)
            self.send_header("content-type", f"{media_type}; charset=utf-8")
            self.send_header("content-length", str(len(data)))
            self.send_header("cache-control", "no-store")
            if csp:
                self.send_header("content-security-policy", csp)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture(scope="session")
def chat_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A chat server on SQLite for the widget's browser and asset tests (each test makes its
    own space, so they do not see each other)."""
    tmp = tmp_path_factory.mktemp("widget-server")
    proc = ServerProcess(database_url=f"sqlite+aiosqlite:///{tmp / 'causette.db'}", workdir=tmp)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def serve_host_site(chat_url: str) -> tuple[HostSite, ThreadingHTTPServer]:
    port = free_port()
    httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler(chat_url))
    threading.Thread(target=httpd.serve_forever, name="host-site", daemon=True).start()
    return HostSite(port, chat_url), httpd


@pytest.fixture(scope="module")
def host_site(chat_server: ServerProcess) -> Iterator[HostSite]:
    site, httpd = serve_host_site(chat_server.base_url)
    try:
        yield site
    finally:
        httpd.shutdown()
        httpd.server_close()


async def make_space(
    database_url: str,
    origins: list[str],
    *,
    identity_mode: str = "off",
    prechat: str = "none",
) -> tuple[str, str]:
    """A new space: (key, identity secret)."""
    from chat.db import Database
    from chat.spaces import create_space, identity_secret

    key = f"w-{uuid.uuid4().hex[:10]}"
    db = Database(database_url)
    try:
        await create_space(
            db, key, key.title(), origins, identity_mode=identity_mode, prechat=prechat
        )
        secret = await identity_secret(db, key)
    finally:
        await db.dispose()
    return key, secret


async def connect_agent(
    server: ServerProcess, space: str, name: str = "Camille Roux"
) -> ChatClient:
    """An agent of the space, on its socket."""
    return await wsclient.connect_agent(server, spaces=[space], name=name)


async def visitor_profile(database_url: str, visitor_id: str, space_key: str) -> dict[str, object]:
    """The visitor's profile as the console reads it (Store.visitor_profile, as an agent)."""
    from chat.db import Database
    from chat.principals import AgentPrincipal
    from chat.store import Store

    db = Database(database_url)
    try:
        space = await Store(db).space_by_key(space_key)
        assert space is not None
        reader = AgentPrincipal(
            "reader", "Reader", "r@example.com", "admin", 0, {space[0]: space_key}
        )
        profile = await Store(db).visitor_profile(reader, visitor_id)
    finally:
        await db.dispose()
    assert profile is not None
    return profile.public()


WIDGET_DIR = Path(__file__).resolve().parents[2] / "widget"
