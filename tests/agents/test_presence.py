"""Presence: online on connect, away when set, offline when the last socket closes."""

from __future__ import annotations

from tests.conftest import new_agent, new_space
from tests.servers import ServerProcess
from tests.wsclient import ChatClient, agent_token


async def _agent(server: ServerProcess, space: str, name: str) -> tuple[ChatClient, str]:
    email, password = await new_agent(server.database_url, spaces=[space], name=name)
    token = await agent_token(server.base_url, email, password)
    client = await ChatClient.connect(server.ws_url, "/ws/agent", token)
    return client, client.welcome["agent"]["id"]


async def test_teammate_sees_presence_changes(server: ServerProcess) -> None:
    space = await new_space(server.database_url)
    alice, alice_id = await _agent(server, space, "Alice")
    bob, bob_id = await _agent(server, space, "Bob")
    assert {"agent_id": alice_id, "name": "Alice", "status": "online"} in bob.welcome["presence"]
    await alice.expect("presence", agent_id=bob_id, status="online")

    await bob.send({"type": "presence", "status": "away"})
    await alice.expect("presence", agent_id=bob_id, status="away")

    second, _ = await _agent_socket_again(server, bob)
    await bob.close()  # one of two sockets: still away, not offline
    await second.close()
    await alice.expect("presence", agent_id=bob_id, status="offline")
    offline_index = next(
        i
        for i, f in enumerate(alice.frames)
        if f.get("type") == "presence" and f.get("status") == "offline"
    )
    statuses = [
        f["status"]
        for f in alice.frames[:offline_index]
        if f.get("type") == "presence" and f["agent_id"] == bob_id
    ]
    assert statuses == ["online", "away"]
    await alice.close()


async def _agent_socket_again(server: ServerProcess, client: ChatClient) -> tuple[ChatClient, str]:
    """A second socket of the same agent, reusing its token from the first hello."""
    token = client.hello_token
    again = await ChatClient.connect(server.ws_url, "/ws/agent", token)
    return again, again.welcome["agent"]["id"]


async def test_agents_of_other_spaces_never_see_presence(server: ServerProcess) -> None:
    retail = await new_space(server.database_url)
    online = await new_space(server.database_url)
    watcher, _ = await _agent(server, retail, "Watcher")
    other, other_id = await _agent(server, online, "Other")
    same, same_id = await _agent(server, retail, "Same")
    await watcher.expect("presence", agent_id=same_id, status="online")
    assert all(f.get("agent_id") != other_id for f in watcher.frames)
    assert all(p["agent_id"] != other_id for p in same.welcome["presence"])
    for c in (watcher, other, same):
        await c.close()


async def test_an_agent_in_two_spaces_hears_each_change_once(server: ServerProcess) -> None:
    online = await new_space(server.database_url)
    retail = await new_space(server.database_url)
    email, password = await new_agent(server.database_url, spaces=[online, retail], name="Both")
    both = await ChatClient.connect(
        server.ws_url, "/ws/agent", await agent_token(server.base_url, email, password)
    )
    email2, password2 = await new_agent(server.database_url, spaces=[online, retail], name="Mate")
    teammate = await ChatClient.connect(
        server.ws_url, "/ws/agent", await agent_token(server.base_url, email2, password2)
    )
    teammate_id = teammate.welcome["agent"]["id"]
    await both.expect("presence", agent_id=teammate_id, status="online")
    await teammate.send({"type": "presence", "status": "away"})
    await both.expect("presence", agent_id=teammate_id, status="away")
    await both.send({"type": "ping"})
    await both.expect("pong")  # everything the server queued before the pong has arrived
    changes = [f["status"] for f in both.frames if f.get("agent_id") == teammate_id]
    assert changes == ["online", "away"]
    await teammate.close()
    await both.close()
