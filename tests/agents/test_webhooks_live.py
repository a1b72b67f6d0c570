"""Webhooks with real servers and a real receiver on loopback, on SQLite and PostgreSQL: the
node delivering is killed (SIGKILL) with one delivery in flight and others pending, and the
node started after it delivers every event, signed, each conversation's in order; and a
chat over real sockets (an agent's reply, resolve, the visitor's rating) reaches the
receiver through the lifespan's own worker.

(The routes, the schedule on a fake clock, SSRF, rotation and the rest:
tests/agents/test_webhooks.py.)
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from tests.agents.consoleclient import console_agent, open_visitor
from tests.agents.receiver import Received, Receiver, Reply
from tests.conftest import BACKENDS, new_database, new_space
from tests.servers import ServerProcess, free_port

ENV = {
    "CAUSETTE_WEBHOOK_ALLOWED_NETWORKS": '["127.0.0.0/8"]',
    "CAUSETTE_WEBHOOK_POLL_SECONDS": "0.1",
    "CAUSETTE_WEBHOOK_LEASE_SECONDS": "2",  # a killed node's claims are free again after 2 s
    "CAUSETTE_WEBHOOK_TIMEOUT_SECONDS": "30",
}


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with new_database(request.param, tmp_path) as url:
        yield url


def _node(url: str, workdir: Path) -> ServerProcess:
    return ServerProcess(database_url=url, workdir=workdir, env=ENV).start()


def _delivered(received: list[Received], ok: set[int]) -> dict[str, list[int]]:
    """The seqs of each conversation's messages, in the order they were answered 2xx."""
    seqs: dict[str, list[int]] = defaultdict(list)
    for r in received:
        body = r.json
        if id(r) in ok and body["type"] == "message.created":
            seqs[body["data"]["conversation_id"]].append(body["data"]["message"]["seq"])
    return seqs


async def test_a_node_killed_while_delivering_loses_nothing(database: str, tmp_path: Path) -> None:
    up = asyncio.Event()  # until then every request hangs: the first node dies sending
    ok: set[int] = set()

    async def answer(r: Received) -> Reply:
        await up.wait()
        ok.add(id(r))
        return Reply()

    receiver = await Receiver(answer).start()
    first = _node(database, tmp_path / "a")
    second: ServerProcess | None = None
    try:
        key = await new_space(database)
        admin = await console_agent(first, role="admin", spaces=[key])
        made = await admin.ok(
            "POST",
            "/api/webhooks",
            {"space": key, "url": receiver.url(), "events": ["message.created"]},
        )
        conversations = []
        for who in ("ada", "bob", "cy"):
            visitor, conv = await open_visitor(first, key, f"{who} 1")
            for n in range(2, 5):
                await visitor.say(f"{who} {n}", conversation_id=conv)
            conversations.append(conv)
            await visitor.close()
        await admin.close()
        await receiver.until(lambda got: len(got) >= 3)  # the heads of the three, in flight
        first.kill()  # SIGKILL, with 3 deliveries claimed and 9 waiting behind them

        up.set()
        second = _node(database, tmp_path / "b")

        def whole(got: list[Received]) -> bool:
            seqs = _delivered(got, ok)
            return all(set(seqs[c]) == {1, 2, 3, 4} for c in conversations)

        await receiver.until(whole, timeout=30)
        seqs = _delivered(receiver.received, ok)
        assert sorted(seqs) == sorted(conversations)
        for conv in conversations:
            assert sorted(set(seqs[conv])) == [1, 2, 3, 4]  # nothing lost
            assert seqs[conv] == sorted(seqs[conv])  # each conversation's in order
        for r in receiver.received:
            Webhook(made["secret"]).verify(r.body, r.headers)
    finally:
        up.set()
        first.kill()
        if second is not None:
            second.stop()
        await receiver.stop()


