"""Console sign-in: the cookie, CSRF, lockout, sign-out and password changes."""

from __future__ import annotations

from tests.agents.consoleclient import PASSWORD, console_agent, insert_agent
from tests.conftest import new_space
from tests.servers import ServerProcess

FOREIGN = "https://evil.example"


async def _agent(server: ServerProcess, space: str) -> tuple[str, str]:
    email = await insert_agent(server.database_url, role="relation", spaces_=[space], name="A")
    return email, PASSWORD


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
