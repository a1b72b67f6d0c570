"""Campaigns on a real server: a launch reaches connected widgets, each visitor gets its own
sticky arm, exposures and goals are counted once per visitor and phase, an invitation's
answer carries its campaign, a kill withdraws it, and a socket that connects later gets the
current set."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.agents.consoleclient import ConsoleAgent, open_visitor, space_with_agents
from tests.servers import ServerProcess
from tests.wsclient import ChatClient, connect_visitor

CAMPAIGN = {
    "name": "Delivery nudge",
    "arms": [
        {"key": "a", "weight": 1, "message": "Questions about delivery?"},
        {"key": "b", "weight": 1, "message": "Free delivery today!", "buttons": ["Tell me"]},
    ],
    "holdout": 0.1,
    "rules": {"all": [{"url": "https://shop.example/promo/*"}]},
    "goal": {"event": "checkout", "window_hours": 72},
    "secondary_goals": [{"replied": True}],
}


async def _launched(marketing: ConsoleAgent, space: str, **extra: Any) -> dict[str, Any]:
    created = await marketing.ok("POST", "/api/campaigns", {"space": space, **CAMPAIGN, **extra})
    assert created["status"] == "draft" and created["phase"] == 0
    live = await marketing.ok("POST", f"/api/campaigns/{created['id']}/launch")
    assert live["status"] == "live" and live["phase"] == 1
    return live


async def _offer(visitor: ChatClient, campaign_id: str) -> dict[str, Any]:
    return await visitor.expect("campaign", timeout=5, campaign_id=campaign_id)


async def _status_says_campaigns(server: ServerProcess, space: str) -> bool:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        r = await http.get(f"/api/spaces/{space}/status")
        r.raise_for_status()
        return bool(r.json()["campaigns"])


async def test_launch_reaches_open_widgets_and_later_ones(server: ServerProcess) -> None:
    async with space_with_agents(server, "marketing") as (space, [marketing]):
        early = await connect_visitor(server, space=space)
        assert await _status_says_campaigns(server, space) is False
        campaign = await _launched(marketing, space)
        offer = await _offer(early, campaign["id"])
        # a widget of a visitor who never wrote learns from the status that it should connect
        assert await _status_says_campaigns(server, space) is True
        assert offer["phase"] == 1 and offer["rules"] == CAMPAIGN["rules"]
        assert offer["arm"] in ("a", "b", "holdout")
        assert (offer["message"] is None) == (offer["arm"] == "holdout")
        late = await connect_visitor(server, space=space)
        assert (await _offer(late, campaign["id"]))["phase"] == 1

        # the same visitor, another tab: the same arm
        tab = await connect_visitor(server, early.hello_token, space=space)
        assert (await _offer(tab, campaign["id"]))["arm"] == offer["arm"]

        await marketing.ok("POST", f"/api/campaigns/{campaign['id']}/kill")
        for socket in (early, late, tab):
            gone = await _offer(socket, campaign["id"])
            assert gone == {"type": "campaign", "campaign_id": campaign["id"], "withdrawn": True}
        assert await _status_says_campaigns(server, space) is False
        again = await connect_visitor(server, space=space)
        await again.send({"type": "ping"})
        await again.expect("pong")
        assert not [f for f in again.frames if f["type"] == "campaign"]
        for socket in (early, late, tab, again):
            await socket.close()


async def test_exposure_goal_and_reply_are_counted(server: ServerProcess) -> None:
    async with space_with_agents(server, "marketing") as (space, [marketing]):
        campaign = await _launched(marketing, space, holdout=0)
        visitor = await connect_visitor(server, space=space)
        offer = await _offer(visitor, campaign["id"])
        for _ in range(2):  # a second report changes nothing
            await visitor.send({"type": "exposure", "campaign_id": campaign["id"], "phase": 1})
        await visitor.send({"type": "track", "event": "checkout", "props": {"total": 42}})
        await visitor.send(
            {
                "type": "message",
                "client_id": "4f2b1d5e-0000-4000-8000-000000000001",
                "body": "Tell me",
                "campaign_id": campaign["id"],
            }
        )
        ack = await visitor.expect("ack")
        await visitor.send({"type": "ping"})
        await visitor.expect("pong")
        results = await marketing.ok("GET", f"/api/campaigns/{campaign['id']}/results")
        arms = {a["key"]: a for a in results["arms"]}
        assert arms[offer["arm"]]["exposed"] == 1
        assert arms[offer["arm"]]["converted"] == 1
        assert arms[offer["arm"]]["metrics"]["replied"]["converted"] == 1
        assert sum(a["exposed"] for a in results["arms"]) == 1
        detail = await marketing.ok("GET", f"/api/conversations/{ack['conversation_id']}")
        assert detail["conversation"]["campaign"] == {
            "id": campaign["id"],
            "phase": 1,
            "arm": offer["arm"],
        }
        assert detail["campaign"] == {
            **detail["conversation"]["campaign"],
            "name": "Delivery nudge",
        }
        await visitor.close()


async def test_unknown_or_foreign_campaign_exposure_is_refused(server: ServerProcess) -> None:
    async with (
        space_with_agents(server, "marketing") as (space, [marketing]),
        space_with_agents(server, "marketing") as (other, _),
    ):
        campaign = await _launched(marketing, space)
        stranger = await connect_visitor(server, space=other)
        await stranger.send({"type": "exposure", "campaign_id": campaign["id"], "phase": 1})
        error = await stranger.expect("error")
        assert error["code"] == "campaign_not_found"
        assert not [f for f in stranger.frames if f["type"] == "campaign"]
        await stranger.close()


async def test_transcript_review_per_arm_and_blind(server: ServerProcess) -> None:
    async with space_with_agents(server, "marketing") as (space, [marketing]):
        campaign = await _launched(marketing, space, holdout=0)
        cid = campaign["id"]
        by_arm: dict[str, list[str]] = {"a": [], "b": []}
        sockets = []
        while min(len(v) for v in by_arm.values()) < 2:  # bounded: each arm is half of them
            assert len(sockets) < 40
            visitor = await connect_visitor(server, space=space)
            sockets.append(visitor)
            offer = await _offer(visitor, cid)
            await visitor.send({"type": "exposure", "campaign_id": cid, "phase": 1})
            ack = await visitor.say(f"Question from arm {offer['arm']}")
            by_arm[offer["arm"]].append(ack["conversation_id"])
        await marketing.ok(
            "PUT", f"/api/review-tags?space={space}", {"tags": ["Helpful", "off-topic"]}
        )
        only_a = await marketing.ok("GET", f"/api/campaigns/{cid}/transcripts?arm=a")
        assert {t["arm"] for t in only_a["transcripts"]} == {"a"}
        assert {t["conversation_id"] for t in only_a["transcripts"]} == set(by_arm["a"])
        assert only_a["transcripts"][0]["messages"][0]["body"] == "Question from arm a"

        blind = await marketing.ok("GET", f"/api/campaigns/{cid}/transcripts?blind=true")
        assert blind["blind"] is True and blind["review_tags"] == ["helpful", "off-topic"]
        assert all("arm" not in t for t in blind["transcripts"])
        seen = {t["conversation_id"] for t in blind["transcripts"]}
        assert seen & set(by_arm["a"]) and seen & set(by_arm["b"])

        target = by_arm["b"][0]
        tagged = await marketing.ok(
            "PUT", f"/api/campaigns/{cid}/transcripts/{target}/tags", {"tags": ["helpful"]}
        )
        assert tagged["tags"] == ["helpful"]
        bad = await marketing.call(
            "PUT", f"/api/campaigns/{cid}/transcripts/{target}/tags", {"tags": ["great"]}
        )
        assert bad.status_code == 400
        outsider, outsider_conv = await open_visitor(server, space, "not from the campaign")
        sockets.append(outsider)
        r = await marketing.call(
            "PUT", f"/api/campaigns/{cid}/transcripts/{outsider_conv}/tags", {"tags": ["helpful"]}
        )
        assert r.status_code == 404
        results = await marketing.ok("GET", f"/api/campaigns/{cid}/results")
        arms = {a["key"]: a for a in results["arms"]}
        assert arms["b"]["reviews"] == {"helpful": 1} and arms["a"]["reviews"] == {}
        for s in sockets:
            await s.close()


async def test_holdout_exposures_count_like_any_arm(server: ServerProcess) -> None:
    async with space_with_agents(server, "marketing") as (space, [marketing]):
        campaign = await _launched(marketing, space, holdout=0.5)
        cid = campaign["id"]
        sockets, arms = [], []
        while "holdout" not in arms or len(set(arms)) < 2:  # bounded below
            assert len(sockets) < 40
            visitor = await connect_visitor(server, space=space)
            sockets.append(visitor)
            offer = await _offer(visitor, cid)
            arms.append(offer["arm"])
            await visitor.send({"type": "exposure", "campaign_id": cid, "phase": 1})
        for s in sockets:
            await s.send({"type": "ping"})
            await s.expect("pong")
        results = await marketing.ok("GET", f"/api/campaigns/{cid}/results")
        counted = {a["key"]: a["exposed"] for a in results["arms"]}
        assert counted == {k: arms.count(k) for k in ("holdout", "a", "b")}
        assert results["control"] == "holdout"
        for s in sockets:
            await s.close()


async def test_start_and_end_times_are_kept_by_the_clock(server: ServerProcess) -> None:
    async with space_with_agents(server, "marketing") as (space, [marketing]):
        now = datetime.now(UTC)
        created = await marketing.ok(
            "POST",
            "/api/campaigns",
            {
                "space": space,
                **CAMPAIGN,
                "starts_at": (now + timedelta(seconds=2)).isoformat(),
                "ends_at": (now + timedelta(seconds=4)).isoformat(),
            },
        )
        launched = await marketing.ok("POST", f"/api/campaigns/{created['id']}/launch")
        assert launched["status"] == "scheduled"
        visitor = await connect_visitor(server, space=space)
        offer = await visitor.expect("campaign", timeout=6, campaign_id=created["id"])
        assert offer["phase"] == 1 and datetime.now(UTC) >= now + timedelta(seconds=2)
        gone = await visitor.expect("campaign", timeout=6, campaign_id=created["id"])
        assert gone["withdrawn"] is True and datetime.now(UTC) >= now + timedelta(seconds=4)
        detail = await marketing.ok("GET", f"/api/campaigns/{created['id']}")
        assert detail["status"] == "ended"
        await visitor.close()
