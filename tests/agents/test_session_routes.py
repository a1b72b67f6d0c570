"""The console's session routes, in process on both backends: the cookie, CSRF, sign-in
refusals and lockout, a forged cookie, the console page's CSP, the OpenAPI document.
(Sign-out and password changes, which close sockets, are in test_console_session.py.)"""

from __future__ import annotations

import uuid

import httpx
import pytest
from openapi_spec_validator import validate

from agents.services import OPS
from tests.agents.consoleclient import PASSWORD, console_agent, insert_agent
from tests.conftest import new_space
from tests.inproc import App

pytestmark = pytest.mark.asyncio(loop_scope="module")

FOREIGN = "https://evil.example"


@pytest.fixture(scope="module")
def server(inproc: App) -> App:
    return inproc


async def _agent(server: App, space: str) -> tuple[str, str]:
    email = await insert_agent(server.database_url, role="relation", spaces_=[space], name="A")
    return email, PASSWORD


async def test_sign_in_sets_a_strict_http_only_cookie(server: App) -> None:
    space = await new_space(server.database_url)
    agent = await console_agent(server, spaces=[space])
    try:
        r = await agent.sign_in()
        cookie = r.headers["set-cookie"]
        parts = [p.strip().lower() for p in cookie.split(";")]
        assert parts[0].startswith("causette_session=")
        assert "httponly" in parts and "samesite=strict" in parts and "path=/" in parts
        assert "secure" not in parts  # plain http: a Secure cookie would never come back
        assert any(p.startswith("max-age=") and int(p.split("=")[1]) > 0 for p in parts)
        assert r.json()["agent"]["email"] == agent.email
        assert set(r.json()) >= {"csrf_token", "ws_token", "spaces", "views"}
        me = await agent.ok("GET", "/api/session")
        assert me["agent"]["id"] == agent.id
    finally:
        await agent.close()


async def test_https_cookie_is_secure_and_host_prefixed(server: App) -> None:
    space = await new_space(server.database_url)
    email, password = await _agent(server, space)
    http = server.client("127.0.0.1", "https://127.0.0.1")  # (behind a proxy: test_nginx.py)
    r = await http.post("/api/session", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    parts = [p.strip().lower() for p in r.headers["set-cookie"].split(";")]
    assert parts[0].startswith("__host-causette_session=")
    assert "secure" in parts and "httponly" in parts and "samesite=strict" in parts


async def test_state_changes_need_the_csrf_token_and_the_console_origin(
    server: App,
) -> None:
    space = await new_space(server.database_url)
    agent = await console_agent(server, role="admin", spaces=[space])
    body = {"space": space, "name": "Night shift"}
    try:
        missing = await agent.call("POST", "/api/teams", body, headers={"x-csrf-token": ""})
        wrong = await agent.call("POST", "/api/teams", body, headers={"x-csrf-token": "0" * 64})
        foreign = await agent.call("POST", "/api/teams", body, headers={"origin": FOREIGN})
        for r in (missing, wrong, foreign):
            assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
        assert (await agent.ok("GET", "/api/teams"))["teams"] == []  # nothing was created
        ok = await agent.call("POST", "/api/teams", body)
        assert ok.status_code == 201
        # a token is bound to its session: another session's token does not pass
        other = await console_agent(server, role="admin", spaces=[space])
        stolen = await agent.call(
            "DELETE",
            f"/api/teams/{ok.json()['id']}",
            headers={"x-csrf-token": other.session["csrf_token"]},
        )
        assert stolen.status_code == 403
        await other.close()
    finally:
        await agent.close()


async def test_sign_in_refuses_other_sites_and_forms(server: App) -> None:
    space = await new_space(server.database_url)
    email, password = await _agent(server, space)
    http = server.client("127.0.0.1")
    r = await http.post(
        "/api/session",
        json={"email": email, "password": password},
        headers={"origin": FOREIGN},
    )
    assert r.status_code == 403 and "set-cookie" not in r.headers
    form = await http.post("/api/session", data={"email": email, "password": password})
    assert form.status_code == 415 and "set-cookie" not in form.headers


async def test_wrong_email_and_wrong_password_look_the_same_then_lock(
    server: App,
) -> None:
    space = await new_space(server.database_url)
    email, password = await _agent(server, space)
    ghost = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    http = server.client("127.0.0.1")

    async def attempt(who: str, pw: str) -> httpx.Response:
        return await http.post("/api/session", json={"email": who, "password": pw})

    answers = {}
    for who in (email, ghost):
        for _ in range(4):
            r = await attempt(who, "wrong password!")
            assert r.status_code == 401
        answers[who] = r.json()
        fifth = await attempt(who, "wrong password!")
        assert fifth.status_code == 423, fifth.text
        answers[f"{who}-locked"] = fifth.json()
    assert answers[email] == answers[ghost]
    assert answers[f"{email}-locked"] == answers[f"{ghost}-locked"]
    assert answers[f"{email}-locked"]["error"]["code"] == "account_locked"
    # locked means locked: the right password does not get in either
    right = await attempt(email, password)
    assert right.status_code == 423 and "set-cookie" not in right.headers


async def test_tampered_or_missing_cookie_is_not_signed_in(server: App) -> None:
    http = server.client("127.0.0.1")
    assert (await http.get("/api/session")).status_code == 401
    http.cookies.set("causette_session", "eyJhIjoiYWRtaW4ifQ.forged.signature")
    r = await http.get("/api/conversations")
    assert r.status_code == 401 and r.json()["error"]["code"] == "not_signed_in"


async def test_console_page_has_a_strict_csp(server: App) -> None:
    http = server.client("127.0.0.1")
    page = await http.get("/console")
    script = await http.get("/console/assets/app.js")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    csp = page.headers["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split("; ")}
    assert directives["script-src"] == ["'self'"]
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["require-trusted-types-for"] == ["'script'"]
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]


async def test_openapi_document_is_valid_and_lists_every_route(server: App) -> None:
    http = server.client("127.0.0.1")
    doc = (await http.get("/api/openapi.json")).json()
    validate(doc)  # raises on anything that is not well-formed OpenAPI 3.1
    assert doc["openapi"].startswith("3.1")
    listed = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert listed == {(op.method, op.path) for op in OPS}
    assert "/api/conversations/{conversation_id}/transfer" in doc["paths"]
