"""What a hostile client can send to the edge: each answer is a typed 4xx (or error frame, or
close code) with the security headers and the request id, never a 5xx or a traceback.

In process for the HTTP routes on both backends; a real server where the HTTP server itself
is part of the answer (proxy headers, slow bodies, WebSocket frames, files on disk).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import structlog
import websockets

from tests.agents.consoleclient import PASSWORD, insert_agent
from tests.clirun import causette
from tests.conftest import BACKENDS, new_database, running_server
from tests.inproc import ORIGIN, App, inprocess_app
from tests.servers import ServerProcess
from tests.wsclient import ChatClient, visitor_token

DEEP = b"[" * 1000 + b"]" * 1000
JSON = {"content-type": "application/json", "origin": ORIGIN}


@pytest.fixture(params=BACKENDS)
async def app(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[App]:
    with new_database(request.param, tmp_path) as url:
        async with inprocess_app(url) as running:
            yield running


async def signed_in(app: App, role: str = "admin") -> tuple[httpx.AsyncClient, str]:
    email = await insert_agent(app.database_url, role=role, spaces_=["default"], name="Ada")
    http = app.client("127.0.0.1")
    r = await http.post("/api/session", json={"email": email, "password": PASSWORD}, headers=JSON)
    assert r.status_code == 200, r.text
    return http, str(r.json()["csrf_token"])


def assert_client_error(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-request-id"]
    assert r.headers["cache-control"] == "no-store"


# -- 3, 4, 5: nesting, surrogates and NUL are refused at the edge ----------------------------


async def test_hostile_json_is_a_typed_400_on_every_kind_of_route(app: App) -> None:
    http, csrf = await signed_in(app)
    routes = [
        ("POST", "/api/visitors", JSON),
        ("POST", "/api/agents/login", JSON),
        ("POST", "/api/session", JSON),
        ("POST", "/api/teams", {**JSON, "x-csrf-token": csrf}),
    ]
    with structlog.testing.capture_logs() as logs:
        for method, path, headers in routes:
            r = await http.request(method, path, content=DEEP, headers=headers)
            assert_client_error(r, 400, "invalid_json")
            for text in ('"\\ud800"', '"a\\u0000b"', '"\\udfffx"'):
                for field in ("email", "password", "space", "name"):
                    body = f'{{"{field}": {text}}}'.encode()
                    r = await http.request(method, path, content=body, headers=headers)
                    assert_client_error(r, 400, "invalid_request")
                    assert "NUL" in r.json()["error"]["message"]
    assert not [e for e in logs if e.get("exc_info") or e["log_level"] == "error"]


async def test_nul_in_a_search_is_refused_not_matched(app: App) -> None:
    http, _ = await signed_in(app)
    r = await http.get("/api/conversations", params={"view": "all", "q": "\x00"})
    assert_client_error(r, 400, "invalid_request")
    r = await http.get("/api/conversations/%00")
    assert_client_error(r, 400, "invalid_request")
    r = await http.get("/api/conversations/%ED%A0%80")  # a surrogate, percent-encoded
    assert_client_error(r, 400, "invalid_request")


@pytest.mark.parametrize("backend", BACKENDS)
async def test_only_an_unreachable_database_is_reported_as_unavailable(
    backend: str, tmp_path: Path
) -> None:
    """A statement the database refuses (bad data, a bug past the edge) is no outage: it must
    never become a retryable 503 that has clients resend the same thing forever."""
    import sqlalchemy as sa

    from chat.db import Database, is_outage, migrate
    from tests.servers import free_port

    with new_database(backend, tmp_path) as url:
        await asyncio.to_thread(migrate, url)
        db = Database(url)
        try:
            # bad data on PostgreSQL; a constraint on either
            bad = "SELECT 1/0" if backend == "postgres" else "INSERT INTO spaces (id) VALUES (NULL)"
            with pytest.raises(sa.exc.DBAPIError) as refused:
                async with db.read() as conn:
                    await conn.execute(sa.text(bad))
            assert not is_outage(refused.value)
        finally:
            await db.dispose()
    if backend == "postgres":
        away = Database(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/x")
        try:
            with pytest.raises(Exception) as down:
                await away.ping()
            assert is_outage(down.value)
        finally:
            await away.dispose()


# -- 6: clients that leave or send garbage are the clients' problem -------------------------


async def test_a_client_leaving_mid_body_logs_one_line(server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(
            b"POST /api/visitors HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"sp'
        )
    from tests.services import logged

    await logged(server, "http_client_disconnected")
    assert "Traceback" not in server.logs()


async def test_invalid_utf8_in_a_text_frame_is_closed_1007_without_a_traceback(
    server: ServerProcess,
) -> None:
    token = await visitor_token(server.base_url)
    async with websockets.connect(f"{server.ws_url}/ws/visitor") as ws:
        await ws.send(json.dumps({"type": "hello", "token": token["token"]}))
        await ws.recv()
        await ws.send(b'{"type": "ping\xff"}', text=True)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1007
    from tests.services import logged

    await logged(server, "ws_invalid_utf8")
    assert "Traceback" not in server.logs()


async def test_deep_json_on_a_socket_is_an_error_frame_or_a_close(server: ServerProcess) -> None:
    token = await visitor_token(server.base_url)
    client = await ChatClient.connect(server.ws_url, "/ws/visitor", token["token"])
    await client.send(DEEP.decode())
    error = await client.expect("error")
    assert error["code"] == "invalid_json"
    await client.send({"type": "ping"})
    await client.expect("pong")
    await client.close()
    async with websockets.connect(f"{server.ws_url}/ws/visitor") as ws:  # before hello
        await ws.send(DEEP.decode())
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1008, "invalid_json")
    assert "Traceback" not in server.logs()


# -- 11: no caching of secrets; HSTS over https ------------------------------------------------


async def test_tokens_sessions_and_transcripts_are_never_cached(app: App) -> None:
    http, _ = await signed_in(app)
    answers = [
        await http.get("/api/session"),
        await http.post("/api/visitors", json={"space": "default"}, headers=JSON),
        await http.get("/api/conversations", params={"view": "all"}),
        await http.get("/api/openapi.json"),
    ]
    for r in answers:
        assert r.status_code < 300, r.text
        assert r.headers["cache-control"] == "no-store", r.url
    assert "strict-transport-security" not in answers[0].headers  # plain http: no HSTS


async def test_hsts_behind_an_https_proxy(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        r = await http.get("/console", headers={"x-forwarded-proto": "https"})
        assert r.headers["strict-transport-security"].startswith("max-age=")
        r = await http.get("/console")
        assert "strict-transport-security" not in r.headers


# -- 13: the Host header is checked ----------------------------------------------------------


async def test_a_foreign_host_is_refused_on_every_request_and_handshake(
    server: ServerProcess,
) -> None:
    evil = {"host": "rebind.evil", "origin": "http://rebind.evil"}
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        r = await http.post("/api/session", json={"email": "a@b.c", "password": "x"}, headers=evil)
        assert_client_error(r, 400, "host_not_allowed")
        r = await http.get("/console/", headers=evil)  # no redirect echoing the Host
        assert r.status_code == 400 and "location" not in r.headers
        r = await http.get("/healthz", headers=evil)
        assert r.status_code == 200  # probes address a node by IP
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        b"GET /ws/agent HTTP/1.1\r\nHost: rebind.evil\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    status = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    await writer.wait_closed()
    assert status.startswith(b"HTTP/1.1 403"), status  # refused before the upgrade


async def test_allowed_hosts_follow_the_public_url(tmp_path: Path) -> None:
    with new_database("sqlite", tmp_path) as url:
        async with inprocess_app(url, public_url="https://chat.example.com") as app:
            ok = app.client("127.0.0.1", "https://chat.example.com")
            assert (await ok.get("/api/openapi.json")).status_code == 200
            other = app.client("127.0.0.1", "http://127.0.0.1")
            assert (await other.get("/api/openapi.json")).status_code == 400
        async with inprocess_app(url, allowed_hosts=["*.example.org"]) as app:
            ok = app.client("127.0.0.1", "http://eu.example.org")
            assert (await ok.get("/api/openapi.json")).status_code == 200


# -- 14: a body that trickles in is cut off ----------------------------------------------------


async def test_a_trickled_body_gets_408(tmp_path: Path) -> None:
    env = {"CAUSETTE_HTTP_BODY_TIMEOUT_SECONDS": "0.5"}
    with running_server("sqlite", tmp_path, env) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            b"POST /api/visitors HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 50\r\n\r\n{"
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 408"), head
        writer.close()
        await writer.wait_closed()


# -- 7: every file causette writes is the owner's only -----------------------------------------


async def test_database_journal_lock_and_export_files_are_0600(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'causette.db'}"
    assert (await causette("migrate", database_url=url, cwd=tmp_path)).code == 0
    out = tmp_path / "export.csv"
    r = await causette("export", "--format", "csv", "--out", str(out), database_url=url)
    assert r.code == 0, r.output
    modes = _modes(tmp_path)
    assert set(modes) >= {"causette.db", "export.csv", "causette.db.migrate-lock"}
    assert set(modes.values()) == {0o600}, modes
    # and an older database left readable by others is tightened when opened
    os.chmod(tmp_path / "causette.db", 0o644)
    assert (await causette("migrate", database_url=url, cwd=tmp_path)).code == 0
    assert _modes(tmp_path)["causette.db"] == 0o600
    # while a server writes, SQLite's journal files have the database file's mode
    with running_server("sqlite", tmp_path / "live") as server:
        await visitor_token(server.base_url)
        modes = _modes(tmp_path / "live")
    assert {"causette.db-wal", "causette.db-shm"} <= set(modes)
    assert {m for name, m in modes.items() if name.startswith("causette.db")} == {0o600}, modes


def _modes(folder: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir() if p.is_file()}
