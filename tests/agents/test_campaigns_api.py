"""The campaign routes' contract, in process, on SQLite and PostgreSQL: who may call them,
what a bad body gets, versions and phases, and the results of a seeded experiment checked
against independently computed values (scipy)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from scipy import stats as sps
from sqlalchemy.ext.asyncio import create_async_engine

from agents.models import conversions, exposures
from chat.clock import utcnow
from chat.models import spaces, visitors
from tests.agents.consoleclient import ConsoleAgent, console_agent, space_with_agents
from tests.inproc import App

pytestmark = pytest.mark.asyncio(loop_scope="module")

BODY: dict[str, Any] = {
    "name": "Promo nudge",
    "arms": [
        {"key": "a", "weight": 1, "message": "Need help with your order?"},
        {"key": "b", "weight": 1, "message": "Free delivery today!", "sender": "Ada"},
    ],
    "holdout": 0.1,
    "rules": {"url": "https://shop.example/promo/*"},
    "goal": {"event": "checkout", "window_hours": 72},
}


async def _create(agent: ConsoleAgent, space: str, **extra: Any) -> dict[str, Any]:
    r = await agent.call("POST", "/api/campaigns", {"space": space, **BODY, **extra})
    assert r.status_code == 201, r.text
    return r.json()


async def test_create_read_list_and_the_draft_shape(inproc: App) -> None:
    async with space_with_agents(inproc, "marketing") as (space, [marketing]):
        created = await _create(marketing, space)
        assert created["status"] == "draft" and created["phase"] == 0 and created["version"] == 1
        assert created["space"] == space and created["holdout"] == 0.1
        assert created["caps"] == {
            "per_session": 1,
            "per_visitor": None,
            "per_day": None,
            "cooldown_hours": 24.0,
            "open_conversation": "skip",
        }
        listed = await marketing.ok("GET", f"/api/campaigns?space={space}")
        assert [c["id"] for c in listed["campaigns"]] == [created["id"]]
        detail = await marketing.ok("GET", f"/api/campaigns/{created['id']}")
        assert detail["versions"][0]["action"] == "create"
        assert detail["versions"][0]["agent_id"] == marketing.id


async def test_relation_gets_403_everywhere_and_other_spaces_404(inproc: App) -> None:
    async with space_with_agents(inproc, "marketing", "relation", "admin") as (
        space,
        [marketing, relation, admin],
    ):
        campaign = await _create(marketing, space)
        cid = campaign["id"]
        routes = [
            ("POST", "/api/campaigns", {"space": space, **BODY}),
            ("GET", "/api/campaigns", None),
            ("GET", f"/api/campaigns/{cid}", None),
            ("PATCH", f"/api/campaigns/{cid}", {"name": "x"}),
            ("POST", f"/api/campaigns/{cid}/launch", None),
            ("POST", f"/api/campaigns/{cid}/pause", None),
            ("POST", f"/api/campaigns/{cid}/kill", None),
            ("GET", f"/api/campaigns/{cid}/results", None),
            ("GET", f"/api/campaigns/{cid}/charts/rate", None),
        ]
        for method, path, body in routes:
            r = await relation.call(method, path, body)
            assert r.status_code == 403, (method, path, r.text)
            assert r.json()["error"]["code"] == "not_allowed"
        assert (await admin.call("GET", f"/api/campaigns/{cid}")).status_code == 200

        outsider = await console_agent(inproc, role="marketing", spaces=["default"])
        try:
            missing = f"/api/campaigns/{uuid.uuid4()}"
            for method, path, body in routes[2:]:
                foreign = await outsider.call(method, path, body)
                absent = await outsider.call(method, path.replace(cid, missing[15:]), body)
                assert foreign.status_code == absent.status_code == 404, (path, foreign.text)
                assert foreign.json() == absent.json()
            r = await outsider.call("POST", "/api/campaigns", {"space": space, **BODY})
            assert r.status_code == 404
            listed = await outsider.ok("GET", "/api/campaigns")
            assert cid not in [c["id"] for c in listed["campaigns"]]
        finally:
            await outsider.close()


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"arms": []}, "arms"),
        ({"arms": [{"key": "holdout", "message": "x"}]}, "arms.0.key"),
        ({"arms": [{"key": "a", "message": "x"}, {"key": "a", "message": "y"}]}, "arms"),
        ({"arms": [{"key": "a", "weight": -1, "message": "x"}]}, "arms.0.weight"),
        ({"arms": [{"key": "a", "message": "x", "buttons": ["1", "2", "3", "4", "5"]}]}, "arms"),
        ({"holdout": 1}, "holdout"),
        ({"holdout": "0.1"}, "holdout"),
        ({"goal": {"event": "x", "url": "/y"}}, "goal"),
        ({"goal": {"window_hours": 72}}, "goal"),
        ({"rules": {"hours": {"from": "25:00", "to": "09:00"}}}, "rules"),
        ({"rules": {"shout": True}}, "rules"),
        ({"caps": {"open_conversation": "maybe"}}, "caps.open_conversation"),
        ({"starts_at": "2026-12-01T10:00:00"}, "starts_at"),
        ({"surprise": 1}, "surprise"),
    ],
)
async def test_a_bad_body_is_a_clear_400_and_nothing_is_stored(
    inproc: App, change: dict[str, Any], where: str
) -> None:
    async with space_with_agents(inproc, "marketing") as (space, [marketing]):
        r = await marketing.call("POST", "/api/campaigns", {"space": space, **BODY, **change})
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert error["code"] in ("invalid_request", "invalid_rule")
        assert where.split(".")[0] in error["message"], error
        listed = await marketing.ok("GET", f"/api/campaigns?space={space}")
        assert listed["campaigns"] == []


async def test_a_hostile_rule_is_refused_quickly(inproc: App) -> None:
    async with space_with_agents(inproc, "marketing") as (space, [marketing]):
        deep: dict[str, Any] = {"url": "/x"}
        for _ in range(12):  # deeper than rules go (the JSON reader stops 32 levels down)
            deep = {"not": deep}
        wide = {"any": [{"url": "*a" * 100}] * 60}  # more conditions than a rule may hold
        for rules in (deep, wide):
            r = await marketing.call(
                "POST", "/api/campaigns", {"space": space, **BODY, "rules": rules}
            )
            assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_rule", r.text


async def test_lifecycle_versions_and_phases(inproc: App) -> None:
    async with space_with_agents(inproc, "marketing") as (space, [marketing]):
        c = await _create(marketing, space)
        cid = c["id"]
        # a draft's edits do not start phases
        draft = await marketing.ok("PATCH", f"/api/campaigns/{cid}", {"holdout": 0.2})
        assert draft["phase"] == 0 and draft["version"] == 2
        live = await marketing.ok("POST", f"/api/campaigns/{cid}/launch")
        assert (live["status"], live["phase"]) == ("live", 1)
        renamed = await marketing.ok("PATCH", f"/api/campaigns/{cid}", {"name": "Renamed"})
        assert renamed["phase"] == 1  # a name is not what visitors are shown
        retargeted = await marketing.ok(
            "PATCH", f"/api/campaigns/{cid}", {"rules": {"url": "https://shop.example/sale/*"}}
        )
        assert retargeted["phase"] == 2
        goals = await marketing.call("PATCH", f"/api/campaigns/{cid}", {"goal": {"replied": True}})
        assert goals.status_code == 409 and goals.json()["error"]["code"] == "goals_fixed"
        paused = await marketing.ok("POST", f"/api/campaigns/{cid}/pause")
        assert paused["status"] == "paused"
        assert (await marketing.ok("POST", f"/api/campaigns/{cid}/launch"))["status"] == "live"
        killed = await marketing.ok("POST", f"/api/campaigns/{cid}/kill")
        assert killed["status"] == "ended"
        for action in ("launch", "pause", "kill"):
            r = await marketing.call("POST", f"/api/campaigns/{cid}/{action}")
            assert r.status_code == 409, action
        r = await marketing.call("PATCH", f"/api/campaigns/{cid}", {"name": "Again"})
        assert r.status_code == 409
        detail = await marketing.ok("GET", f"/api/campaigns/{cid}")
        actions = [v["action"] for v in reversed(detail["versions"])]
        assert actions == [
            "create", "update", "launch", "update", "update", "pause", "launch", "kill"
        ]  # fmt: skip
        assert detail["versions"][-1]["changes"] == {"name": [None, "Promo nudge"]}
        retarget = next(
            v for v in detail["versions"] if v["phase"] == 2 and v["action"] == "update"
        )
        assert retarget["changes"]["rules"][1] == {"url": "https://shop.example/sale/*"}
        phases = detail["phases"]
        assert [p["phase"] for p in phases] == [1, 2]
        assert phases[0]["ended_at"] is not None and phases[1]["ended_at"] is not None
        assert phases[0]["definition"]["rules"] == {"url": "https://shop.example/promo/*"}


async def test_schedule_in_the_future_then_past_its_end(inproc: App) -> None:
    async with space_with_agents(inproc, "marketing") as (space, [marketing]):
        start = (utcnow() + timedelta(days=1)).isoformat().replace("+00:00", "Z")
        c = await _create(marketing, space, starts_at=start)
        launched = await marketing.ok("POST", f"/api/campaigns/{c['id']}/launch")
        assert launched["status"] == "scheduled"
        bad = await marketing.call(
            "PATCH", f"/api/campaigns/{c['id']}", {"ends_at": "2020-01-01T00:00:00Z"}
        )
        assert bad.status_code == 409 and bad.json()["error"]["code"] == "invalid_window"


async def _seed(url: str, space: str, campaign_id: str, counts: dict[str, tuple[int, int]]) -> None:
    """``counts``: arm -> (exposed, converted) rows straight into the store."""
    engine = create_async_engine(url)
    now = utcnow()
    try:
        async with engine.begin() as conn:
            space_id = (
                await conn.execute(sa.select(spaces.c.id).where(spaces.c.key == space))
            ).scalar_one()
            for arm, (exposed, converted) in counts.items():
                ids = [str(uuid.uuid4()) for _ in range(exposed)]
                await conn.execute(
                    visitors.insert(),
                    [{"id": v, "space_id": space_id, "created_at": now} for v in ids],
                )
                await conn.execute(
                    exposures.insert(),
                    [
                        {
                            "campaign_id": campaign_id,
                            "phase": 1,
                            "space_id": space_id,
                            "visitor_id": v,
                            "arm": arm,
                            "at": now,
                        }
                        for v in ids
                    ],
                )
                await conn.execute(
                    conversions.insert(),
                    [
                        {
                            "campaign_id": campaign_id,
                            "phase": 1,
                            "visitor_id": v,
                            "goal": 0,
                            "arm": arm,
                            "at": now,
                        }
                        for v in ids[:converted]
                    ],
                )
    finally:
        await engine.dispose()


async def test_results_of_a_seeded_experiment_match_independent_values(inproc: App) -> None:
    counts = {"holdout": (110, 11), "a": (480, 62), "b": (510, 97)}
    async with space_with_agents(inproc, "marketing") as (space, [marketing]):
        c = await _create(marketing, space)
        await marketing.ok("POST", f"/api/campaigns/{c['id']}/launch")
        await _seed(inproc.database_url, space, c["id"], counts)
        results = await marketing.ok("GET", f"/api/campaigns/{c['id']}/results")
        assert results["phase"] == 1 and results["control"] == "holdout"
        arms = {a["key"]: a for a in results["arms"]}
        assert set(arms) == set(counts)
        for key, (n, x) in counts.items():
            assert (arms[key]["exposed"], arms[key]["converted"]) == (n, x)
            assert arms[key]["rate"] == pytest.approx(x / n, abs=1e-6)
            ref = sps.binomtest(x, n).proportion_ci(method="wilson")
            assert arms[key]["ci"] == pytest.approx([ref.low, ref.high], abs=1e-6)
        # sample ratio: 110 / 480 / 510 against 10 % / 45 % / 45 %
        ref_srm = sps.chisquare([110, 480, 510], [110.0, 495.0, 495.0])
        assert results["srm"]["p_value"] == pytest.approx(ref_srm.pvalue, rel=1e-4)
        assert results["srm"]["warn"] is False and results["srm"]["flag"] is False
        lift_b = next(lift for lift in results["lift"] if lift["arm"] == "b")
        assert lift_b["control"] == "holdout"
        assert lift_b["absolute"] == pytest.approx(97 / 510 - 11 / 110, abs=1e-6)
        assert results["verdict"]["code"] in ("better", "no_difference", "not_enough_data")
        assert results["verdict"]["code"] == "not_enough_data"  # the holdout has 11 < 25
        assert "sequential" in results["method"]

        assert "series" not in results  # the costly part, for who asks (the charts do)
        over_time = await marketing.ok("GET", f"/api/campaigns/{c['id']}/results?series=true")
        last = {arm: points[-1] for arm, points in over_time["series"]["rate"].items()}
        assert {k: (p["exposed"], p["converted"]) for k, p in last.items()} == counts
        assert over_time["series"]["unit"] == "hour" and set(over_time["series"]["lift"]) == {
            "a",
            "b",
        }
        csv = await marketing.call("GET", f"/api/campaigns/{c['id']}/results?format=csv")
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        rows = [line.split(",") for line in csv.text.strip().splitlines()]
        assert rows[0][:5] == ["phase", "arm", "metric", "exposed", "converted"]
        assert {(r[1], r[3], r[4]) for r in rows[1:]} == {
            (k, str(n), str(x)) for k, (n, x) in counts.items()
        }
        for chart in ("rate", "lift"):
            svg = await marketing.call("GET", f"/api/campaigns/{c['id']}/charts/{chart}")
            assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
            assert "<title" in svg.text and "<desc" in svg.text
        assert (
            "97 of 510"
            in (await marketing.call("GET", f"/api/campaigns/{c['id']}/charts/rate")).text
        )
