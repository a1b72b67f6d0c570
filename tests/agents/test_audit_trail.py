"""Each action that changes who can do what or what is kept is one audit row, with its actor
(name, address, browser), target snapshot and before/after: agents and their roles, spaces
and their settings, campaign launches and kills, raw exports, transcripts read in review,
in process on both backends; and from the command line, whose actor is the system."""

from __future__ import annotations

from typing import Any

import pytest

from chat import audit, audit_verify
from chat.db import Database
from tests.agents.consoleclient import space_with_agents
from tests.agents.test_campaigns_api import BODY
from tests.clirun import causette
from tests.inproc import App
from tests.privacy_seed import space_id

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _entries(url: str, space: str | None, action: str) -> list[audit.AuditEntry]:
    db = Database(url)
    try:
        chain = [await space_id(db, space)] if space else [None]
        return await audit.entries(db, chain, audit.Filters(action=action))
    finally:
        await db.dispose()


async def test_console_actions_are_on_record(inproc: App) -> None:
    async with space_with_agents(inproc, "admin", "marketing") as (space, [admin, marketing]):
        url = inproc.database_url
        # an agent created, its role and spaces changed, its password reset
        created = await admin.ok(
            "POST",
            "/api/agents",
            {"email": "newbie@example.com", "name": "Newbie", "role": "relation",
             "password": "purple monkey dishwasher", "spaces": [space]},
        )  # fmt: skip
        await admin.ok("PATCH", f"/api/agents/{created['id']}", {"role": "marketing"})
        await admin.ok("PATCH", f"/api/agents/{created['id']}", {"spaces": []})
        await admin.call(
            "PUT", f"/api/agents/{created['id']}/password", {"password": "orange llama sofa"}
        )
        agent_rows = [
            e for e in await _entries(url, None, "agent.") if e.target_id == created["id"]
        ]
        by_action = {e.action: e for e in agent_rows}
        assert by_action["agent.create"].diff == {
            "role": [None, "relation"], "spaces": [[], [space]],
        }  # fmt: skip
        assert by_action["agent.update"].diff == {"role": ["relation", "marketing"]}
        assert by_action["agent.spaces"].diff == {"spaces": [[space], []]}
        for e in agent_rows:
            assert e.actor.name == "Admin 0" and e.actor.ip == "127.0.0.1"
            assert e.target["email"] == "newbie@example.com"
            assert e.space_id is None  # agents are the deployment's

        # a campaign launched and killed, by marketing
        r = await marketing.call("POST", "/api/campaigns", {"space": space, **BODY})
        cid = r.json()["id"]
        await marketing.ok("POST", f"/api/campaigns/{cid}/launch")
        await marketing.ok("POST", f"/api/campaigns/{cid}/kill")
        launched = await _entries(url, space, "campaign.")
        assert [(e.action, e.diff) for e in reversed(launched)] == [
            ("campaign.launch", {"status": ["draft", "live"]}),
            ("campaign.kill", {"status": ["live", "ended"]}),
        ]
        assert {e.actor.name for e in launched} == {"Marketing 1"}
        assert launched[0].target == {"name": BODY["name"], "phase": 1}

        # transcripts read in review
        await marketing.ok("GET", f"/api/campaigns/{cid}/transcripts")
        # (none yet: nothing read, nothing recorded)
        assert await _entries(url, space, "transcript.read") == []

        # a raw export is on record; a redacted one is not
        raw = await admin.call("GET", f"/api/exports/messages?space={space}&raw=true")
        assert raw.status_code == 200
        await admin.call("GET", f"/api/exports/messages?space={space}")
        [exported] = await _entries(url, space, "export.raw")
        assert exported.target_id == "messages" and exported.actor.name == "Admin 0"


async def test_command_line_actions_are_on_record_as_the_system(inproc: App) -> None:
    url = inproc.database_url

    async def run(*args: str, stdin: str | None = None) -> None:
        result = await causette(*args, database_url=url, stdin=stdin)
        assert result.code == 0, result.output

    await run("space", "create", "audited", "--name", "Audited", "--origin", "https://a.example")
    await run("space", "update", "audited", "--time-zone", "Europe/Paris", "--csat", "off")
    await run("space", "secret", "audited", "--rotate")
    await run(
        "agent", "create", "--email", "ops@example.com", "--name", "Ops", "--role", "admin",
        "--space", "audited", "--password-stdin", stdin="a long passphrase here\n",
    )  # fmt: skip
    await run("agent", "update", "ops@example.com", "--role", "relation", "--disable")
    await run("agent", "delete", "ops@example.com")
    entries: list[Any] = await _entries(url, "audited", "space.")
    assert [e.action for e in reversed(entries)] == [
        "space.create", "space.update", "space.identity_secret",
    ]  # fmt: skip
    update = entries[1]
    assert update.diff == {"csat": [True, False], "time_zone": ["UTC", "Europe/Paris"]}
    assert "identity_secret" not in str(update.diff) and update.actor.kind == "system"
    assert update.actor.name.startswith("command line (")
    ops = [e for e in await _entries(url, None, "agent.") if e.target["email"] == "ops@example.com"]
    assert [e.action for e in reversed(ops)] == [
        "agent.create", "agent.update", "agent.disable", "agent.delete",
    ]  # fmt: skip
    assert ops[0].target["name"] == "Ops"  # the deleted agent's name stays on record
    await run("space", "delete", "audited", "--confirm", "audited")
    [deleted] = await _entries(url, None, "space.delete")
    assert deleted.target["key"] == "audited"
    db = Database(url)
    try:
        assert (await audit_verify.verify(db)).ok
    finally:
        await db.dispose()
