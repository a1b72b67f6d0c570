"""Resume after a dropped connection: what was said meanwhile is replayed past the client's
last seq, in order, nothing lost and nothing repeated; nobody resumes what is not theirs."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

from tests.conftest import new_agent, new_space
from tests.servers import ServerProcess
from tests.wsclient import ChatClient, agent_token, connect_agent, visitor_token

pytestmark = pytest.mark.usefixtures("closing_clients")


def drop(client: ChatClient) -> None:
    """The network goes away: no closing handshake."""
    client.ws.transport.abort()


def messages(client: ChatClient, conversation_id: str) -> list[dict[str, Any]]:
    return [
        f
        for f in client.frames
        if f["type"] == "message" and f["conversation_id"] == conversation_id
    ]


async def test_visitor_resumes_past_its_last_seq(server: ServerProcess) -> None:
    agent = await connect_agent(server)
    token = (await visitor_token(server.base_url))["token"]
    visitor = await ChatClient.connect(server.ws_url, "/ws/visitor", token)
    first = await visitor.say("one")
    conversation_id = first["conversation_id"]
    reply = await agent.say("two", conversation_id=conversation_id)
    await visitor.expect("message", client_id=reply["client_id"])
    last_seq = max(f["seq"] for f in visitor.frames if f["type"] in ("ack", "message"))
    assert last_seq == 2
    drop(visitor)
    await visitor.wait_closed()

    missed = [await agent.say(f"while away {i}", conversation_id=conversation_id) for i in range(3)]

    back = await ChatClient.connect(
        server.ws_url, "/ws/visitor", token, resume={conversation_id: last_seq}
    )
    assert back.welcome["conversation"]["id"] == conversation_id
    for ack in missed:
        got = await back.next()
        assert got["type"] == "message" and got["client_id"] == ack["client_id"]
    assert [f["body"] for f in messages(back, conversation_id)] == [
        "while away 0",
        "while away 1",
        "while away 2",
    ]

    live = await agent.say("live again", conversation_id=conversation_id)
    got = await back.expect("message", client_id=live["client_id"])
    assert got["seq"] == 6
    assert [f["seq"] for f in messages(back, conversation_id)] == [3, 4, 5, 6]
    await back.close()
    await agent.close()


async def test_agent_resumes_past_its_last_seq(server: ServerProcess) -> None:
    token = (await visitor_token(server.base_url))["token"]
    visitor = await ChatClient.connect(server.ws_url, "/ws/visitor", token)
    email, password = await new_agent(server.database_url)
    agent_tok = await agent_token(server.base_url, email, password)
    agent = await ChatClient.connect(server.ws_url, "/ws/agent", agent_tok)
    first = await visitor.say("hello?")
    conversation_id = first["conversation_id"]
    await agent.expect("message", client_id=first["client_id"])
    drop(agent)
    await agent.wait_closed()

    missed = [(await visitor.say(f"anyone? {i}"))["client_id"] for i in range(4)]
    back = await ChatClient.connect(
        server.ws_url, "/ws/agent", agent_tok, resume={conversation_id: first["seq"]}
    )
    assert conversation_id in {c["id"] for c in back.welcome["conversations"]}
    got = [await back.expect("message", conversation_id=conversation_id) for _ in missed]
    assert [f["client_id"] for f in got] == missed
    assert [f["seq"] for f in got] == [2, 3, 4, 5]
    await visitor.close()
    await back.close()


async def test_resume_while_messages_keep_coming_loses_and_repeats_nothing(
    server: ServerProcess,
) -> None:
    agent = await connect_agent(server)
    token = (await visitor_token(server.base_url))["token"]
    visitor = await ChatClient.connect(server.ws_url, "/ws/visitor", token)
    first = await visitor.say("start")
    conversation_id = first["conversation_id"]
    drop(visitor)
    await visitor.wait_closed()
    for i in range(5):
        await agent.say(f"before {i}", conversation_id=conversation_id)

    total = 1 + 5 + 30

    async def keep_talking() -> None:
        for i in range(30):
            await agent.say(f"during {i}", conversation_id=conversation_id)

    talker = asyncio.create_task(keep_talking())
    back = await ChatClient.connect(
        server.ws_url, "/ws/visitor", token, resume={conversation_id: first["seq"]}
    )
    await talker
    while len(messages(back, conversation_id)) < total - 1:
        await back.expect("message", conversation_id=conversation_id)
    await back.send({"type": "ping"})
    await back.expect("pong")
    assert [f["seq"] for f in messages(back, conversation_id)] == list(range(2, total + 1))
    await back.close()
    await agent.close()


async def test_resume_from_zero_replays_the_whole_conversation(server: ServerProcess) -> None:
    token = (await visitor_token(server.base_url))["token"]
    visitor = await ChatClient.connect(server.ws_url, "/ws/visitor", token)
    acks = [await visitor.say(f"line {i}") for i in range(3)]
    conversation_id = acks[0]["conversation_id"]
    await visitor.close()
    back = await ChatClient.connect(
        server.ws_url, "/ws/visitor", token, resume={conversation_id: 0}
    )
    got = [await back.expect("message") for _ in acks]
    assert [f["client_id"] for f in got] == [a["client_id"] for a in acks]
    assert [f["body"] for f in got] == ["line 0", "line 1", "line 2"]
    await back.close()


async def test_resume_of_a_foreign_conversation_gets_an_error_and_no_data(
    server: ServerProcess,
) -> None:
    other_space = await new_space(server.database_url)
    owner = await ChatClient.connect(
        server.ws_url, "/ws/visitor", (await visitor_token(server.base_url))["token"]
    )
    ack = await owner.say("private to me")
    conversation_id = ack["conversation_id"]
    unknown = str(uuid.uuid4())

    intruder_token = (await visitor_token(server.base_url))["token"]
    intruder = await ChatClient.connect(
        server.ws_url, "/ws/visitor", intruder_token, resume={conversation_id: 0, unknown: 0}
    )
    foreign_agent_tok = await agent_token(
        server.base_url, *await new_agent(server.database_url, spaces=[other_space])
    )
    foreign_agent = await ChatClient.connect(
        server.ws_url, "/ws/agent", foreign_agent_tok, resume={conversation_id: 0, unknown: 0}
    )
    for client in (intruder, foreign_agent):
        theirs = await client.expect("error", ref=conversation_id)
        none = await client.expect("error", ref=unknown)
        assert theirs["code"] == "conversation_not_found"
        assert {k: v for k, v in theirs.items() if k != "ref"} == {
            k: v for k, v in none.items() if k != "ref"
        }

    assert intruder.welcome["conversation"] is None
    assert foreign_agent.welcome["conversations"] == []

    # the owner keeps talking; nothing of it reaches the intruders
    later = await owner.say("still private")
    for client in (intruder, foreign_agent):
        await client.send({"type": "ping"})
        await client.expect("pong")
    # the owner's tab got its ack, so the message is committed and published
    for client in (intruder, foreign_agent):
        leaked = [f for f in client.frames if conversation_id in json.dumps(f)]
        assert [f["type"] for f in leaked] == ["error"]
        assert later["client_id"] not in json.dumps(client.frames)
        await client.close()
    await owner.close()


async def test_a_resume_past_the_end_still_gets_what_comes_next(server: ServerProcess) -> None:
    """A client that claims more than was ever said (a stale or corrupt cursor) loses nothing."""
    agent = await connect_agent(server)
    token = (await visitor_token(server.base_url))["token"]
    visitor = await ChatClient.connect(server.ws_url, "/ws/visitor", token)
    first = await visitor.say("one")
    conversation_id = first["conversation_id"]
    await visitor.close()
    back = await ChatClient.connect(
        server.ws_url, "/ws/visitor", token, resume={conversation_id: 1000}
    )
    reply = await agent.say("two", conversation_id=conversation_id)
    got = await back.expect("message", client_id=reply["client_id"])
    assert got["seq"] == 2
    assert [f["seq"] for f in messages(back, conversation_id)] == [2]
    await back.close()
    await agent.close()
