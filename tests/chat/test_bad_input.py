"""Bad input: a typed error frame, the connection stays, nothing is stored. A bad hello or a
frame over the hard limit closes the socket, and nothing is sent before a valid hello."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
import websockets
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from tests.conftest import new_agent
from tests.rows import fetch
from tests.servers import SECRET, ServerProcess
from tests.services import logged
from tests.wsclient import ChatClient, agent_token, visitor_token

pytestmark = pytest.mark.usefixtures("closing_clients")


CID = "0b6f3c2e-6a57-4c38-9a6e-2f1d9b7e4a10"


async def stored_by(server: ServerProcess, author_id: str) -> int:
    rows = await fetch(
        server.database_url, "SELECT count(*) AS n FROM messages WHERE author_id = :a", a=author_id
    )
    return int(rows[0].n)


async def still_works(client: ChatClient) -> None:
    await client.send({"type": "ping"})
    await client.expect("pong")


BAD_FRAMES: list[tuple[str, Any, str, str | None]] = [
    # (name, frame as sent: a str is sent verbatim, code, ref)
    ("not json", "hello there", "invalid_json", None),
    ("truncated json", '{"type": "message"', "invalid_json", None),
    ("json array", "[1, 2]", "invalid_json", None),
    ("json null", "null", "invalid_json", None),
    ("unknown type", {"type": "shout", "body": "hi"}, "unknown_type", None),
    ("no type", {"client_id": CID, "body": "hi"}, "unknown_type", CID),
    ("message without client_id", {"type": "message", "body": "hi"}, "invalid_frame", None),
    ("message without body", {"type": "message", "client_id": CID}, "invalid_frame", CID),
    (
        "body as a number",
        {"type": "message", "client_id": CID, "body": 12345},
        "invalid_frame",
        CID,
    ),
    ("body as a list", {"type": "message", "client_id": CID, "body": ["hi"]}, "invalid_frame", CID),
    (
        "client_id as a number",
        {"type": "message", "client_id": 12, "body": "hi"},
        "invalid_frame",
        None,
    ),
    (
        "client_id not a UUID",
        {"type": "message", "client_id": "not-a-uuid", "body": "hi"},
        "invalid_frame",
        "not-a-uuid",
    ),
    ("client_id empty", {"type": "message", "client_id": "", "body": "hi"}, "invalid_frame", None),
    (
        "conversation_id as a number",
        {"type": "message", "client_id": CID, "body": "hi", "conversation_id": 3},
        "invalid_frame",
        CID,
    ),
    ("empty body", {"type": "message", "client_id": CID, "body": ""}, "empty_body", CID),
    (
        "whitespace body",
        {"type": "message", "client_id": CID, "body": " \n\t\u00a0 "},
        "empty_body",
        CID,
    ),
    (
        "body over 4000",
        {"type": "message", "client_id": CID, "body": "x" * 4001},
        "body_too_long",
        CID,
    ),
    (
        "body over 4000 characters, not bytes",
        {"type": "message", "client_id": CID, "body": "é" * 4001},
        "body_too_long",
        CID,
    ),
    ("typing with a numeric id", {"type": "typing", "conversation_id": 5}, "invalid_frame", None),
    ("resolve without an id", {"type": "resolve"}, "invalid_frame", None),
    (
        "history with a string limit",
        {"type": "history", "conversation_id": CID, "limit": "10"},
        "invalid_frame",
        None,
    ),
    (
        "history with a negative seq",
        {"type": "history", "conversation_id": CID, "before_seq": -1},
        "invalid_frame",
        None,
    ),
    (
        "history past the seq range",
        {"type": "history", "conversation_id": CID, "before_seq": 2**31},
        "invalid_frame",
        None,
    ),
    (
        "NUL in the body",
        {"type": "message", "client_id": CID, "body": "a\u0000b"},
        "invalid_frame",
        CID,
    ),
    (
        "lone surrogate in the body",
        {"type": "message", "client_id": CID, "body": "a\ud800b"},
        "invalid_frame",
        CID,
    ),
    ("a second hello", {"type": "hello", "token": "x"}, "not_allowed", None),
]


@pytest.mark.parametrize(
    ("frame", "code", "ref"),
    [pytest.param(f, c, r, id=name) for name, f, c, r in BAD_FRAMES],
)
async def test_bad_frame_gets_a_typed_error_and_stores_nothing(
    server: ServerProcess, frame: Any, code: str, ref: str | None
) -> None:
    visitor = await visitor_token(server.base_url)
    client = await ChatClient.connect(server.ws_url, "/ws/visitor", visitor["token"])
    await client.send(frame if isinstance(frame, str) else json.dumps(frame))
    error = await client.next()
    assert error["type"] == "error"
    assert error["code"] == code
    assert error["ref"] == ref
    assert isinstance(error["message"], str) and error["message"]
    ack = await client.say("the connection still works")
    assert ack["seq"] == 1
    assert await stored_by(server, visitor["visitor_id"]) == 1
    await client.close()


async def test_bad_frames_from_an_agent_store_nothing(server: ServerProcess) -> None:
    visitor = await ChatClient.connect(
        server.ws_url, "/ws/visitor", (await visitor_token(server.base_url))["token"]
    )
    conversation_id = (await visitor.say("hi"))["conversation_id"]
    email, password = await new_agent(server.database_url)
    agent = await ChatClient.connect(
        server.ws_url, "/ws/agent", await agent_token(server.base_url, email, password)
    )
    agent_id = agent.welcome["agent"]["id"]
    for frame, code in [
        ({"type": "message", "client_id": CID, "body": "no conversation named"}, None),
        (
            {"type": "message", "client_id": CID, "body": 1, "conversation_id": conversation_id},
            "invalid_frame",
        ),
        (
            {"type": "message", "client_id": CID, "body": "  ", "conversation_id": conversation_id},
            "empty_body",
        ),
        (
            {
                "type": "message",
                "client_id": CID,
                "body": "y" * 4001,
                "conversation_id": conversation_id,
            },
            "body_too_long",
        ),
    ]:
        await agent.send(frame)
        error = await agent.expect("error")
        if code is not None:
            assert error["code"] == code
        assert error["ref"] == CID
    assert await stored_by(server, agent_id) == 0
    ack = await agent.say("fine", conversation_id=conversation_id)
    assert ack["seq"] == 2
    await visitor.close()
    await agent.close()


async def test_binary_frame_gets_an_error_and_the_connection_stays(server: ServerProcess) -> None:
    visitor = await visitor_token(server.base_url)
    client = await ChatClient.connect(server.ws_url, "/ws/visitor", visitor["token"])
    frame = {"type": "message", "client_id": CID, "body": "as bytes"}
    await client.ws.send(json.dumps(frame).encode())
    error = await client.next()
    assert (error["type"], error["code"]) == ("error", "invalid_frame")
    assert await stored_by(server, visitor["visitor_id"]) == 0
    await still_works(client)
    await client.close()


async def test_exactly_4000_characters_are_accepted_and_arrive_intact(
    server: ServerProcess,
) -> None:
    token = (await visitor_token(server.base_url))["token"]
    tab1 = await ChatClient.connect(server.ws_url, "/ws/visitor", token)
    tab2 = await ChatClient.connect(server.ws_url, "/ws/visitor", token)
    for body in ("x" * 4000, "é" * 4000, "\U0001f600" * 4000):
        ack = await tab1.say(body)
        got = await tab2.expect("message", client_id=ack["client_id"])
        assert got["body"] == body
        rows = await fetch(
            server.database_url,
            "SELECT body FROM messages WHERE client_id = :c",
            c=ack["client_id"],
        )
        assert rows[0].body == body
    await tab1.close()
    await tab2.close()


async def test_frame_over_64_kib_closes_with_1009(server: ServerProcess) -> None:
    visitor = await visitor_token(server.base_url)
    client = await ChatClient.connect(server.ws_url, "/ws/visitor", visitor["token"])
    prefix = json.dumps({"type": "message", "client_id": CID, "body": ""})[:-2]
    # exactly 64 KiB is still a frame: too long a body, but an error, not a close
    at_limit = prefix + "z" * (65536 - len(prefix) - 2) + '"}'
    assert len(at_limit.encode()) == 65536
    await client.send(at_limit)
    assert (await client.next())["code"] == "body_too_long"
    await client.send(at_limit.replace('"z', '"zz'))
    code, _reason = await client.wait_closed()
    assert code == 1009
    assert await stored_by(server, visitor["visitor_id"]) == 0
    # and the log says so: an operator chasing "my chat keeps dropping" sees why
    closed = await logged(server, "ws_closed", principal_id=visitor["visitor_id"])
    assert closed["close_code"] == 1009


# -- the hello ---------------------------------------------------------------------------------


async def refused(url: str, first: str | bytes | None) -> tuple[int | None, list[Any]]:
    """Connect, send ``first`` (if any), read until the server closes: (code, frames)."""
    frames: list[Any] = []
    async with websockets.connect(url) as ws:
        if first is not None:
            await ws.send(first)
        try:
            async for frame in ws:
                frames.append(frame)
        except websockets.ConnectionClosed:
            pass
    return ws.close_code, frames


def _signed(salt: str, payload: dict[str, Any], age: int = 0, secret: str = SECRET) -> str:
    class Aged(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - age

    return URLSafeTimedSerializer(secret, salt=salt, signer=Aged).dumps(payload)


async def _space_id(server: ServerProcess, visitor_id: str) -> str:
    rows = await fetch(
        server.database_url, "SELECT space_id FROM visitors WHERE id = :v", v=visitor_id
    )
    return str(rows[0].space_id)


async def test_a_hand_made_token_is_accepted_when_fresh(server: ServerProcess) -> None:
    """The tokens below are refused for one reason each: this one, made the same way, passes."""
    visitor = await visitor_token(server.base_url)
    space_id = await _space_id(server, visitor["visitor_id"])
    token = _signed("causette.visitor.v1", {"v": visitor["visitor_id"], "s": space_id}, age=60)
    client = await ChatClient.connect(server.ws_url, "/ws/visitor", token)
    assert client.welcome["visitor_id"] == visitor["visitor_id"]
    await client.close()


HELLO_CASES = [
    "no frame at all but not json",
    "first frame not a hello",
    "hello without token",
    "garbage token",
    "tampered token",
    "token signed with another key",
    "expired token",
    "agent token on the visitor socket",
    "binary hello",
    "hello with a bad resume",
]


@pytest.mark.parametrize("case", HELLO_CASES)
async def test_bad_hello_closes_1008_with_nothing_sent(server: ServerProcess, case: str) -> None:
    visitor = await visitor_token(server.base_url)
    good = visitor["token"]
    space_id = await _space_id(server, visitor["visitor_id"])
    claims = {"v": visitor["visitor_id"], "s": space_id}
    tampered = good[:-2] + ("AA" if good[-2:] != "AA" else "BB")
    hellos: dict[str, Any] = {
        "no frame at all but not json": "hello",
        "first frame not a hello": {"type": "ping"},
        "hello without token": {"type": "hello"},
        "garbage token": {"type": "hello", "token": "not.a.token"},
        "tampered token": {"type": "hello", "token": tampered},
        "token signed with another key": {
            "type": "hello",
            "token": _signed("causette.visitor.v1", claims, secret="other-key-0123456789"),
        },
        "expired token": {
            "type": "hello",
            "token": _signed("causette.visitor.v1", claims, age=400 * 86400),
        },
        "binary hello": json.dumps({"type": "hello", "token": good}).encode(),
        "hello with a bad resume": {"type": "hello", "token": good, "resume": ["x"]},
    }
    if case == "agent token on the visitor socket":
        email, password = await new_agent(server.database_url)
        hellos[case] = {
            "type": "hello",
            "token": await agent_token(server.base_url, email, password),
        }
    frame = hellos[case]
    if isinstance(frame, dict):
        frame = json.dumps(frame)
    code, frames = await refused(f"{server.ws_url}/ws/visitor", frame)
    assert code == 1008
    assert frames == []


async def test_agent_socket_refuses_visitor_and_expired_agent_tokens(server: ServerProcess) -> None:
    visitor = await visitor_token(server.base_url)
    email, password = await new_agent(server.database_url)
    agent_tok = await agent_token(server.base_url, email, password)
    rows = await fetch(server.database_url, "SELECT id FROM agents WHERE email = :e", e=email)
    expired = _signed("causette.agent.v1", {"a": rows[0].id, "n": 0}, age=400 * 86400)
    fresh = _signed("causette.agent.v1", {"a": rows[0].id, "n": 0}, age=60)
    for token in (visitor["token"], expired, "", str(uuid.uuid4())):
        code, frames = await refused(
            f"{server.ws_url}/ws/agent", json.dumps({"type": "hello", "token": token})
        )
        assert (code, frames) == (1008, [])
    for token in (agent_tok, fresh):
        client = await ChatClient.connect(server.ws_url, "/ws/agent", token)
        assert client.welcome["agent"]["id"] == rows[0].id
        await client.close()
