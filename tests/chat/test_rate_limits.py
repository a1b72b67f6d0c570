"""The default limits stop a script and let people through, on one node and across nodes.

Clients are told apart by address: the servers trust ``X-Forwarded-For`` from loopback, as
they do from the proxy in front of them, so each test speaks for as many addresses as it
needs. These servers keep the default limits (the rest of the suite turns them off).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import new_agent, new_database, running_server
from tests.rows import fetch
from tests.servers import REDIS_URL, ServerProcess
from tests.wsclient import ChatClient, agent_token

pytestmark = pytest.mark.usefixtures("closing_clients")

ON = {"CAUSETTE_RATE_LIMITS": "on"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One node on SQLite with every default limit: limits keep no state in the database."""
    with running_server("sqlite", tmp_path_factory.mktemp("limits"), ON) as s:
        yield s


def address() -> str:
    return f"198.51.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"


async def burst(urls: list[str], n: int, ip: str) -> tuple[list[int], list[httpx.Response]]:
    """``n`` visitor tokens asked for as fast as 20 connections allow, from one address,
    spread over the servers: (statuses in order, the refused answers)."""
    statuses: list[int] = []
    refused: list[httpx.Response] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def worker() -> None:
        async with httpx.AsyncClient() as http:
            while not queue.empty():
                i = queue.get_nowait()
                r = await http.post(
                    f"{urls[i % len(urls)]}/api/visitors",
                    json={"space": "default"},
                    headers={"x-forwarded-for": ip},
                )
                statuses.append(r.status_code)
                if r.status_code == 429:
                    refused.append(r)

    await asyncio.gather(*(worker() for _ in range(20)))
    return statuses, refused


async def visitor(server: ServerProcess, ip: str) -> ChatClient:
    async with httpx.AsyncClient() as http:
        r = await http.post(
            f"{server.base_url}/api/visitors",
            json={"space": "default"},
            headers={"x-forwarded-for": ip},
        )
        assert r.status_code == 201, r.text
    return await ChatClient.connect(
        server.ws_url, "/ws/visitor", r.json()["token"], additional_headers={"x-forwarded-for": ip}
    )


async def test_a_burst_of_visitor_tokens_is_mostly_refused_and_people_get_through(
    server: ServerProcess,
) -> None:
    started = time.monotonic()
    statuses, refused = await burst([server.base_url], 2000, address())
    elapsed = time.monotonic() - started
    granted = statuses.count(201)
    # the default: a burst of 120, then 60 a minute
    assert 120 <= granted <= 120 + 60 * elapsed / 60 + 1, (granted, elapsed)
    assert statuses.count(429) == 2000 - granted
    for r in refused[:50]:
        assert int(r.headers["retry-after"]) >= 1
        assert r.json()["error"]["code"] == "rate_limited"
    # someone else, meanwhile, opens the widget and chats as usual
    person = await visitor(server, address())
    ack = await person.say("Bonjour, je cherche une taille 38")
    assert ack["seq"] == 1


async def test_a_flood_of_messages_on_one_socket_is_refused_and_nothing_is_lost(
    server: ServerProcess,
) -> None:
    client = await visitor(server, address())
    first = await client.say("hello")
    ids = [str(uuid.uuid4()) for _ in range(100)]
    for client_id in ids:
        await client.send({"type": "message", "client_id": client_id, "body": "spam"})
    answers: dict[str, dict[str, object]] = {}
    while len(answers) < len(ids):
        frame = await client.next()
        ref = frame.get("client_id") or frame.get("ref")
        if frame.get("type") in ("ack", "error") and ref in ids:
            answers[str(ref)] = frame
    acked = [i for i in ids if answers[i]["type"] == "ack"]
    refused = [answers[i] for i in ids if answers[i]["type"] == "error"]
    assert 19 <= len(acked) <= 30, len(acked)  # a burst of 20 (one went first), then 5 a second
    assert {(f["code"], f.get("retryable")) for f in refused} == {("rate_limited", True)}
    rows = await fetch(
        server.database_url,
        "SELECT client_id FROM messages WHERE conversation_id = :c",
        c=first["conversation_id"],
    )
    assert {r.client_id for r in rows} == {first["client_id"], *acked}


