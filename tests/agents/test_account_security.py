"""Accounts under attack, in process on both backends: a shared agent is not a way into
another space, passwords are not guessable, a lockout cannot be used to keep an admin out,
an address cannot be probed for, and an agent removed from its last space is out.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from agents.services import OPS
from tests.agents.consoleclient import PASSWORD, insert_agent
from tests.conftest import BACKENDS, new_database, new_space
from tests.inproc import ORIGIN, App, inprocess_app
from tests.rows import fetch


@dataclass
class Agent:
    http: httpx.AsyncClient
    email: str
    session: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.session["agent"]["id"])

    async def call(self, method: str, path: str, json: Any = None) -> httpx.Response:
        headers = {"origin": ORIGIN, "x-csrf-token": self.session.get("csrf_token", "")}
        return await self.http.request(method, path, json=json, headers=headers)


async def sign_in(app: App, email: str, password: str = PASSWORD, address: str = "127.0.0.1"):
    http = app.client(address)
    r = await http.post(
        "/api/session", json={"email": email, "password": password}, headers={"origin": ORIGIN}
    )
    return http, r


async def agent(app: App, role: str, spaces: list[str], name: str = "Agent") -> Agent:
    email = await insert_agent(app.database_url, role=role, spaces_=spaces, name=name)
    http, r = await sign_in(app, email)
    assert r.status_code == 200, r.text
    return Agent(http, email, r.json())


@pytest.fixture(params=BACKENDS)
async def app(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[App]:
    with new_database(request.param, tmp_path) as url:
        async with inprocess_app(url) as running:
            yield running


# -- 1. a shared agent is no way into another space -----------------------------------------

AGENT_ROUTES = {  # every route on one agent, and a body that changes its account
    ("PATCH", "/api/agents/{agent_id}"): [{"role": "admin"}, {"name": "Mallory"}, {"max_chats": 9}],
    ("POST", "/api/agents/{agent_id}/password"): [{"password": "taken over by mallory 1"}],
}


async def test_an_admin_of_one_space_cannot_take_over_an_agent_shared_with_another(
    app: App,
) -> None:
    # a route on one agent that this test does not walk fails it: it must be judged here
    assert {(op.method, op.path) for op in OPS if "{agent_id}" in op.path} == set(AGENT_ROUTES)
    retail = await new_space(app.database_url)
    default_admin = await agent(app, "admin", ["default"], "Default admin")
    retail_admin = await agent(app, "admin", [retail], "Retail admin")
    both_admin = await agent(app, "admin", ["default", retail], "Admin of both")
    shared = await agent(app, "relation", ["default", retail], "Shared")

    for (method, path), bodies in AGENT_ROUTES.items():
        for body in bodies:
            url = path.format(agent_id=shared.id)
            r = await default_admin.call(method, url, body)
            assert r.status_code == 403, (method, body, r.text)
            assert r.json()["error"]["code"] == "not_allowed"
            # retail's own admin is not even visible to default's
            r = await default_admin.call(method, path.format(agent_id=retail_admin.id), body)
            assert r.status_code == 404, (method, body, r.text)

    rows = await fetch(
        app.database_url, "SELECT role, name, max_chats FROM agents WHERE id = :i", i=shared.id
    )
    assert (rows[0].role, rows[0].name, rows[0].max_chats) == ("relation", "Shared", 5)
    # the password did not change: the old one still signs in, the attacker's does not
    _, r = await sign_in(app, shared.email, address="10.0.0.9")
    assert r.status_code == 200
    _, r = await sign_in(app, shared.email, "taken over by mallory 1", address="10.0.0.9")
    assert r.status_code == 401

    # memberships of default are default's admin's to change; retail's stay untouched
    r = await default_admin.call("PATCH", f"/api/agents/{shared.id}", {"spaces": []})
    assert r.status_code == 200, r.text
    left = await fetch(
        app.database_url,
        "SELECT s.key FROM agent_spaces m JOIN spaces s ON s.id = m.space_id WHERE m.agent_id = :i",
        i=shared.id,
    )
    assert [r.key for r in left] == [retail]

    # an admin of every space the agent works in changes its account
    r = await both_admin.call("PATCH", f"/api/agents/{shared.id}", {"role": "marketing"})
    assert r.status_code == 200 and r.json()["role"] == "marketing", r.text
    r = await retail_admin.call("PATCH", f"/api/agents/{shared.id}", {"name": "Renamed"})
    assert r.status_code == 200 and r.json()["name"] == "Renamed", r.text


# -- 8. passwords -----------------------------------------------------------------------------

WEAK = ["password", "12345678", "        ", "password1234", "qwertyuiopas", "aaaaaaaaaaaa"]


async def test_guessable_passwords_are_refused_everywhere(app: App) -> None:
    admin = await agent(app, "admin", ["default"], "Ada Lovelace")
    member = await agent(app, "relation", ["default"], "Bob")
    new = "new.agent.2026@example.com"
    for password in WEAK:
        body = {
            "email": new,
            "name": "New",
            "role": "relation",
            "password": password,
            "spaces": ["default"],
        }
        r = await admin.call("POST", "/api/agents", body)
        assert r.status_code == 400, (password, r.text)
        r = await admin.call("POST", f"/api/agents/{member.id}/password", {"password": password})
        assert r.status_code == 400, (password, r.text)
        r = await admin.call(
            "POST",
            "/api/session/password",
            {"current_password": PASSWORD, "new_password": password + "x" * (10 - len(password))},
        )
        assert r.status_code == 400, (password, r.text)
    # one's own email or name is no password
    body = {"email": new, "name": "New", "role": "relation", "password": new, "spaces": ["default"]}
    assert (await admin.call("POST", "/api/agents", body)).status_code == 400
    r = await admin.call("POST", f"/api/agents/{member.id}/password", {"password": member.email})
    assert r.status_code == 400
    r = await admin.call(
        "POST",
        "/api/session/password",
        {"current_password": PASSWORD, "new_password": admin.email},
    )
    assert r.status_code == 400, r.text
    # the current password is no new password, whoever sets it
    r = await admin.call("POST", f"/api/agents/{member.id}/password", {"password": PASSWORD})
    assert r.status_code == 400 and "current" in r.json()["error"]["message"]
    r = await admin.call(
        "POST", "/api/session/password", {"current_password": PASSWORD, "new_password": PASSWORD}
    )
    assert r.status_code == 400 and "current" in r.json()["error"]["message"]
    # a passphrase is fine
    r = await admin.call(
        "POST", f"/api/agents/{member.id}/password", {"password": "violet staple dinosaur"}
    )
    assert r.status_code == 204, r.text


# -- 9. the lockout locks a pair, not an account ----------------------------------------------


async def test_a_stranger_cannot_lock_an_admin_out(app: App) -> None:
    email = await insert_agent(app.database_url, role="admin", spaces_=["default"], name="Ada")
    for _ in range(5):
        _, r = await sign_in(app, email, "not the password", address="203.0.113.7")
        assert r.status_code in (401, 423)
    _, r = await sign_in(app, email, "not the password", address="203.0.113.7")
    assert r.status_code == 423
    _, r = await sign_in(app, email, PASSWORD, address="203.0.113.7")
    assert r.status_code == 423  # locked for the guesser, even with the right password
    _, r = await sign_in(app, email, PASSWORD, address="198.51.100.20")
    assert r.status_code == 200, r.text  # the admin, from its own address, signs in
    # the token route shares the same lockout
    http = app.client("203.0.113.7")
    r = await http.post("/api/agents/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 423
    rows = await fetch(app.database_url, "SELECT key FROM login_throttle")
    assert rows and all("203.0.113.7" not in r.key and email not in r.key for r in rows)


async def test_sign_ins_are_limited_per_address(tmp_path: Path) -> None:
    with new_database("sqlite", tmp_path) as url:
        async with inprocess_app(url, rate_limits="on") as app:
            email = await insert_agent(url, role="admin", spaces_=["default"], name="Ada")
            codes = []
            for i in range(12):  # spraying: a new email each time, never a lockout
                _, r = await sign_in(app, f"guess-{i}@example.com", "x", address="203.0.113.8")
                codes.append(r.status_code)
            assert codes[:10] == [401] * 10
            assert codes[10:] == [429, 429]
            assert int(r.headers["retry-after"]) >= 1
            assert r.json()["error"]["code"] == "rate_limited"
            _, r = await sign_in(app, email, address="198.51.100.21")
            assert r.status_code == 200  # another address is not held up


# -- 16. probing for addresses ----------------------------------------------------------------


async def test_creating_an_agent_does_not_tell_which_space_has_the_email(app: App) -> None:
    retail = await new_space(app.database_url)
    admin = await agent(app, "admin", ["default"])
    mine = await insert_agent(app.database_url, role="relation", spaces_=["default"], name="A")
    theirs = await insert_agent(app.database_url, role="relation", spaces_=[retail], name="B")
    answers = []
    for email in (mine, theirs):
        body = {
            "email": email,
            "name": "N",
            "role": "relation",
            "password": "violet staple dinosaur",
            "spaces": ["default"],
        }
        r = await admin.call("POST", "/api/agents", body)
        answers.append((r.status_code, r.json()))
    assert answers[0] == answers[1]
    assert answers[0][0] == 409 and answers[0][1]["error"]["code"] == "email_taken"


async def test_probing_for_addresses_soon_stops(tmp_path: Path) -> None:
    with new_database("sqlite", tmp_path) as url:
        async with inprocess_app(url, rate_limits="on", limit_agent_email_taken="3/hour") as app:
            retail = await new_space(url)
            admin = await agent(app, "admin", ["default"])
            taken = await insert_agent(url, role="relation", spaces_=[retail], name="B")
            body = {
                "email": taken,
                "name": "N",
                "role": "relation",
                "password": "violet staple dinosaur",
                "spaces": ["default"],
            }
            codes = [(await admin.call("POST", "/api/agents", body)).status_code for _ in range(5)]
            assert codes == [409, 409, 409, 429, 429]
            body["email"] = "free@example.com"  # creating agents still works
            assert (await admin.call("POST", "/api/agents", body)).status_code == 201


# -- 17. out of every space, out of causette --------------------------------------------------


async def test_an_agent_removed_from_its_last_space_is_signed_out_and_stays_out(app: App) -> None:
    admin = await agent(app, "admin", ["default"])
    leaver = await agent(app, "relation", ["default"])
    r = await admin.call("PATCH", f"/api/agents/{leaver.id}", {"spaces": []})
    assert r.status_code == 200, r.text
    r = await leaver.call("GET", "/api/session")
    assert r.status_code == 401
    _, r = await sign_in(app, leaver.email)
    assert r.status_code == 401 and r.json()["error"]["code"] == "bad_credentials"
    r = await app.http.post("/api/agents/login", json={"email": leaver.email, "password": PASSWORD})
    assert r.status_code == 401
