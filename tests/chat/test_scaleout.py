"""Several nodes relay one conversation: worker processes of one ``causette serve`` and
separate servers on other ports, sharing PostgreSQL and Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster import Peer, connect_agent, connect_visitor, start_nodes
from tests.servers import REDIS_URL, ServerProcess, create_pg_database, drop_pg_database
from tests.services import worker_pid_of
from tests.wsclient import visitor_token


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    name, url = create_pg_database()
    yield url
    drop_pg_database(name)


def local_port(peer: Peer) -> int:
    return int(peer.ws.local_address[1])


async def converse(visitor: Peer, agent: Peer) -> None:
    """A visitor and an agent talk: messages and typing both ways, then a resolve."""
    ack = await visitor.say("Bonjour, is anyone there?")
    conversation_id = ack["conversation_id"]
    got = await agent.expect("message", client_id=ack["client_id"])
    assert got["body"] == "Bonjour, is anyone there?" and got["seq"] == ack["seq"]

    await visitor.send({"type": "typing", "conversation_id": conversation_id})
    typing = await agent.expect("typing", conversation_id=conversation_id)
    assert typing["author"]["kind"] == "visitor"
    await agent.send({"type": "typing", "conversation_id": conversation_id})
    typing = await visitor.expect("typing", conversation_id=conversation_id)
    assert typing["author"]["kind"] == "agent"

    reply = await agent.say("Yes, how can I help?", conversation_id=conversation_id)
    got = await visitor.expect("message", client_id=reply["client_id"])
    assert got["seq"] == reply["seq"] == ack["seq"] + 1 and got["author"]["kind"] == "agent"

    await agent.send({"type": "resolve", "conversation_id": conversation_id})
    state = await visitor.expect("conversation", conversation_id=conversation_id)
    assert state["status"] == "resolved"


async def test_workers_of_one_server_relay_a_conversation(database: str, tmp_path: Path) -> None:
    """Figure: `causette serve --workers 2` with Redis; the agent's socket and the visitor's
    are held by 2 different worker processes (told apart by the PID that owns each TCP
    connection); messages, typing and resolve cross between them."""
    server = ServerProcess(
        database_url=database, workdir=tmp_path, redis_url=REDIS_URL, workers=2
    ).start()
    opened: list[Peer] = []
    try:
        agent = await connect_agent(server, database)
        opened.append(agent)
        agent_pid = worker_pid_of(server, local_port(agent))
        token = (await visitor_token(server.base_url))["token"]
        visitor = None
        pids = {agent_pid}
        for _ in range(40):  # the kernel picks the worker; open tabs until one lands elsewhere
            tab = await connect_visitor(server, token)
            opened.append(tab)
            pid = worker_pid_of(server, local_port(tab))
            pids.add(pid)
            if pid != agent_pid:
                visitor = tab
                break
        assert visitor is not None, f"40 sockets, all on worker {agent_pid}"
        print(f"\nworkers: agent on pid {agent_pid}, visitor on pid {pid}")
        await converse(visitor, agent)
    finally:
        for peer in opened:
            await peer.close()
        server.stop()


async def test_two_servers_on_different_ports_relay_a_conversation(
    database: str, tmp_path: Path
) -> None:
    """Figure: 2 separate servers (own ports, shared PostgreSQL and Redis); visitor on node
    A, agent on node B: messages, typing both ways and resolve cross; a second agent on node
    A sees the same messages once each."""
    a, b = start_nodes(2, database, REDIS_URL, tmp_path)
    try:
        visitor = await connect_visitor(a)
        agent = await connect_agent(b, database)
        watcher = await connect_agent(a, database)
        await converse(visitor, agent)
        conversation_id = agent.messages[0]["conversation_id"]
        await watcher.until(lambda: len(watcher.seqs(conversation_id)) >= 2, "both messages")
        assert watcher.seqs(conversation_id) == [1, 2]
        for peer in (visitor, agent, watcher):
            await peer.close()
    finally:
        a.stop()
        b.stop()