async def test_a_chat_over_real_sockets_reaches_the_receiver(database: str, tmp_path: Path) -> None:
    receiver = await Receiver().start()
    node = _node(database, tmp_path / "node")
    try:
        key = await new_space(database)
        admin = await console_agent(node, role="admin", spaces=[key])
        events = ["conversation.created", "message.created", "conversation.assigned",
                  "conversation.status_changed", "csat.submitted"]  # fmt: skip
        made = await admin.ok(
            "POST", "/api/webhooks", {"space": key, "url": receiver.url(), "events": events}
        )
        socket = await admin.socket()  # online: routing gives it the conversation
        visitor, conv = await open_visitor(node, key, "Where is my parcel?")
        await socket.expect("conversation", conversation_id=conv, assignee_id=admin.id)
        await socket.say("On its way!", conversation_id=conv)
        await socket.send({"type": "resolve", "conversation_id": conv})
        await visitor.expect("csat", conversation_id=conv)
        await visitor.send({"type": "csat", "conversation_id": conv, "score": 5, "comment": "Top"})
        await visitor.expect("csat", conversation_id=conv, score=5)

        def types(got: list[Received]) -> list[str]:
            return [r.json["type"] for r in got]

        got = await receiver.until(lambda got: "csat.submitted" in types(got), timeout=15)
        bodies: list[dict[str, Any]] = [
            Webhook(made["secret"]).verify(r.body, r.headers) for r in got
        ]
        assert types(got) == [
            "conversation.created",
            "message.created",
            "conversation.assigned",
            "message.created",
            "conversation.status_changed",
            "csat.submitted",
        ]  # one conversation: in the order it happened
        by_type = {b["type"]: b["data"] for b in bodies}
        assert by_type["csat.submitted"]["score"] == 5
        assert by_type["csat.submitted"]["comment"] == "Top"
        assert by_type["conversation.assigned"]["conversation"]["assignee_id"] == admin.id
        assert [b["data"]["message"]["body"] for b in bodies if b["type"] == "message.created"] == [
            "Where is my parcel?",
            "On its way!",
        ]
        assert all(r.headers.get("causette-request-id") for r in got)  # what caused each
        await visitor.close()
        await admin.close()
    finally:
        node.stop()
        await receiver.stop()


async def _listening(port: int) -> None:
    """Until the receiver's port takes connections (another process: nothing to await)."""
    async with asyncio.timeout(10):
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            await writer.wait_closed()
            return


def _documented_receiver() -> str:
    """The whole receiver of docs/integrations.md, as the reader would copy it."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "integrations.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    [receiver] = [b for b in blocks if "ThreadingHTTPServer" in b]
    return receiver


async def test_the_documented_receiver_gets_verified_deliveries(tmp_path: Path) -> None:
    with new_database("sqlite", tmp_path) as url:
        node = _node(url, tmp_path / "node")
        script = tmp_path / "receiver.py"
        script.write_text(_documented_receiver())
        port = free_port()
        receiver: asyncio.subprocess.Process | None = None
        try:
            admin = await console_agent(node, role="admin", spaces=["default"])
            made = await admin.ok(
                "POST",
                "/api/webhooks",
                {"space": "default", "url": f"http://127.0.0.1:{port}/hooks/causette",
                 "events": ["message.created"]},
            )  # fmt: skip
            receiver = await asyncio.create_subprocess_exec(
                sys.executable, str(script), str(port),
                env={**os.environ, "WEBHOOK_SECRET": made["secret"]},
                stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            await _listening(port)
            visitor, conv = await open_visitor(node, "default", "Hello from the docs")
            assert receiver.stdout is not None
            line = await asyncio.wait_for(receiver.stdout.readline(), 20)
            event = json.loads(line)  # printed only once verified
            assert event["type"] == "message.created"
            assert event["data"]["conversation_id"] == conv
            assert event["data"]["message"]["body"] == "Hello from the docs"
            await visitor.close()
            await admin.close()
        finally:
            if receiver is not None:
                receiver.kill()
                await receiver.wait()
            node.stop()
