"""Nobody reaches what is not theirs: a visitor another visitor's conversation, an agent a space
it is not a member of. Refusals look exactly like a conversation that does not exist."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import websockets

from tests.conftest import new_space
from tests.rows import fetch, message_rows
from tests.servers import ServerProcess
from tests.wsclient import ChatClient, connect_agent, connect_visitor, visitor_token

pytestmark = pytest.mark.usefixtures("closing_clients")


def without_ref(frame: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in frame.items() if k != "ref"}


async def refusal(client: ChatClient, frame: dict[str, Any]) -> dict[str, Any]:
    """Send a frame naming someone else's conversation, and the same naming none that exists:
    the two answers must be the same. Returns the first."""
    unknown = str(uuid.uuid4())
    answers = []
    for conversation_id in (frame["conversation_id"], unknown):
        sent = {**frame, "conversation_id": conversation_id}
        if "client_id" in frame:
            sent["client_id"] = str(uuid.uuid4())
        await client.send(sent)
        error = await client.expect("error")
        assert error["ref"] == sent.get("client_id")
        answers.append(error)
    assert answers[0]["code"] == "conversation_not_found"
    assert without_ref(answers[0]) == without_ref(answers[1])
    return answers[0]


async def conversation_status(server: ServerProcess, conversation_id: str) -> tuple[str, int]:
    rows = await fetch(
        server.database_url,
        "SELECT status, last_seq FROM conversations WHERE id = :c",
        c=conversation_id,
    )
    return rows[0].status, rows[0].last_seq


async def test_a_visitor_cannot_touch_another_visitors_conversation(server: ServerProcess) -> None:
    owner = await connect_visitor(server)
    ack = await owner.say("my secret")
    theirs = ack["conversation_id"]
    intruder = await connect_visitor(server)

    before = await conversation_status(server, theirs)
    client_id = str(uuid.uuid4())
    await intruder.send(
        {"type": "message", "client_id": client_id, "conversation_id": theirs, "body": "let me in"}
    )
    assert (await intruder.expect("error", ref=client_id))["code"] == "conversation_not_found"
    assert await message_rows(server.database_url, client_id) == []
    await refusal(
        intruder, {"type": "message", "client_id": "", "conversation_id": theirs, "body": "hi"}
    )
    await refusal(intruder, {"type": "history", "conversation_id": theirs})
    await refusal(intruder, {"type": "typing", "conversation_id": theirs})
    assert await conversation_status(server, theirs) == before

    # the intruder opened nothing, and the owner heard nothing
    own = await intruder.say("my own question")
    assert own["conversation_id"] != theirs and own["seq"] == 1
    await owner.send({"type": "ping"})
    await owner.expect("pong")
    assert [f for f in owner.frames if f["type"] in ("message", "typing")] == []
    assert theirs not in json.dumps([f for f in intruder.frames if f["type"] != "error"])
    await owner.close()
    await intruder.close()


async def test_an_agent_cannot_reach_a_space_it_is_not_a_member_of(server: ServerProcess) -> None:
    retail = await new_space(server.database_url)
    visitor = await connect_visitor(server)  # in "default"
    home = await connect_agent(server, spaces=["default"])
    outsider = await connect_agent(server, spaces=[retail])
    ack = await visitor.say("a question for default")
    theirs = ack["conversation_id"]
    await home.expect("message", client_id=ack["client_id"])

    assert theirs not in json.dumps(outsider.welcome)
    assert [s["key"] for s in outsider.welcome["spaces"]] == [retail]

    before = await conversation_status(server, theirs)
    await refusal(
        outsider, {"type": "message", "client_id": "", "conversation_id": theirs, "body": "hi"}
    )
    await refusal(outsider, {"type": "resolve", "conversation_id": theirs})
    await refusal(outsider, {"type": "history", "conversation_id": theirs})
    await refusal(outsider, {"type": "typing", "conversation_id": theirs})
    assert await conversation_status(server, theirs) == before == ("open", 1)
    assert (
        await fetch(
            server.database_url,
            "SELECT count(*) AS n FROM messages WHERE author_id = :a",
            a=outsider.welcome["agent"]["id"],
        )
    )[0].n == 0

    # live traffic of "default" never reaches the outsider: the home agent sees a message
    # the outsider's hub delivery would have carried in the same dispatch
    more = await visitor.say("more for default")
    await home.expect("message", client_id=more["client_id"])
    reply = await home.say("answer", conversation_id=theirs)
    await visitor.expect("message", client_id=reply["client_id"])
    await outsider.send({"type": "ping"})
    await outsider.expect("pong")
    assert theirs not in json.dumps([f for f in outsider.frames if f["type"] != "error"])
    assert [f for f in outsider.frames if f["type"] in ("message", "typing", "conversation")] == []

    # and a visitor of the other space is heard by the outsider only
    retail_visitor = await connect_visitor(server, space=retail)
    r = await retail_visitor.say("a question for retail")
    await outsider.expect("message", client_id=r["client_id"])
    await home.send({"type": "ping"})
    await home.expect("pong")
    assert r["client_id"] not in json.dumps(home.frames)
    for client in (visitor, home, outsider, retail_visitor):
        await client.close()


async def test_an_agent_of_two_spaces_sees_both(server: ServerProcess) -> None:
    retail = await new_space(server.database_url)
    both = await connect_agent(server, spaces=["default", retail])
    v1 = await connect_visitor(server)
    v2 = await connect_visitor(server, space=retail)
    a1 = await v1.say("default here")
    a2 = await v2.say("retail here")
    await both.expect("message", client_id=a1["client_id"])
    await both.expect("message", client_id=a2["client_id"])
    reply = await both.say("hello retail", conversation_id=a2["conversation_id"])
    await v2.expect("message", client_id=reply["client_id"])
    for client in (both, v1, v2):
        await client.close()


async def test_a_visitor_token_only_opens_its_own_space(server: ServerProcess) -> None:
    retail = await new_space(server.database_url)
    token = (await visitor_token(server.base_url))["token"]  # a "default" visitor
    async with websockets.connect(f"{server.ws_url}/ws/visitor?space={retail}") as ws:
        await ws.send(json.dumps({"type": "hello", "token": token}))
        frames = []
        try:
            async for frame in ws:
                frames.append(frame)
        except websockets.ConnectionClosed:
            pass
    assert (ws.close_code, frames) == (1008, [])
