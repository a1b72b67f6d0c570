"""Malformed input on every HTTP route and every frame type: always a typed 4xx, an error
frame or a close code; never a 5xx, never a traceback in the logs.

HTTP runs in process (tests/inproc.py) against every route the app serves, signed in as an
admin with a valid CSRF token so that bad input reaches the handlers, and signed out. The
frames run against a real server: each frame type with each bad value in each field.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
import websockets
from starlette.routing import Route, WebSocketRoute

from agents.accounts import create_agent
from agents.services import OPS
from causette.app import create_app
from chat.db import Database
from chat.settings import Settings
from tests.conftest import new_agent, new_database
from tests.inproc import ORIGIN, inprocess_app
from tests.servers import SECRET, ServerProcess
from tests.wsclient import ChatClient, agent_token, visitor_token

pytestmark = pytest.mark.usefixtures("closing_clients")

PASSWORD = "fuzzing is fun 2026"

# -- the corpus -------------------------------------------------------------------------------

DEEP = "[" * 1000 + "]" * 1000
DEEP_OBJECT = '{"a":' * 600 + "1" + "}" * 600

# values that every string, number or id field of a body gets in turn
BAD_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    2**63,
    10**30,
    1.5,
    float("1e308"),
    "",
    " ",
    "\u0000",
    "a\u0000b",
    "\ud800",
    "x\udfff",
    "\u202e",
    "x" * 5000,
    "%00",
    "../../etc/passwd",
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    [],
    ["a"],
    [None],
    {},
    {"a": {"b": {"c": {}}}},
    json.loads("[" * 40 + "1" + "]" * 40),  # deeper than any body may be
]

# whole bodies, sent verbatim with a JSON content type
RAW_BODIES: list[bytes] = [
    b"",
    b"{",
    b"}",
    b"null",
    b"[]",
    b'"text"',
    b"12",
    b"\xff\xfe\x00",
    b"\xef\xbb\xbf{}",  # a byte order mark
    b'{"a": "\\ud800"}',
    b'{"\\u0000": 1}',
    b'{"a": NaN}',
    b'{"a": Infinity}',
    b'{"a": 1e99999}',
    b'{"a": ' + b"9" * 5000 + b"}",
    b'{"a": 1, "a": 2}',
    DEEP.encode(),
    DEEP_OBJECT.encode(),
    b'{"a": ' + b"[" * 40 + b"]" * 40 + b"}",
    b"\x00",
    b"{'single': 'quotes'}",
]

# path parameters
BAD_IDS = ["x", "%00", "%ED%A0%80", "%FF", "..", "a" * 300, str(uuid.uuid4()), "%E2%80%AE"]

# query strings, on every GET
BAD_QUERIES = [
    "view=everything",
    "status=maybe",
    "limit=-1",
    "limit=0",
    "limit=abc",
    "limit=99999999999999999999",
    "q=%00",
    "q=%ED%A0%80",
    "q=%25",
    "q=" + "x" * 3000,
    "space=%00",
    "space=nope",
    "tag=%FF",
    "visitor=%00",
    "since=yesterday",
    "view=all&view=mine",
]

# headers that are wrong in themselves
BAD_HEADERS: list[dict[str, str]] = [
    {"content-type": "text/plain"},
    {"content-type": "application/json; charset=latin-1"},
    {"content-type": "multipart/form-data; boundary=x"},
    {"x-csrf-token": "wrong"},
    {"origin": "https://evil.example"},
    {"origin": "null"},
    {"cookie": "causette_session=forged.value.here"},
    {"cookie": "causette_session=" + "a" * 4000},
    {"content-length": "not-a-number"},
]


def _fields(method: str, path: str) -> list[str]:
    """The body fields of a route (its model's, for the console's; the core's by hand), and
    one it does not know."""
    core = {"/api/visitors": ["space"], "/api/agents/login": ["email", "password"]}
    for op in OPS:
        if (op.method, op.path) == (method, path):
            return [*(op.body.model_fields if op.body else []), "unknown"]
    return [*core.get(path, []), "unknown"]


def _http_cases(routes: list[tuple[str, str]]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(method, url, httpx request kwargs) for every route and bad input."""
    for method, path in routes:
        params = re.findall(r"{(\w+)(?::\w+)?}", path)
        ids = BAD_IDS if params else [""]
        for bad_id in ids:
            url = re.sub(r"{\w+(?::\w+)?}", bad_id, path)
            if method == "GET":
                for query in BAD_QUERIES if bad_id == ids[0] else BAD_QUERIES[:2]:
                    yield method, f"{url}?{query}", {}
                continue
            for body in RAW_BODIES if bad_id == ids[0] else RAW_BODIES[:3]:
                yield method, url, {"content": body}
            if bad_id != ids[0]:
                continue
            for name in _fields(method, path):
                for value in BAD_VALUES:
                    yield method, url, {"content": json.dumps({name: value}).encode()}
            for headers in BAD_HEADERS:
                yield method, url, {"content": b"{}", "headers": headers}


def _app_routes() -> list[tuple[str, str]]:
    app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:", secret_key=SECRET))
    out = []
    for route in app.routes:
        if isinstance(route, WebSocketRoute) or not isinstance(route, Route):
            continue
        for method in sorted(route.methods or {"GET"}):
            if method != "HEAD":
                out.append((method, route.path))
    return out


async def _admin(database_url: str) -> str:
    """An admin of the default space: its email."""
    db = Database(database_url)
    try:
        email = f"fuzz-{uuid.uuid4().hex[:8]}@example.com"
        await create_agent(
            db, email=email, name="Fuzz", role="admin", password=PASSWORD, space_keys=["default"]
        )
    finally:
        await db.dispose()
    return email


async def _sign_in(client: httpx.AsyncClient, email: str) -> str:
    """Sign the client in: its CSRF token."""
    r = await client.post(
        "/api/session", json={"email": email, "password": PASSWORD}, headers={"origin": ORIGIN}
    )
    assert r.status_code == 200, r.text
    return str(r.json()["csrf_token"])


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_every_route_answers_bad_input_with_a_4xx_and_no_traceback(
    backend: str, tmp_path: Path
) -> None:
    routes = _app_routes()
    cases = list(_http_cases(routes))
    assert len({(m, p) for m, p in routes}) >= 30  # every route of the app is in the corpus
    assert len(cases) >= 1000
    problems: list[str] = []
    statuses: dict[int, int] = {}
    with new_database(backend, tmp_path) as url:
        # wrong current passwords are part of the corpus: no lockout in this test
        async with inprocess_app(url, login_max_failures=10**6) as app:
            client = app.http
            email = await _admin(url)
            csrf = await _sign_in(client, email)
            public = ("/api/visitors", "/api/agents/login", "/api/session", "/api/spaces/")
            signed_out = [c for i, c in enumerate(cases) if i % 7 == 0 or c[1].startswith(public)]
            with structlog.testing.capture_logs() as logs:
                for signed_in, batch in ((True, cases), (False, signed_out)):
                    if not signed_in:
                        client.cookies.clear()
                    for method, target, case in batch:
                        if signed_in and (method, target) == ("DELETE", "/api/session"):
                            continue  # signing out is tried signed out
                        headers = {"content-type": "application/json", "origin": ORIGIN}
                        if signed_in:
                            headers["x-csrf-token"] = csrf
                        headers.update(case.get("headers", {}))
                        kwargs = {k: v for k, v in case.items() if k != "headers"}
                        r = await client.request(method, target, headers=headers, **kwargs)
                        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                        if signed_in and r.status_code == 401:  # it signed out: sign in again
                            csrf = await _sign_in(client, email)
                        if r.status_code >= 500:
                            problems.append(f"{method} {target} {kwargs}: {r.status_code} {r.text}")
                        elif r.status_code >= 400:
                            assert r.headers["x-content-type-options"] == "nosniff"
                            assert r.headers.get("x-request-id")
    assert not problems, "\n".join(problems[:20])
    assert statuses.get(400, 0) > len(cases) // 2  # most bad input reached a handler's checks
    failures = [e for e in logs if e.get("exc_info") or e.get("log_level") in ("error", "critical")]
    assert not failures, failures[:5]


# -- frames -----------------------------------------------------------------------------------

CID = "0b6f3c2e-6a57-4c38-9a6e-2f1d9b7e4a11"

FRAME_TYPES: dict[str, dict[str, Any]] = {
    # a valid-looking frame of each type, whose fields get the bad values in turn
    "message": {"client_id": CID, "body": "hi", "conversation_id": None},
    "typing": {"conversation_id": None},
    "resolve": {"conversation_id": "x"},
    "history": {"conversation_id": "x", "before_seq": 1, "limit": 5},
    "ping": {},
    "presence": {"status": "online"},
    "read": {"conversation_id": "x", "seq": 1},
    "context": {"url": "https://shop.example/", "referrer": "", "locale": "en", "title": "t"},
    "identify": {"id": "u1", "name": "n", "email": "a@b.c", "signature": "0" * 64},
    "contact": {"name": "n", "email": "a@b.c"},
    "attributes": {"attributes": {"plan": "pro"}},
    "track": {"event": "viewed", "props": {"sku": "1"}},
    "hello": {"token": "x", "resume": {}},
}

RAW_FRAMES = [
    "",
    "{",
    "null",
    "[]",
    "1",
    '"hello"',
    DEEP,
    DEEP_OBJECT,
    '{"type": "message", "client_id": "' + CID + '", "body": "\\ud800"}',
    '{"type": "\\u0000"}',
    '{"type": "message", "body": 1e99999}',
    '{"type": "message", "client_id": "' + CID + '", "body": "' + "x" * 60000 + '"}',
    '{"type": ' + "9" * 5000 + "}",
]


def _frames() -> Iterator[str]:
    yield from RAW_FRAMES
    for kind, fields in FRAME_TYPES.items():
        yield json.dumps({"type": kind})
        for name in [*fields, "type", "extra"]:
            for value in BAD_VALUES:
                yield json.dumps({"type": kind, **fields, name: value})


async def test_every_frame_type_answers_bad_input_with_an_error_frame(
    server: ServerProcess,
) -> None:
    frames = list(_frames())
    assert len(frames) >= 200
    email, password = await new_agent(server.database_url, role="admin")
    visitor = await visitor_token(server.base_url)
    agent = await agent_token(server.base_url, email, password)
    before = len(server.logs().splitlines())
    for path, token in (("/ws/visitor", visitor["token"]), ("/ws/agent", agent)):
        client = await ChatClient.connect(server.ws_url, path, token)
        for text in frames:
            await client.send(text)
        await client.send({"type": "ping"})
        await client.expect("pong", timeout=30)
        codes = {f["code"] for f in client.frames if f.get("type") == "error"}
        assert "internal_error" not in codes, path
        await client.close()
    # every hello-less socket closes with a policy code, never drops the connection
    for text in RAW_FRAMES:
        async with websockets.connect(f"{server.ws_url}/ws/visitor") as ws:
            await ws.send(text)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None, text[:40]
        assert closed.value.rcvd.code in (1008, 1009), text[:40]
    lines = server.logs().splitlines()[before:]
    bad = [i for i, ln in enumerate(lines) if "Traceback" in ln or '"level": "error"' in ln]
    assert not bad, "\n".join(lines[bad[0] : bad[0] + 40])