async def test_new_conversations_are_limited_per_address(server: ServerProcess) -> None:
    shared = address()  # an office, a shop, a mobile carrier's gateway
    tokens = []
    async with httpx.AsyncClient() as http:
        for _ in range(80):
            r = await http.post(
                f"{server.base_url}/api/visitors",
                json={"space": "default"},
                headers={"x-forwarded-for": shared},
            )
            tokens.append(r.json()["token"])
    opened = refused = 0
    started = time.monotonic()
    for token in tokens:
        client = await ChatClient.connect(
            server.ws_url, "/ws/visitor", token, additional_headers={"x-forwarded-for": shared}
        )
        client_id = str(uuid.uuid4())
        await client.send({"type": "message", "client_id": client_id, "body": "hi"})
        while True:
            frame = await client.next()
            if frame.get("client_id") == client_id or frame.get("ref") == client_id:
                break
        if frame["type"] == "ack":
            opened += 1
        else:
            assert frame["code"] == "rate_limited" and frame["retryable"] is True
            refused += 1
        await client.close()
    elapsed = time.monotonic() - started
    # the default: a burst of 60, then 30 a minute
    assert 60 <= opened <= 60 + 30 * elapsed / 60 + 1, (opened, elapsed)
    assert refused == 80 - opened
    person = await visitor(server, address())  # another address is not held up
    assert (await person.say("hi"))["seq"] == 1


async def test_new_conversations_are_limited_per_visitor(tmp_path: Path) -> None:
    env = {**ON, "CAUSETTE_LIMIT_CONVERSATIONS_PER_VISITOR": "1/hour"}
    with running_server("sqlite", tmp_path, env) as server:
        email, password = await new_agent(server.database_url, role="admin")
        agent = await ChatClient.connect(
            server.ws_url, "/ws/agent", await agent_token(server.base_url, email, password)
        )
        client = await visitor(server, address())
        ack = await client.say("first")
        await agent.send({"type": "resolve", "conversation_id": ack["conversation_id"]})
        await client.expect("conversation", status="resolved")
        client_id = str(uuid.uuid4())
        await client.send({"type": "message", "client_id": client_id, "body": "again"})
        error = await client.expect("error", ref=client_id)
        assert error["code"] == "rate_limited"


async def test_limits_are_shared_by_the_nodes_of_a_deployment(tmp_path: Path) -> None:
    prefix = f"causette-test-{uuid.uuid4().hex[:8]}:"
    env = {**ON, "CAUSETTE_REDIS_URL": REDIS_URL, "CAUSETTE_REDIS_CHANNEL_PREFIX": prefix}
    with new_database("postgres", tmp_path) as url:
        a = ServerProcess(database_url=url, workdir=tmp_path / "a", env=env).start()
        b = ServerProcess(database_url=url, workdir=tmp_path / "b", env=env).start()
        try:
            started = time.monotonic()
            statuses, _ = await burst([a.base_url, b.base_url], 400, address())
            elapsed = time.monotonic() - started
        finally:
            a.stop()
            b.stop()
    granted = statuses.count(201)
    # one allowance for both nodes, not one each
    assert 120 <= granted <= 120 + 60 * elapsed / 60 + 1, (granted, elapsed)


async def test_rate_limits_off_turns_every_limit_off(tmp_path: Path) -> None:
    with running_server("sqlite", tmp_path, {"CAUSETTE_RATE_LIMITS": "off"}) as server:
        statuses, _ = await burst([server.base_url], 300, address())
        assert statuses.count(201) == 300
        client = await visitor(server, address())
        for _ in range(40):
            await client.send({"type": "message", "client_id": str(uuid.uuid4()), "body": "x"})
        acks = [await client.expect("ack") for _ in range(40)]
        assert len(acks) == 40
