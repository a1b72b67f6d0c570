"""Agent sign-in: a wrong password and an unknown email look the same, and so does the lockout
after too many failures, which holds however the attempts are spread."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from tests.conftest import new_agent
from tests.servers import ServerProcess
from tests.wsclient import ChatClient

MAX_FAILURES = 5  # the server's default CAUSETTE_LOGIN_MAX_FAILURES


async def login(
    http: httpx.AsyncClient, server: ServerProcess, email: str, password: str
) -> httpx.Response:
    return await http.post(
        f"{server.base_url}/api/agents/login", json={"email": email, "password": password}
    )


def answer(response: httpx.Response) -> tuple[int, object]:
    return response.status_code, response.json()


async def test_sign_in_gives_a_token_for_the_agent_socket(server: ServerProcess) -> None:
    email, password = await new_agent(server.database_url, name="Bea")
    async with httpx.AsyncClient() as http:
        response = await login(http, server, email.upper(), password)
    assert response.status_code == 200
    client = await ChatClient.connect(server.ws_url, "/ws/agent", response.json()["token"])
    assert client.welcome["agent"]["name"] == "Bea"
    await client.close()


async def test_wrong_password_and_unknown_email_get_the_same_answer(server: ServerProcess) -> None:
    email, _password = await new_agent(server.database_url)
    unknown = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    async with httpx.AsyncClient() as http:
        wrong = await login(http, server, email, "not the password")
        nobody = await login(http, server, unknown, "not the password")
    assert wrong.status_code == 401
    assert answer(wrong) == answer(nobody)
    assert wrong.json()["error"]["code"] == "bad_credentials"
    assert "token" not in wrong.text


async def test_five_failures_lock_a_known_and_an_unknown_email_alike(
    server: ServerProcess,
) -> None:
    email, password = await new_agent(server.database_url)
    unknown = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    seen: dict[str, list[tuple[int, object]]] = {}
    async with httpx.AsyncClient() as http:
        for who in (email, unknown):
            seen[who] = [
                answer(await login(http, server, who, f"guess {i}")) for i in range(MAX_FAILURES)
            ]
            seen[who].append(answer(await login(http, server, who, "another guess")))
        # locked: even the right password is refused now
        right = await login(http, server, email, password)
    assert [status for status, _ in seen[email]] == [401] * (MAX_FAILURES - 1) + [423, 423]
    assert seen[email] == seen[unknown]
    assert seen[email][-1][1]["error"]["code"] == "account_locked"  # type: ignore[index]
    assert answer(right) == seen[email][-1]


async def test_a_success_before_the_limit_resets_the_count(server: ServerProcess) -> None:
    email, password = await new_agent(server.database_url)
    async with httpx.AsyncClient() as http:
        for _ in range(MAX_FAILURES - 1):
            assert (await login(http, server, email, "wrong")).status_code == 401
        assert (await login(http, server, email, password)).status_code == 200
        # without the reset this would be failure number MAX_FAILURES, and locked
        assert (await login(http, server, email, "wrong")).status_code == 401


async def test_parallel_failures_still_lock(server: ServerProcess) -> None:
    """Guesses sent all at once count one by one: no attempt slips past the limit."""
    email, password = await new_agent(server.database_url)
    async with httpx.AsyncClient(timeout=60) as http:
        responses = await asyncio.gather(
            *(login(http, server, email, f"guess {i}") for i in range(MAX_FAILURES + 2))
        )
        statuses = sorted(r.status_code for r in responses)
        right = await login(http, server, email, password)
    assert set(statuses) <= {401, 423}, statuses
    assert statuses.count(401) <= MAX_FAILURES - 1, statuses
    assert right.status_code == 423


async def test_malformed_sign_in_is_400(server: ServerProcess) -> None:
    async with httpx.AsyncClient() as http:
        url = f"{server.base_url}/api/agents/login"
        for payload in ({}, {"email": "a@example.com"}, {"email": 1, "password": "x"}):
            response = await http.post(url, json=payload)
            assert response.status_code == 400, payload
        response = await http.post(
            url, content=b"email=a&password=b", headers={"content-type": "text/plain"}
        )
        assert response.status_code == 415
