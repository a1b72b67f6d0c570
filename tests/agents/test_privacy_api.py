"""The privacy routes' contract, in process, on SQLite and PostgreSQL: admins only, another
space's visitor or hold is "not found" like one that does not exist, holds need a reason,
the retention policy and its dry run, erasure and the access export (JSON and zip), and the
audit trail with its filters and JSON lines, the sign-ins included."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import timedelta

import pytest

from chat.clock import iso, utcnow
from chat.db import Database
from chat.spaces import list_spaces
from tests.agents.consoleclient import console_agent, space_with_agents
from tests.inproc import App
from tests.privacy_seed import live, space_id

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_only_admins_of_the_space_reach_the_privacy_routes(inproc: App) -> None:
    async with space_with_agents(inproc, "admin", "marketing") as (space, [admin, marketing]):
        async with space_with_agents(inproc, "admin") as (other, [stranger]):
            db = Database(inproc.database_url)
            try:
                life = await live(db, await space_id(db, space), utcnow())
            finally:
                await db.dispose()
            routes = [
                ("POST", f"/api/visitors/{life.visitor_id}/erase", {}),
                ("GET", f"/api/visitors/{life.visitor_id}/export", None),
                ("GET", "/api/audit", None),
                ("GET", "/api/holds", None),
                ("POST", "/api/holds", {"space": space, "scope": "space", "reason": "x"}),
                ("GET", f"/api/spaces/{space}/retention", None),
                ("PUT", f"/api/spaces/{space}/retention", {"messages": 30}),
            ]
            for method, path, body in routes:
                r = await marketing.call(method, path, body)
                assert r.status_code == 403, (method, path, r.text)
                assert r.json()["error"]["code"] == "not_allowed"
            # an admin of another space: the visitor and the space do not exist for it
            for method, path, body in routes[:2] + routes[4:]:
                r = await stranger.call(method, path, body)
                assert r.status_code == 404, (method, path, r.text)
            missing = await stranger.call("POST", "/api/visitors/nobody/erase", {})
            foreign = await stranger.call("POST", f"/api/visitors/{life.visitor_id}/erase", {})
            assert missing.content == foreign.content
            assert (await stranger.ok("GET", f"/api/spaces/{other}/retention"))["space"] == other
            # and the admin of the space can
            assert (await admin.ok("GET", f"/api/visitors/{life.visitor_id}/export"))[
                "visitor_id"
            ] == life.visitor_id


async def test_retention_policy_dry_run_and_preview(inproc: App) -> None:
    async with space_with_agents(inproc, "admin") as (space, [admin]):
        db = Database(inproc.database_url)
        try:
            sid = await space_id(db, space)
            await live(db, sid, utcnow() - timedelta(days=45), messages_n=3)
            await live(db, sid, utcnow() - timedelta(days=10), messages_n=2)
        finally:
            await db.dispose()
        empty = await admin.ok("GET", f"/api/spaces/{space}/retention")
        assert empty["policy"] == {
            "messages": None,
            "profiles": None,
            "events": None,
            "audit": None,
        }
        assert empty["dry_run"]["counts"] == {}
        preview = await admin.ok("GET", f"/api/spaces/{space}/retention?messages=30&events=30")
        assert preview["preview"]["messages"] == 30
        assert preview["dry_run"]["counts"]["conversations"] == 1
        assert preview["dry_run"]["counts"]["messages"] == 3
        assert preview["dry_run"]["counts"]["goal_events"] == 1
        assert preview["policy"]["messages"] is None  # a preview sets nothing

        bad = await admin.call("PUT", f"/api/spaces/{space}/retention", {"messages": 0})
        assert bad.status_code == 400
        bad = await admin.call("PUT", f"/api/spaces/{space}/retention", {"chats": 3})
        assert bad.status_code == 400
        bad = await admin.call("GET", f"/api/spaces/{space}/retention?messages=lots")
        assert bad.status_code == 400 and "messages" in bad.json()["error"]["message"]

        put = await admin.call("PUT", f"/api/spaces/{space}/retention", {"messages": 5})
        saved = put.json()
        assert saved["policy"]["messages"] == 5
        assert saved["dry_run"]["counts"]["conversations"] == 2
        log = await admin.ok("GET", f"/api/audit?space={space}&action=retention.update")
        [entry] = log["entries"]
        assert entry["diff"] == {"messages": [None, 5]}
        assert entry["actor"]["name"] == "Admin 0" and entry["actor"]["ip"] == "127.0.0.1"
        assert entry["request_id"] == put.headers["x-request-id"]  # and in its log lines


async def test_holds_over_rest(inproc: App) -> None:
    async with space_with_agents(inproc, "admin") as (space, [admin]):
        async with space_with_agents(inproc, "admin") as (_, [stranger]):
            no_reason = await admin.call(
                "POST", "/api/holds", {"space": space, "scope": "space", "reason": "  "}
            )
            assert no_reason.status_code == 400
            assert no_reason.json()["error"]["message"] == "A hold needs a reason."
            bad_range = await admin.call(
                "POST",
                "/api/holds",
                {"space": space, "scope": "range", "since": "tomorrow", "reason": "r"},
            )
            assert bad_range.status_code == 400
            nobody = await admin.call(
                "POST",
                "/api/holds",
                {"space": space, "scope": "visitor", "visitor_id": "nobody", "reason": "r"},
            )
            assert nobody.status_code == 404
            since = iso(utcnow() - timedelta(days=3))
            r = await admin.call(
                "POST",
                "/api/holds",
                {"space": space, "scope": "range", "since": since, "reason": "case 12"},
            )
            assert r.status_code == 201, r.text
            hold = r.json()
            assert hold["active"] and hold["placed_by"] == "Admin 0" and hold["since"] == since
            assert [h["id"] for h in (await admin.ok("GET", "/api/holds"))["holds"]] == [hold["id"]]
            assert (await stranger.ok("GET", "/api/holds"))["holds"] == []
            r = await stranger.call("DELETE", f"/api/holds/{hold['id']}")
            assert r.status_code == 404
            released = await admin.ok("DELETE", f"/api/holds/{hold['id']}?reason=closed")
            assert released["active"] is False and released["released_by"] == "Admin 0"
            log = await admin.ok("GET", f"/api/audit?space={space}&action=hold.")
            assert [(e["action"], e["reason"]) for e in log["entries"]] == [
                ("hold.release", "closed"),
                ("hold.place", "case 12"),
            ]


async def test_erasure_and_access_export_over_rest(inproc: App) -> None:
    async with space_with_agents(inproc, "admin") as (space, [admin]):
        db = Database(inproc.database_url)
        try:
            sid = await space_id(db, space)
            one = await live(db, sid, utcnow(), messages_n=3)
            two = await live(db, sid, utcnow(), messages_n=1)
        finally:
            await db.dispose()
        r = await admin.call("GET", f"/api/visitors/{one.visitor_id}/export?format=zip")
        assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
        archive = zipfile.ZipFile(io.BytesIO(r.content))
        body = archive.read("export.json")
        manifest = json.loads(archive.read("manifest.json"))
        assert manifest["files"][0]["sha256"] == hashlib.sha256(body).hexdigest()
        assert len(json.loads(body)["conversations"][0]["messages"]) == 3
        bad = await admin.call("GET", f"/api/visitors/{one.visitor_id}/export?format=xml")
        assert bad.status_code == 400

        erased = await admin.ok(
            "POST", f"/api/visitors/{one.visitor_id}/erase", {"reason": "ticket 4411"}
        )
        assert erased["visitors"] == 1 and erased["counts"]["messages"] == 3
        gone = await admin.call("GET", f"/api/visitors/{one.visitor_id}/export")
        assert gone.status_code == 404
        by_email = await admin.ok(
            "POST", "/api/erasures", {"space": space, "email": two.email.lower()}
        )
        assert by_email["visitors"] == 1 and by_email["by"] == "email"
        two_ids = await admin.call("POST", "/api/erasures", {"space": space})
        assert two_ids.status_code == 400
        bad_phone = await admin.call("POST", "/api/erasures", {"space": space, "phone": "abc"})
        assert bad_phone.status_code == 400 and "phone" in bad_phone.json()["error"]["message"]

        lines = await admin.call("GET", f"/api/audit?space={space}&format=jsonl")
        assert lines.headers["content-type"].startswith("application/x-ndjson")
        entries = [json.loads(x) for x in lines.text.splitlines()]
        assert [e["action"] for e in entries] == [
            "space.create",
            "visitor.export",
            "visitor.erase",
            "visitor.erase",
        ]
        assert all(e["space"] == space for e in entries)
        assert one.visitor_id not in lines.text and two.email not in lines.text


async def test_sign_ins_are_audited_with_failures(inproc: App) -> None:
    # the deployment's own entries (sign-ins among them) are for an admin of every space
    db = Database(inproc.database_url)
    try:
        every = [s.key for s in await list_spaces(db)]
    finally:
        await db.dispose()
    admin = await console_agent(inproc, role="admin", spaces=every, name="Root")
    try:
        bad = await admin.http.post(
            "/api/session",
            json={"email": admin.email, "password": "not the password"},
            headers={"origin": inproc.base_url, "user-agent": "Probe/1"},
        )
        assert bad.status_code == 401
        page = await admin.ok("GET", "/api/audit?action=agent.sign_in&limit=500")
        mine = [e for e in page["entries"] if e["target"]["snapshot"]["email"] == admin.email]
        assert [e["outcome"] for e in mine][:2] == ["denied", "ok"]
        assert mine[0]["actor"]["user_agent"] == "Probe/1" and mine[0]["space"] is None
        assert mine[1]["actor"]["name"] == "Root"
    finally:
        await admin.close()
