"""The visitor↔agent exchange: who gets what, acks after commit, idempotent retries, typing,
resolve. Against a real server, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import new_agent
from tests.rows import execute, fetch, message_rows
from tests.servers import ServerProcess
from tests.wsclient import ChatClient, agent_token, connect_agent, connect_visitor, visitor_token

pytestmark = pytest.mark.usefixtures("closing_clients")


async def barrier(client: ChatClient) -> None:
    """Everything queued for this connection before now has been received."""
    await client.send({"type": "ping"})
    await client.expect("pong")


def copies(client: ChatClient, client_id: str) -> list[dict[str, Any]]:
    return [f for f in client.frames if f["type"] == "message" and f["client_id"] == client_id]


async def test_message_reaches_other_tabs_and_agents_sender_gets_only_an_ack(
    server: ServerProcess,
) -> None:
    agent = await connect_agent(server, name="Alice")
    visitor = await visitor_token(server.base_url)
    tab1 = await connect_visitor(server, visitor["token"])
    tab2 = await connect_visitor(server, visitor["token"])
    assert tab1.welcome["visitor_id"] == visitor["visitor_id"]
    assert tab1.welcome["conversation"] is None

    ack = await tab1.say("Bonjour, j'ai une question")
    assert set(ack) >= {"type", "client_id", "conversation_id", "seq", "id"}
    assert ack["seq"] == 1
    conversation_id = ack["conversation_id"]

    for receiver in (tab2, agent):
        got = await receiver.expect("message", client_id=ack["client_id"])
        assert got["conversation_id"] == conversation_id
        assert got["seq"] == ack["seq"] and got["id"] == ack["id"]
        assert got["body"] == "Bonjour, j'ai une question"
        assert got["author"]["kind"] == "visitor"
        assert got["author"]["id"] == visitor["visitor_id"]
        assert got["created_at"].endswith("Z")

    reply = await agent.say("Bonjour ! Je vous écoute.", conversation_id=conversation_id)
    assert reply["seq"] == 2 and reply["conversation_id"] == conversation_id
    for tab in (tab1, tab2):
        got = await tab.expect("message", client_id=reply["client_id"])
        assert got["author"] == {
            "kind": "agent",
            "id": agent.welcome["agent"]["id"],
            "name": "Alice",
        }
        assert got["body"] == "Bonjour ! Je vous écoute." and got["seq"] == 2

    # tab2 has the copy of tab1's message, so tab1's own copy was queued before the ping
    await barrier(tab1)
    await barrier(agent)
    assert copies(tab1, ack["client_id"]) == []
    assert copies(agent, reply["client_id"]) == []
    for client in (tab1, tab2, agent):
        await client.close()


async def test_ack_arrives_only_after_the_message_is_committed(server: ServerProcess) -> None:
    agent = await connect_agent(server)
    visitor = await connect_visitor(server)
    conversation_id = None
    for i in range(5):
        ack = await visitor.say(f"visitor line {i}")
        conversation_id = ack["conversation_id"]
        # read on a connection of our own, the moment the ack is in: it must be there
        rows = await message_rows(server.database_url, ack["client_id"])
        assert [(r.conversation_id, r.seq, r.body) for r in rows] == [
            (conversation_id, ack["seq"], f"visitor line {i}")
        ]
        reply = await agent.say(f"agent line {i}", conversation_id=conversation_id)
        rows = await message_rows(server.database_url, reply["client_id"])
        assert [(r.seq, r.author_kind) for r in rows] == [(reply["seq"], "agent")]
    seqs = await fetch(
        server.database_url,
        "SELECT seq FROM messages WHERE conversation_id = :c ORDER BY seq",
        c=conversation_id,
    )
    assert [r.seq for r in seqs] == list(range(1, 11))
    await visitor.close()
    await agent.close()


def _refuse_trigger(dialect_url: str, marker: str) -> tuple[list[str], list[str]]:
    """SQL that makes the database refuse any message whose body holds ``marker``, and the
    SQL that undoes it."""
    if dialect_url.startswith("sqlite"):
        return (
            [
                "CREATE TRIGGER t_refuse BEFORE INSERT ON messages "
                f"WHEN NEW.body LIKE '%{marker}%' BEGIN SELECT RAISE(ABORT, 'refused'); END"
            ],
            ["DROP TRIGGER t_refuse"],
        )
    return (
        [
            "CREATE FUNCTION t_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.body LIKE '%{marker}%' THEN RAISE EXCEPTION 'refused'; END IF; "
            "RETURN NEW; END $$",
            "CREATE TRIGGER t_refuse BEFORE INSERT ON messages "
            "FOR EACH ROW EXECUTE FUNCTION t_refuse()",
        ],
        ["DROP TRIGGER t_refuse ON messages", "DROP FUNCTION t_refuse()"],
    )


async def test_a_message_that_fails_to_store_is_never_acked(server: ServerProcess) -> None:
    marker = f"refuse-{uuid.uuid4().hex[:8]}"
    agent = await connect_agent(server)
    visitor = await connect_visitor(server)
    first = await visitor.say("before the failure")
    await agent.expect("message", client_id=first["client_id"])

    install, remove = _refuse_trigger(server.database_url, marker)
    await execute(server.database_url, *install)
    client_id = str(uuid.uuid4())
    try:
        await visitor.send(
            {"type": "message", "client_id": client_id, "body": f"this one {marker} fails"}
        )
        error = await visitor.expect("error", ref=client_id)
        assert error["code"] == "store_unavailable"
        assert error.get("retryable") is True
        assert await message_rows(server.database_url, client_id) == []
        # the connection still works, and the failed message never reached anyone
        later = await visitor.say("after the failure")
        assert later["seq"] == first["seq"] + 1
        await agent.expect("message", client_id=later["client_id"])
        assert [
            f for f in visitor.frames if f["type"] == "ack" and f["client_id"] == client_id
        ] == []
        assert copies(agent, client_id) == []
    finally:
        await execute(server.database_url, *remove)

    # the retry the error asks for succeeds, once
    retry = await visitor.say(f"this one {marker} fails", client_id=client_id)
    assert retry["seq"] == later["seq"] + 1
    assert len(await message_rows(server.database_url, client_id)) == 1
    await agent.expect("message", client_id=client_id)
    await visitor.close()
    await agent.close()


async def test_retry_with_the_same_client_id_on_the_same_connection(server: ServerProcess) -> None:
    agent = await connect_agent(server)
    visitor = await connect_visitor(server)
    client_id = str(uuid.uuid4())
    ack1 = await visitor.say("only once", client_id=client_id)
    await agent.expect("message", client_id=client_id)
    ack2 = await visitor.say("only once", client_id=client_id)
    assert (ack2["seq"], ack2["id"], ack2["conversation_id"]) == (
        ack1["seq"],
        ack1["id"],
        ack1["conversation_id"],
    )
    # the same UUID spelled in capitals is the same message
    ack3 = await visitor.say("only once", client_id=client_id.upper())
    assert ack3["seq"] == ack1["seq"] and ack3["client_id"] == client_id.upper()
    assert len(await message_rows(server.database_url, client_id)) == 1

    after = await visitor.say("next")
    assert after["seq"] == ack1["seq"] + 1
    await agent.expect("message", client_id=after["client_id"])
    assert len(copies(agent, client_id)) == 1
    await visitor.close()
    await agent.close()


async def test_retry_with_the_same_client_id_on_another_connection(server: ServerProcess) -> None:
    agent = await connect_agent(server)
    token = (await visitor_token(server.base_url))["token"]
    tab1 = await connect_visitor(server, token)
    client_id = str(uuid.uuid4())
    ack1 = await tab1.say("sent, then the tab died", client_id=client_id)
    tab1.ws.transport.abort()  # the network drops: no closing handshake
    await tab1.wait_closed()

    tab2 = await connect_visitor(server, token)
    ack2 = await tab2.say("sent, then the tab died", client_id=client_id)
    assert (ack2["seq"], ack2["id"]) == (ack1["seq"], ack1["id"])
    assert len(await message_rows(server.database_url, client_id)) == 1

    # an agent retrying on a second connection is idempotent too
    conversation_id = ack1["conversation_id"]
    reply_id = str(uuid.uuid4())
    r1 = await agent.say("reply", conversation_id=conversation_id, client_id=reply_id)
    other = await ChatClient.connect(server.ws_url, "/ws/agent", agent.hello_token)
    r2 = await other.say("reply", conversation_id=conversation_id, client_id=reply_id)
    assert r2["seq"] == r1["seq"]
    assert len(await message_rows(server.database_url, reply_id)) == 1

    # a client_id is its author's: another agent reusing it is told so, and nothing is stored
    email, password = await new_agent(server.database_url)
    colleague = await ChatClient.connect(
        server.ws_url, "/ws/agent", await agent_token(server.base_url, email, password)
    )
    await colleague.send(
        {
            "type": "message",
            "client_id": reply_id,
            "body": "mine?",
            "conversation_id": conversation_id,
        }
    )
    refused = await colleague.expect("error", ref=reply_id)
    assert refused["code"] == "client_id_taken"
    assert len(await message_rows(server.database_url, reply_id)) == 1
    await colleague.close()
    for client in (tab2, agent, other):
        await client.close()


async def test_concurrent_retries_on_two_tabs_store_one_message(server: ServerProcess) -> None:
    token = (await visitor_token(server.base_url))["token"]
    tab1 = await connect_visitor(server, token)
    tab2 = await connect_visitor(server, token)
    await tab1.say("open the conversation")
    for _ in range(5):
        client_id = str(uuid.uuid4())
        frame = {"type": "message", "client_id": client_id, "body": "raced"}
        await asyncio.gather(tab1.send(frame), tab2.send(frame))
        a1, a2 = await asyncio.gather(
            tab1.expect("ack", client_id=client_id), tab2.expect("ack", client_id=client_id)
        )
        assert a1["seq"] == a2["seq"]
        assert len(await message_rows(server.database_url, client_id)) == 1
    await tab1.close()
    await tab2.close()


async def test_typing_is_relayed_and_not_stored(server: ServerProcess) -> None:
    agent = await connect_agent(server)
    visitor = await connect_visitor(server)
    ack = await visitor.say("hello")
    conversation_id = ack["conversation_id"]
    await visitor.send({"type": "typing", "conversation_id": conversation_id})
    typing = await agent.expect("typing", conversation_id=conversation_id)
    assert typing["author"]["kind"] == "visitor"
    await agent.send({"type": "typing", "conversation_id": conversation_id})
    typing = await visitor.expect("typing", conversation_id=conversation_id)
    assert typing["author"]["kind"] == "agent"
    rows = await fetch(
        server.database_url,
        "SELECT count(*) AS n FROM messages WHERE conversation_id = :c",
        c=conversation_id,
    )
    assert rows[0].n == 1
    await visitor.close()
    await agent.close()


async def test_resolve_tells_every_participant_and_the_next_message_opens_a_new_conversation(
    server: ServerProcess,
) -> None:
    agent = await connect_agent(server)
    observer = await connect_agent(server)
    token = (await visitor_token(server.base_url))["token"]
    tab1 = await connect_visitor(server, token)
    tab2 = await connect_visitor(server, token)
    ack = await tab1.say("my problem")
    old = ack["conversation_id"]
    await agent.expect("message", client_id=ack["client_id"])

    await agent.send({"type": "resolve", "conversation_id": old})
    for client in (agent, observer, tab1, tab2):
        # other changes (an assignment) are announced by the same frame: wait for this one
        await client.expect("conversation", conversation_id=old, status="resolved")
    rows = await fetch(server.database_url, "SELECT status FROM conversations WHERE id = :c", c=old)
    assert rows[0].status == "resolved"

    # an agent may not write into a resolved conversation
    refused_id = str(uuid.uuid4())
    await agent.send(
        {"type": "message", "client_id": refused_id, "conversation_id": old, "body": "late"}
    )
    assert (await agent.expect("error", ref=refused_id))["code"] == "conversation_resolved"
    assert await message_rows(server.database_url, refused_id) == []

    # the visitor's next message, naming the old conversation or not, opens a new one
    nxt = await tab2.say("another problem", conversation_id=old)
    new = nxt["conversation_id"]
    assert new != old and nxt["seq"] == 1
    got = await agent.expect("message", client_id=nxt["client_id"])
    assert got["conversation_id"] == new
    assert (await tab1.expect("message", client_id=nxt["client_id"]))["conversation_id"] == new
    again = await tab1.say("still me")
    assert again["conversation_id"] == new and again["seq"] == 2
    reply = await agent.say("on it", conversation_id=new)
    assert reply["seq"] == 3
    for client in (agent, observer, tab1, tab2):
        await client.close()


async def test_a_visitor_may_not_resolve(server: ServerProcess) -> None:
    visitor = await connect_visitor(server)
    ack = await visitor.say("hello")
    await visitor.send({"type": "resolve", "conversation_id": ack["conversation_id"]})
    assert (await visitor.expect("error"))["code"] == "not_allowed"
    rows = await fetch(
        server.database_url,
        "SELECT status FROM conversations WHERE id = :c",
        c=ack["conversation_id"],
    )
    assert rows[0].status == "open"
    await visitor.close()


async def test_a_visitor_gets_a_token_that_opens_a_socket(server: ServerProcess) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{server.base_url}/api/visitors", json={"space": "default"})
    assert response.status_code == 201
    body = response.json()
    assert set(body) >= {"visitor_id", "token"}
    rows = await fetch(
        server.database_url,
        "SELECT s.key FROM visitors v JOIN spaces s ON s.id = v.space_id WHERE v.id = :v",
        v=body["visitor_id"],
    )
    assert [r.key for r in rows] == ["default"]
    client = await ChatClient.connect(server.ws_url, "/ws/visitor", body["token"])
    assert client.welcome["visitor_id"] == body["visitor_id"]
    assert client.welcome["space"] == "default"
    await client.close()
