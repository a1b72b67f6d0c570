"""A client that stops reading is closed with 1013 (reconnect and resume) once a send to it
has waited CAUSETTE_SLOW_CLIENT_SECONDS while messages kept coming, while the others in the
space keep receiving; resuming gets it everything. (Bursts to clients that read, and a queue
overflowing with frames the store cannot give again: tests/chat/test_connection.py.)"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import websockets

from tests.conftest import BACKENDS, new_agent, running_server
from tests.servers import ServerProcess
from tests.wsclient import ChatClient, agent_token, visitor_token

QUEUE_SIZE = 8
MAX_MESSAGES = 1500  # far more than the socket buffers can hold: the loop is bounded


def body() -> str:
    """4,000 random characters of four bytes each: 16 KB on the wire, so that few messages
    fill the socket buffers (several MB on loopback, where the kernel sizes them generously)."""
    return "".join(chr(0x1F300 + b % 0x300) for b in os.urandom(4000))


@pytest.fixture(scope="module", params=BACKENDS)
def small_queue_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp(f"backpressure-{request.param}")
    env = {
        "CAUSETTE_SEND_QUEUE_SIZE": str(QUEUE_SIZE),
        # a client that has taken nothing for this long while frames wait is dropped
        "CAUSETTE_SLOW_CLIENT_SECONDS": "1",
    }
    with running_server(request.param, tmp, env) as proc:
        yield proc


class LogTail:
    """New lines of the server's log since the last look."""

    def __init__(self, server: ServerProcess) -> None:
        assert server.log_path is not None
        self.path = server.log_path
        self.offset = self.path.stat().st_size

    def events(self) -> list[dict[str, Any]]:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        complete = data[: data.rfind(b"\n") + 1]
        self.offset += len(complete)
        out = []
        for raw in complete.decode().splitlines():
            if raw.startswith("{"):
                out.append(json.loads(raw))
        return out


async def slow_reader(server: ServerProcess, token: str) -> websockets.ClientConnection:
    """An agent socket that reads its welcome, then nothing: a tiny receive buffer and a
    one-frame client queue, so the server's writes back up for real."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    sock.setblocking(False)
    ws = await websockets.connect(
        f"{server.ws_url}/ws/agent", sock=sock, max_queue=1, compression=None
    )
    await ws.send(json.dumps({"type": "hello", "token": token}))
    welcome = json.loads(await ws.recv())
    assert welcome["type"] == "welcome"
    return ws


async def test_a_client_that_stops_reading_is_closed_1013_and_others_keep_receiving(
    small_queue_server: ServerProcess,
) -> None:
    server = small_queue_server
    email, password = await new_agent(server.database_url)
    token = await agent_token(server.base_url, email, password)
    healthy = await ChatClient.connect(server.ws_url, "/ws/agent", token)
    visitor = await ChatClient.connect(
        server.ws_url, "/ws/visitor", (await visitor_token(server.base_url))["token"]
    )
    conversation_id = (await visitor.say("opening"))["conversation_id"]
    await healthy.expect("message", conversation_id=conversation_id)
    slow = await slow_reader(server, token)
    tail = LogTail(server)

    sent: list[str] = []
    overflowed = False
    for _ in range(MAX_MESSAGES):
        ack = await visitor.say(body())
        sent.append(ack["client_id"])
        if any(e["event"] == "ws_queue_full" for e in tail.events()):
            overflowed = True
            break
    assert overflowed, f"no overflow after {len(sent)} messages"

    # the healthy agent got every message, in order, and keeps getting new ones
    for client_id in sent:
        await healthy.expect("message", client_id=client_id)
    after = await visitor.say("after the slow one was dropped")
    got = await healthy.expect("message", client_id=after["client_id"])
    seqs = [
        f["seq"]
        for f in healthy.frames
        if f["type"] == "message" and f["conversation_id"] == conversation_id
    ]
    assert seqs == list(range(1, got["seq"] + 1))

    # the slow one reads again: a clean prefix of the conversation, then a close with 1013
    received: list[dict[str, Any]] = []
    try:
        async for raw in slow:
            received.append(json.loads(raw))
    except websockets.ConnectionClosed:
        pass
    assert slow.close_code == 1013
    got_seqs = [f["seq"] for f in received if f["type"] == "message"]
    assert got_seqs == list(range(2, 2 + len(got_seqs)))
    last = got_seqs[-1] if got_seqs else 1
    assert last < got["seq"]

    # and resuming from where it stopped brings the rest, once each
    back = await ChatClient.connect(
        server.ws_url, "/ws/agent", token, resume={conversation_id: last}
    )
    for seq in range(last + 1, got["seq"] + 1):
        frame = await back.expect("message", conversation_id=conversation_id)
        assert frame["seq"] == seq
    await back.send({"type": "ping"})
    await back.expect("pong")
    assert [f["seq"] for f in back.frames if f["type"] == "message"] == list(
        range(last + 1, got["seq"] + 1)
    )
    for client in (healthy, visitor, back):
        await client.close()
