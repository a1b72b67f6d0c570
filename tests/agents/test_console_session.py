"""Console sign-in: the cookie, CSRF, lockout, sign-out and password changes."""

from __future__ import annotations

import uuid

import httpx
from openapi_spec_validator import validate

from agents.services import OPS
from tests.agents.consoleclient import PASSWORD, console_agent, insert_agent
from tests.conftest import new_space
from tests.servers import ServerProcess

FOREIGN = "https://evil.example"


async def _agent(server: ServerProcess, space: str) -> tuple[str, str]:
    email = await insert_agent(server.database_url, role="relation", spaces_=[space], name="A")
    return email, PASSWORD


async def test_sign_in_sets_a_strict_http_only_cookie(server: ServerProcess) -> None:
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


async def test_https_cookie_is_secure_and_host_prefixed(server: ServerProcess) -> None:
    space = await new_space(server.database_url)
    email, password = await _agent(server, space)
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        # the server trusts X-Forwarded-Proto from its loopback proxy
        r = await http.post(
            "/api/session",
            json={"email": email, "password": password},
            headers={"x-forwarded-proto": "https"},
        )
    assert r.status_code == 200, r.text
    parts = [p.strip().lower() for p in r.headers["set-cookie"].split(";")]
    assert parts[0].startswith("__host-causette_session=")
    assert "secure" in parts and "httponly" in parts and "samesite=strict" in parts


async def test_state_changes_need_the_csrf_token_and_the_console_origin(
    server: ServerProcess,
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


async def test_sign_in_refuses_other_sites_and_forms(server: ServerProcess) -> None:
    space = await new_space(server.database_url)
    email, password = await _agent(server, space)
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        r = await http.post(
            "/api/session",
            json={"email": email, "password": password},
            headers={"origin": FOREIGN},
        )
        assert r.status_code == 403 and "set-cookie" not in r.headers
        form = await http.post("/api/session", data={"email": email, "password": password})
        assert form.status_code == 415 and "set-cookie" not in form.headers


async def test_wrong_email_and_wrong_password_look_the_same_then_lock(
    server: ServerProcess,
) -> None:
    space = await new_space(server.database_url)
    email, password = await _agent(server, space)
    ghost = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    async with httpx.AsyncClient(base_url=server.base_url) as http:

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


async def test_sign_out_closes_every_socket_and_ends_every_session(
    server: ServerProcess,
) -> None:
    space = await new_space(server.database_url)
    agent = await console_agent(server, spaces=[space])
    other_tab = await console_agent(server, spaces=[space])  # another agent: unaffected
    try:
        first, second = await agent.socket(), await agent.socket()
        bystander = await other_tab.socket()
        old_token = agent.session["ws_token"]
        r = await agent.call("DELETE", "/api/session")
        assert r.status_code == 204
        assert "max-age=0" in r.headers["set-cookie"].lower()
        for sock in (first, second):
            code, _ = await sock.wait_closed()
            assert code == 4001
        # the old ws token is dead too
        again = await _hello_close_code(server, old_token)
        assert again == 1008
        # and so is the cookie, even if a copy of it were replayed
        replay = await agent.http.get("/api/session")
        assert replay.status_code == 401
        await bystander.send({"type": "ping"})
        await bystander.expect("pong")
        # signing in again works
        assert (await agent.sign_in()).status_code == 200
    finally:
        await agent.close()
        await other_tab.close()


async def _hello_close_code(server: ServerProcess, token: str) -> int | None:
    import websockets

    async with websockets.connect(f"{server.ws_url}/ws/agent") as ws:
        await ws.send(f'{{"type":"hello","token":"{token}"}}')
        try:
            await ws.recv()
        except websockets.ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else None
    return None


async def test_sign_out_needs_csrf(server: ServerProcess) -> None:
    space = await new_space(server.database_url)
    agent = await console_agent(server, spaces=[space])
    try:
        sock = await agent.socket()
        r = await agent.call("DELETE", "/api/session", csrf=False)
        assert r.status_code == 403
        await sock.send({"type": "ping"})
        await sock.expect("pong")  # still connected
    finally:
        await agent.close()


async def test_password_change_keeps_this_browser_and_ends_the_rest(
    server: ServerProcess,
) -> None:
    space = await new_space(server.database_url)
    agent = await console_agent(server, spaces=[space])
    elsewhere = await console_agent(server, spaces=[space])
    elsewhere.email, elsewhere.password = agent.email, agent.password
    await elsewhere.sign_in()  # the same agent in another browser
    try:
        sock = await elsewhere.socket()
        wrong = await agent.call(
            "POST",
            "/api/session/password",
            {"current_password": "not it at all", "new_password": "a new long password"},
        )
        assert wrong.status_code == 403
        r = await agent.call(
            "POST",
            "/api/session/password",
            {"current_password": agent.password, "new_password": "a new long password"},
        )
        assert r.status_code == 200, r.text
        agent.session = r.json()
        code, _ = await sock.wait_closed()
        assert code == 4001
        assert (await elsewhere.http.get("/api/session")).status_code == 401
        assert (await agent.http.get("/api/session")).status_code == 200
        fresh = await agent.socket()  # the new ws token works
        await fresh.send({"type": "ping"})
        await fresh.expect("pong")
        agent.password = "a new long password"
        assert (await agent.sign_in()).status_code == 200
    finally:
        await agent.close()
        await elsewhere.close()


async def test_admin_password_reset_signs_the_agent_out(server: ServerProcess) -> None:
    space = await new_space(server.database_url)
    admin = await console_agent(server, role="admin", spaces=[space])
    target = await console_agent(server, spaces=[space])
    try:
        sock = await target.socket()
        r = await admin.call(
            "POST", f"/api/agents/{target.id}/password", {"password": "reset by the admin"}
        )
        assert r.status_code == 204, r.text
        code, _ = await sock.wait_closed()
        assert code == 4001
        assert (await target.http.get("/api/session")).status_code == 401
        target.password = "reset by the admin"
        assert (await target.sign_in()).status_code == 200
    finally:
        await admin.close()
        await target.close()


async def test_tampered_or_missing_cookie_is_not_signed_in(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        assert (await http.get("/api/session")).status_code == 401
        http.cookies.set("causette_session", "eyJhIjoiYWRtaW4ifQ.forged.signature")
        r = await http.get("/api/conversations")
        assert r.status_code == 401 and r.json()["error"]["code"] == "not_signed_in"


async def test_console_page_has_a_strict_csp(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
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


async def test_openapi_document_is_valid_and_lists_every_route(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        doc = (await http.get("/api/openapi.json")).json()
    validate(doc)  # raises on anything that is not well-formed OpenAPI 3.1
    assert doc["openapi"].startswith("3.1")
    listed = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert listed == {(op.method, op.path) for op in OPS}
    assert "/api/conversations/{conversation_id}/transfer" in doc["paths"]
