"""The server's log: JSON lines, a connection's lines carry its ids, and never a message body,
a token or a password. One test per server: it stops the server to read a complete log."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import websockets

from tests.conftest import new_agent
from tests.servers import ServerProcess
from tests.wsclient import ChatClient, agent_token, visitor_token

BANNER = "causette serving on "  # the one human line, printed on stderr before logging starts


async def test_log_is_json_with_ids_and_without_secrets(own_server: ServerProcess) -> None:
    server = own_server
    mark = uuid.uuid4().hex[:12]
    password = f"pw-{mark}-horse-battery"
    email, _ = await new_agent(server.database_url, password=password)
    agent_tok = await agent_token(server.base_url, email, password)
    async with httpx.AsyncClient() as http:
        wrong = await http.post(
            f"{server.base_url}/api/agents/login",
            json={"email": email, "password": f"wrong-{mark}"},
        )
    assert wrong.status_code == 401
    visitor = await visitor_token(server.base_url)

    agent = await ChatClient.connect(server.ws_url, "/ws/agent", agent_tok)
    tab = await ChatClient.connect(server.ws_url, "/ws/visitor", visitor["token"])
    ack = await tab.say(f"body-{mark} my card number is 4111")
    await agent.expect("message", client_id=ack["client_id"])
    reply = await agent.say(f"reply-{mark}", conversation_id=ack["conversation_id"])
    await tab.expect("message", client_id=reply["client_id"])
    too_long = {"type": "message", "client_id": str(uuid.uuid4()), "body": f"long-{mark}" * 500}
    await tab.send(too_long)
    await tab.expect("error", ref=too_long["client_id"])
    await tab.send(f"not json at all: raw-{mark}")
    await tab.expect("error", code="invalid_json")
    async with websockets.connect(f"{server.ws_url}/ws/visitor") as ws:
        await ws.send(json.dumps({"type": "hello", "token": f"forged-{mark}"}))
        with_code = None
        try:
            await ws.recv()
        except websockets.ConnectionClosed as closed:
            with_code = closed.rcvd.code if closed.rcvd else None
    assert with_code == 1008
    await tab.close()
    await agent.close()

    server.stop()  # a graceful stop: every line is written when the process has exited
    text = server.logs()

    for secret in (
        mark,
        password,
        agent_tok,
        visitor["token"],
        agent_tok[-20:],
        visitor["token"][-20:],
    ):
        assert secret not in text

    lines: list[dict[str, Any]] = []
    for raw in text.splitlines():
        if not raw.strip() or raw.startswith(BANNER):
            continue
        line = json.loads(raw)  # every line is JSON
        assert isinstance(line, dict)
        assert {"event", "level", "timestamp"} <= set(line)
        lines.append(line)
    events = [line["event"] for line in lines]
    assert "server_started" in events and "server_stopped" in events

    closed = [line for line in lines if line["event"] == "ws_closed"]
    assert len(closed) == 2
    assert {line["kind"] for line in closed} == {"agent", "visitor"}
    for line in closed:
        assert line["conn_id"] and line["request_id"] and line["principal_id"]
    assert len({line["conn_id"] for line in closed}) == 2
    by_kind = {line["kind"]: line for line in closed}
    assert by_kind["visitor"]["principal_id"] == visitor["visitor_id"]
    assert by_kind["agent"]["principal_id"] == agent.welcome["agent"]["id"]

    for line in closed:
        assert line["closed_by"] == "client" and line["close_code"] == 1000
        assert line["frames_in"] >= 1 and line["frames_out"] >= 1 and line["seconds"] >= 0
    assert by_kind["visitor"]["space"] == "default"

    # one line per request: its route template (never the raw path of a matched route), the
    # ids its handler named, and the request id of its X-Request-Id
    requests = [line for line in lines if line["event"] == "http_request"]
    assert all(line["request_id"] and "route" in line for line in requests)
    token = next(line for line in requests if line["route"] == "/api/visitors")
    assert token["visitor_id"] == visitor["visitor_id"] and token["space"] == "default"
    assert token["status"] == 201 and "path" not in token

    refused = [line for line in lines if line["event"] == "ws_hello_refused"]
    assert len(refused) == 1 and refused[0]["request_id"]
    # every line logged inside a connection names it
    for line in lines:
        if line["event"].startswith("ws_") and line["event"] not in (
            "ws_hello_refused",
            "ws_origin_refused",
        ):
            assert "conn_id" in line, line
