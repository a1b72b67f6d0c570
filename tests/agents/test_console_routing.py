"""Routing: auto-assignment by load and capacity, team queues, requeue after the grace
period, read receipts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.agents.consoleclient import open_visitor, space_with_agents
from tests.conftest import running_server
from tests.servers import ServerProcess

GRACE = 1.0


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server whose agents lose their chats one second after going offline."""
    tmp = tmp_path_factory.mktemp(f"routing-{request.param}")
    env = {"CAUSETTE_AGENT_OFFLINE_GRACE_SECONDS": str(GRACE)}
    with running_server(request.param, tmp, env) as proc:
        yield proc


async def test_new_conversations_go_to_the_least_busy_online_agent(
    server: ServerProcess,
) -> None:
    async with space_with_agents(server, "admin", "relation", "relation", "relation") as (
        space,
        (admin, small, large, away),
    ):
        await admin.ok("PATCH", f"/api/agents/{small.id}", {"max_chats": 1})
        await admin.ok("PATCH", f"/api/agents/{large.id}", {"max_chats": 2})
        watch = await admin.socket()  # the admin watches; it has capacity but goes away
        await watch.send({"type": "presence", "status": "away"})
        sockets = {a.id: await a.socket() for a in (small, large, away)}
        away_sock = sockets[away.id]
        await away_sock.send({"type": "presence", "status": "away"})
        await watch.expect("presence", agent_id=admin.id, status="away")
        await watch.expect("presence", agent_id=away.id, status="away")

        owners = []
        visitors = []
        for i in range(4):
            visitor, conv = await open_visitor(server, space, f"Question {i}")
            visitors.append(visitor)
            if i < 3:
                frame = await watch.expect("conversation", conversation_id=conv)
                owners.append(frame["assignee_id"])
        # least busy first: one each, then the only free seat; then nobody has one
        assert sorted(owners[:2]) == sorted([small.id, large.id])
        assert owners[2] == large.id
        queued = await admin.ok("GET", "/api/conversations", params={"view": "unassigned"})
        assert [c["last_message"]["body"] for c in queued["conversations"]] == ["Question 3"]
        counts = await large.ok("GET", "/api/inbox/counts")
        assert counts["counts"]["mine"] == 2
        for v in visitors:
            await v.close()


async def test_offline_past_the_grace_period_requeues_chats(server: ServerProcess) -> None:
    async with space_with_agents(server, "admin", "relation") as (space, (admin, agent)):
        await admin.ok("PATCH", f"/api/agents/{admin.id}", {"max_chats": 0})
        watch = await admin.socket()
        sock = await agent.socket()
        visitor, conv = await open_visitor(server, space, "Hello?")
        assigned = await watch.expect("conversation", conversation_id=conv)
        assert assigned["assignee_id"] == agent.id
        await sock.close()
        await watch.expect("presence", agent_id=agent.id, status="offline")
        back = await watch.expect("conversation", conversation_id=conv, timeout=GRACE + 10)
        assert back["assignee_id"] is None and back["status"] == "open"
        listed = await admin.ok("GET", "/api/conversations", params={"view": "unassigned"})
        assert conv in {c["id"] for c in listed["conversations"]}
        # coming back online takes the queue again
        agent.sockets.remove(sock)
        await agent.socket()
        again = await watch.expect("conversation", conversation_id=conv)
        assert again["assignee_id"] == agent.id
        await visitor.close()


async def test_a_short_disconnection_keeps_the_chats(server: ServerProcess) -> None:
    async with space_with_agents(server, "relation") as (space, (agent,)):
        first = await agent.socket()
        visitor, conv = await open_visitor(server, space, "Still there?")
        assert (await first.expect("conversation", conversation_id=conv))["assignee_id"] == agent.id
        second = await agent.socket()  # a reload: the new socket opens before the old closes
        await first.close()
        agent.sockets.remove(first)
        await second.send({"type": "ping"})
        await second.expect("pong")
        mine = await agent.ok("GET", "/api/conversations", params={"view": "mine"})
        assert [c["id"] for c in mine["conversations"]] == [conv]
        await visitor.close()


async def test_transfer_to_a_team_goes_to_an_online_member(server: ServerProcess) -> None:
    async with space_with_agents(server, "admin", "relation", "relation") as (
        space,
        (admin, first, member),
    ):
        team = await admin.ok("POST", "/api/teams", {"space": space, "name": "Experts"})
        await admin.ok("PATCH", f"/api/teams/{team['id']}", {"members": [member.id]})
        sock = await first.socket()
        visitor, conv = await open_visitor(server, space, "A hard one")
        assert (await sock.expect("conversation", conversation_id=conv))["assignee_id"] == first.id
        await member.socket()
        await sock.expect("presence", agent_id=member.id, status="online")
        moved = await first.ok(
            "POST", f"/api/conversations/{conv}/transfer", {"team_id": team["id"]}
        )
        assert moved["team_id"] == team["id"]
        queued = await sock.expect("conversation", conversation_id=conv, team_id=team["id"])
        assert queued["assignee_id"] is None
        final = await sock.expect("conversation", conversation_id=conv, assignee_id=member.id)
        assert final["team_id"] == team["id"]
        await visitor.close()


async def test_read_receipts_both_ways_and_unread_counts(server: ServerProcess) -> None:
    async with space_with_agents(server, "relation", "relation") as (space, (agent, teammate)):
        sock = await agent.socket()
        visitor, conv = await open_visitor(server, space, "One")
        await visitor.say("Two")
        entry = (await teammate.ok("GET", f"/api/conversations/{conv}"))["conversation"]
        assert entry["unread"] == 2
        await teammate.socket()
        tm_sock = teammate.sockets[0]
        await tm_sock.send({"type": "read", "conversation_id": conv, "seq": 99})
        seen = await sock.expect("read", conversation_id=conv)
        assert seen["reader"]["id"] == teammate.id and seen["seq"] == 2  # capped at the last
        got = await visitor.expect("read", conversation_id=conv)
        assert got["reader"]["kind"] == "agent"
        assert (await teammate.ok("GET", f"/api/conversations/{conv}"))["conversation"][
            "unread"
        ] == 0
        reply = await sock.say("Hello!", conversation_id=conv)
        await visitor.send({"type": "read", "conversation_id": conv, "seq": reply["seq"]})
        visitor_read = await sock.expect("read", conversation_id=conv)
        assert visitor_read["reader"] == {
            "kind": "visitor",
            "id": visitor.welcome["visitor_id"],
            "name": None,
        }
        detail = await agent.ok("GET", f"/api/conversations/{conv}")
        marks = {r["reader"]["id"]: r["seq"] for r in detail["reads"]}
        assert marks[visitor.welcome["visitor_id"]] == 3
        assert marks[agent.id] == 3  # replying marks read
        # a colleague's reply is not something the teammate has to read: still 0 unread,
        # until the visitor writes again
        entry = (await teammate.ok("GET", f"/api/conversations/{conv}"))["conversation"]
        assert (entry["last_seq"], entry["unread"]) == (3, 0)
        await visitor.say("Three")
        entry = (await teammate.ok("GET", f"/api/conversations/{conv}"))["conversation"]
        assert (entry["last_seq"], entry["unread"]) == (4, 1)
        listed = [  # the inbox list says the same to the agent who replied
            e["unread"]
            for view in ("mine", "unassigned")
            for e in (await agent.ok("GET", f"/api/conversations?view={view}"))["conversations"]
            if e["id"] == conv
        ]
        assert listed == [1]
        await visitor.close()
