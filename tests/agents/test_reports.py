"""Reports on hand-built conversations with known times, in process, on SQLite and
PostgreSQL: first response (all hours and within business hours across a weekend and a
daylight-saving change), resolution, missed, volume, CSAT, the breakdowns, and refusals."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from chat.models import spaces
from tests.agents.consoleclient import ConsoleAgent, console_agent, space_with_agents
from tests.agents.seeding import seed_conversation
from tests.inproc import App

pytestmark = pytest.mark.asyncio(loop_scope="module")

PARIS = ZoneInfo("Europe/Paris")


def paris(text: str) -> datetime:
    """A Paris wall-clock time, as the UTC instant the store keeps (as causette writes it)."""
    return datetime.fromisoformat(text).replace(tzinfo=PARIS).astimezone(UTC)


async def _space_clock(url: str, space: str) -> str:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                spaces.update()
                .where(spaces.c.key == space)
                .values(
                    time_zone="Europe/Paris",
                    business_hours={
                        d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")
                    },
                    holidays=["2026-12-25"],
                    missed_after_seconds=120,
                )
            )
            return (
                await conn.execute(sa.select(spaces.c.id).where(spaces.c.key == space))
            ).scalar_one()
    finally:
        await engine.dispose()


async def _seed(app: App, space: str, agent: ConsoleAgent) -> str:
    space_id = await _space_clock(app.database_url, space)
    url = app.database_url
    # Friday 17:50 to Monday 09:10, across the end of summer time (25 October 2026)
    await seed_conversation(
        url, space_id,
        [("visitor", paris("2026-10-23T17:50")), ("agent", paris("2026-10-26T09:10"))],
        agent_id=agent.id, tags=("billing",),
    )  # fmt: skip
    # a quick answer, resolved, rated 5, from a campaign's arm b
    await seed_conversation(
        url, space_id,
        [("visitor", paris("2026-10-27T10:00")), ("system", paris("2026-10-27T10:00:30")),
         ("agent", paris("2026-10-27T10:01")), ("visitor", paris("2026-10-27T10:02"))],
        agent_id=agent.id, resolved=paris("2026-10-27T10:30"), csat=5, tags=("billing", "vip"),
        campaign=("c-1", "b"),
    )  # fmt: skip
    # never answered: missed
    await seed_conversation(
        url,
        space_id,
        [("visitor", paris("2026-10-27T10:00"))],
        entry="https://shop.example/faq/ada@example.com?x=1",
    )
    # answered after 5 minutes: missed too (threshold 120 s); reopened once, rated 2
    await seed_conversation(
        url, space_id,
        [("visitor", paris("2026-10-28T10:00")), ("agent", paris("2026-10-28T10:05"))],
        agent_id=agent.id, resolved=paris("2026-10-28T11:00"), reopened=1, csat=2,
        campaign=("c-1", "holdout"),
    )  # fmt: skip
    return space_id


FRIDAY_TO_MONDAY = 64 * 3600 + 20 * 60  # 17:50 CEST (15:50Z) to 09:10 CET (08:10Z)


async def test_first_response_all_hours_and_business_hours(inproc: App) -> None:
    async with space_with_agents(inproc, "marketing") as (space, [marketing]):
        await _seed(inproc, space, marketing)
        # another space's conversations never count
        async with space_with_agents(inproc, "marketing") as (other, [stranger]):
            await _seed(inproc, other, stranger)
        r = await marketing.ok(
            "GET", f"/api/reports/first_response?space={space}&from=2026-10-19&to=2026-11-01"
        )
        assert r["report"] == "first_response" and r["time_zone"] == "Europe/Paris"
        total = r["total"]
        assert total["conversations"] == 4 and total["answered"] == 3
        durations = [FRIDAY_TO_MONDAY, 60, 300]
        business = [600 + 600, 60, 300]  # Fri 17:50-18:00 and Mon 09:00-09:10
        assert total["median_s"] == 300 and total["median_s_bh"] == 300
        assert total["mean_s"] == pytest.approx(np.mean(durations), abs=1e-3)
        assert total["p90_s"] == pytest.approx(np.percentile(durations, 90), abs=1e-3)
        assert total["mean_s_bh"] == pytest.approx(np.mean(business), abs=1e-3)
        assert total["p90_s_bh"] == pytest.approx(np.percentile(business, 90), abs=1e-3)

        by_week = await marketing.ok(
            "GET",
            f"/api/reports/first_response?space={space}&from=2026-10-19&to=2026-11-01&group=week",
        )
        assert [(row["period"], row["conversations"]) for row in by_week["rows"]] == [
            ("2026-10-19", 1),
            ("2026-10-26", 3),
        ]


async def test_resolution_missed_volume_csat_and_breakdowns(inproc: App) -> None:
    async with space_with_agents(inproc, "admin") as (space, [admin]):
        await _seed(inproc, space, admin)
        q = f"space={space}&from=2026-10-19&to=2026-11-01"
        res = (await admin.ok("GET", f"/api/reports/resolution?{q}"))["total"]
        assert (res["resolved"], res["reopened"], res["reopens"]) == (2, 1, 1)
        assert res["median_s"] == pytest.approx(np.median([1800, 3600]))
        missed = (await admin.ok("GET", f"/api/reports/missed?{q}"))["total"]
        assert (missed["missed"], missed["missed_rate"], missed["missed_after_s"]) == (3, 0.75, 120)
        volume = (await admin.ok("GET", f"/api/reports/volume?{q}"))["total"]
        assert (volume["messages"], volume["visitor_messages"], volume["agent_messages"]) == (
            9,
            5,
            3,
        )
        assert volume["messages_per_conversation_mean"] == 2.25
        assert volume["wait_median_s"] == 30
        assert volume["in_business_hours"] == 4  # Friday 17:50 is within business hours
        csat = (await admin.ok("GET", f"/api/reports/csat?{q}"))["total"]
        assert csat == {"asked": 2, "ratings": 2, "response_rate": 1.0, "score": 0.5, "mean": 3.5}

        tags = await admin.ok("GET", f"/api/reports/volume?{q}&by=tag")
        assert {(row["key"], row["conversations"]) for row in tags["rows"]} == {
            ("billing", 2), ("vip", 1), (None, 2)
        }  # fmt: skip
        arms = await admin.ok("GET", f"/api/reports/csat?{q}&by=arm")
        by_arm = {row["key"]: row for row in arms["rows"]}
        assert by_arm["c-1:b"]["score"] == 1.0 and by_arm["c-1:holdout"]["score"] == 0.0
        pages = await admin.ok("GET", f"/api/reports/overview?{q}&by=page")
        assert {row["key"]: row["conversations"] for row in pages["rows"]} == {
            "https://shop.example/promo": 3,
            "https://shop.example/faq/%5Bemail%5D": 1,  # [email]: redacted, as every report
        }
        agents = await admin.ok("GET", f"/api/reports/overview?{q}&by=agent")
        assert {row["label"] for row in agents["rows"]} == {"Admin 0", None}

        csv = await admin.call(
            "GET", f"/api/reports/first_response?{q}&group=day", headers={"accept": "text/csv"}
        )
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        header, *lines = csv.text.strip().splitlines()
        assert header.startswith("period,key,conversations,answered,median_s")
        assert len(lines) == 3  # 23, 27 and 28 October


async def test_relation_sees_its_own_and_other_spaces_are_not_found(inproc: App) -> None:
    async with space_with_agents(inproc, "relation", "marketing") as (space, [relation, marketing]):
        await _seed(inproc, space, marketing)  # assigned to the marketing agent
        q = f"space={space}&from=2026-10-19&to=2026-11-01"
        mine = await relation.ok("GET", f"/api/reports/overview?{q}")
        assert mine["scope"] == "mine" and mine["total"]["conversations"] == 0
        everyone = await marketing.ok("GET", f"/api/reports/overview?{q}")
        assert everyone["scope"] == "space" and everyone["total"]["conversations"] == 4
        outsider = await console_agent(inproc, role="admin", spaces=["default"])
        try:
            foreign = await outsider.call("GET", f"/api/reports/overview?{q}")
            missing = await outsider.call("GET", "/api/reports/overview?space=no-such-space")
            assert foreign.status_code == missing.status_code == 404
            assert foreign.json() == missing.json()
        finally:
            await outsider.close()
        for bad in ("group=month", "by=planet", "from=2026-13-01", "from=2026-11-02&to=2026-11-01"):
            r = await marketing.call("GET", f"/api/reports/overview?space={space}&{bad}")
            assert r.status_code == 400, bad
        assert (await marketing.call("GET", f"/api/reports/nothing?{q}")).status_code == 404
