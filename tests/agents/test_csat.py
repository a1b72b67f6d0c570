"""CSAT on a real server: asked when an agent resolves a conversation an agent replied in,
answered once, shown on the conversation, told to every tab and to agents; not asked when
nobody replied or when the space turned it off; and counted per arm in campaign results.
Also the attribution window of a campaign goal."""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from agents.models import exposures
from chat.clock import utcnow
from chat.db import Database
from chat.models import spaces
from chat.spaces import update_space
from tests.agents.consoleclient import open_visitor, space_with_agents
from tests.servers import ServerProcess
from tests.wsclient import ChatClient, connect_visitor


async def _reply_and_resolve(agent_socket: ChatClient, conversation_id: str) -> None:
    await agent_socket.say("Sorted, have a nice day!", conversation_id=conversation_id)
    await agent_socket.send({"type": "resolve", "conversation_id": conversation_id})


async def test_rating_is_asked_given_once_and_shown(server: ServerProcess) -> None:
    async with space_with_agents(server, "relation", "marketing") as (space, [agent, marketing]):
        socket = await agent.socket()
        visitor, conv = await open_visitor(server, space, "My slip is stuck")
        tab = await connect_visitor(server, visitor.hello_token, space=space)
        await _reply_and_resolve(socket, conv)
        ask = await visitor.expect("csat", conversation_id=conv)
        assert ask["score"] is None and ask["until"] > utcnow().isoformat()[:19]
        await tab.expect("csat", conversation_id=conv, score=None)

        await visitor.send(
            {"type": "csat", "conversation_id": conv, "score": 4, "comment": "  Quick! "}
        )
        given = await visitor.expect("csat", conversation_id=conv, score=4)
        assert given["comment"] == "Quick!"
        await tab.expect("csat", conversation_id=conv, score=4)
        await socket.expect("csat", conversation_id=conv, score=4)

        detail = await agent.ok("GET", f"/api/conversations/{conv}")
        assert detail["csat"]["score"] == 4 and detail["csat"]["comment"] == "Quick!"
        assert detail["csat"]["agent_id"] == agent.id  # the last agent who replied

        await visitor.send({"type": "csat", "conversation_id": conv, "score": 1})
        refused = await visitor.expect("error")
        assert refused["code"] == "not_allowed"
        assert (await agent.ok("GET", f"/api/conversations/{conv}"))["csat"]["score"] == 4

        mine = await agent.ok("GET", f"/api/csat?space={space}")
        assert "overall" not in mine  # a relation agent sees its own figures only
        assert mine["agents"] == [
            {"agent_id": agent.id, "name": "Relation 0", "asked": 1, "ratings": 1,
             "response_rate": 1.0, "score": 1.0, "mean": 4.0}
        ]  # fmt: skip
        everyone = await marketing.ok("GET", f"/api/csat?space={space}")
        assert everyone["overall"]["ratings"] == 1 and everyone["teams"] == []
        bad = await marketing.call("GET", f"/api/csat?space={space}&from=yesterday")
        assert bad.status_code == 400

        # a new page within the week is not asked again: it is answered
        later = await connect_visitor(server, visitor.hello_token, space=space)
        await later.send({"type": "ping"})
        await later.expect("pong")
        assert not [f for f in later.frames if f["type"] == "csat"]
        for s in (visitor, tab, later):
            await s.close()


async def test_not_asked_without_a_reply_or_when_the_space_says_no(
    server: ServerProcess,
) -> None:
    async with space_with_agents(server, "relation") as (space, [agent]):
        socket = await agent.socket()
        visitor, conv = await open_visitor(server, space, "Never mind")
        await socket.send({"type": "resolve", "conversation_id": conv})
        await visitor.expect("conversation", conversation_id=conv, status="resolved")
        await visitor.send({"type": "csat", "conversation_id": conv, "score": 5})
        assert (await visitor.expect("error"))["code"] == "not_allowed"
        assert not [f for f in visitor.frames if f["type"] == "csat"]

        db = Database(server.database_url)
        try:
            await update_space(db, space, name=None, origins=None, csat=False)
        finally:
            await db.dispose()
        other, conv2 = await open_visitor(server, space, "Hello again")
        await _reply_and_resolve(socket, conv2)
        await other.expect("conversation", conversation_id=conv2, status="resolved")
        await other.send({"type": "ping"})
        await other.expect("pong")
        assert not [f for f in other.frames if f["type"] == "csat"]
        # somebody else's conversation is not found, like one that does not exist
        await other.send({"type": "csat", "conversation_id": conv, "score": 5})
        assert (await other.expect("error"))["code"] == "conversation_not_found"
        for s in (visitor, other):
            await s.close()


async def _expose_at(
    url: str, space: str, campaign_id: str, visitor_id: str, hours_ago: float, arm: str
) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            space_id = (
                await conn.execute(sa.select(spaces.c.id).where(spaces.c.key == space))
            ).scalar_one()
            await conn.execute(
                exposures.insert().values(
                    campaign_id=campaign_id,
                    phase=1,
                    space_id=space_id,
                    visitor_id=visitor_id,
                    arm=arm,
                    at=utcnow() - timedelta(hours=hours_ago),
                )
            )
    finally:
        await engine.dispose()


async def test_a_goal_counts_within_the_window_only_and_csat_per_arm(server: ServerProcess) -> None:
    body = {
        "name": "Window",
        "arms": [{"key": "a", "message": "Hi"}],
        "rules": {"all": []},
        "goal": {"event": "signup", "window_hours": 72},
        "secondary_goals": [{"csat": 4}],
    }
    async with space_with_agents(server, "marketing", "relation") as (space, [marketing, agent]):
        c = await marketing.ok("POST", "/api/campaigns", {"space": space, **body})
        await marketing.ok("POST", f"/api/campaigns/{c['id']}/launch")
        inside = await connect_visitor(server, space=space)
        outside = await connect_visitor(server, space=space)
        await inside.expect("campaign", campaign_id=c["id"])
        await outside.expect("campaign", campaign_id=c["id"])
        await _expose_at(server.database_url, space, c["id"], inside.welcome["visitor_id"], 71, "a")
        await _expose_at(
            server.database_url, space, c["id"], outside.welcome["visitor_id"], 73, "a"
        )
        for v in (inside, outside):
            await v.send({"type": "track", "event": "signup", "props": {"plan": "gold"}})
            await v.send({"type": "ping"})
            await v.expect("pong")
        results = await marketing.ok("GET", f"/api/campaigns/{c['id']}/results")
        (arm,) = results["arms"]
        assert (arm["exposed"], arm["converted"]) == (2, 1)

        # the visitor inside answers the invitation, is helped, and rates it 5
        await inside.send(
            {
                "type": "message",
                "client_id": str(uuid.uuid4()),
                "body": "Hi!",
                "campaign_id": c["id"],
            }
        )
        conv = (await inside.expect("ack"))["conversation_id"]
        socket = await agent.socket()
        await _reply_and_resolve(socket, conv)
        await inside.expect("csat", conversation_id=conv, score=None)
        await inside.send({"type": "csat", "conversation_id": conv, "score": 5})
        await inside.expect("csat", conversation_id=conv, score=5)
        results = await marketing.ok("GET", f"/api/campaigns/{c['id']}/results")
        (arm,) = results["arms"]
        assert arm["csat"] == {"ratings": 1, "score": 1.0, "mean": 5.0, "response_rate": 1.0}
        assert arm["metrics"]["csat ≥ 4"]["converted"] == 1
        for v in (inside, outside):
            await v.close()
