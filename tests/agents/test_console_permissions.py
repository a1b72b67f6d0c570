"""Every permission rule of the console's API: by role, by team, by space.

Whatever lies outside the caller's spaces answers exactly like what does not exist.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from agents.exports import Export, export_to_file
from chat.db import Database
from tests.agents.consoleclient import ConsoleAgent, open_visitor, space_with_agents
from tests.servers import ServerProcess

NOT_FOUND = {"error": {"code": "conversation_not_found", "message": "No such conversation."}}


async def _admin_ops(agent: ConsoleAgent, space: str, other_id: str) -> list[int]:
    """Status codes of every admin-only call."""
    calls = [
        ("POST", "/api/teams", {"space": space, "name": f"T {uuid.uuid4().hex[:6]}"}),
        (
            "POST",
            "/api/agents",
            {
                "email": f"new-{uuid.uuid4().hex[:8]}@example.com",
                "name": "New",
                "role": "relation",
                "password": "long enough password",
                "spaces": [space],
            },
        ),
        ("PATCH", f"/api/agents/{other_id}", {"max_chats": 2}),
        ("POST", f"/api/agents/{other_id}/password", {"password": "long enough password"}),
        ("POST", "/api/canned", {"space": space, "shortcut": "hi", "body": "Hello!"}),
    ]
    return [(await agent.call(m, p, b)).status_code for m, p, b in calls]


async def test_only_admins_manage_agents_teams_and_canned(server: ServerProcess) -> None:
    async with space_with_agents(server, "relation", "marketing", "admin", "relation") as (
        space,
        (relation, marketing, admin, other),
    ):
        assert await _admin_ops(relation, space, other.id) == [403] * 5
        assert await _admin_ops(marketing, space, other.id) == [403] * 5
        team = await admin.ok("POST", "/api/teams", {"space": space, "name": "VIP"})
        for who in (relation, marketing):
            r = await who.call("PATCH", f"/api/teams/{team['id']}", {"members": [who.id]})
            assert r.status_code == 403
            assert (await who.call("DELETE", f"/api/teams/{team['id']}")).status_code == 403
        codes = await _admin_ops(admin, space, other.id)
        assert codes == [201, 201, 200, 204, 201]


async def test_another_space_is_not_found_for_every_call(server: ServerProcess) -> None:
    async with (
        space_with_agents(server, "admin") as (_space_a, (admin_a,)),
        space_with_agents(server, "admin", "relation") as (space_b, (admin_b, relation_b)),
    ):
        visitor, conv_b = await open_visitor(server, space_b, "Bonjour from B")
        team_b = await admin_b.ok("POST", "/api/teams", {"space": space_b, "name": "B team"})
        canned_b = await admin_b.ok(
            "POST", "/api/canned", {"space": space_b, "shortcut": "bye", "body": "Goodbye"}
        )
        ghost = str(uuid.uuid4())
        for conv in (conv_b, ghost):
            base = f"/api/conversations/{conv}"
            answers = [
                await admin_a.call("GET", base),
                await admin_a.call("POST", f"{base}/claim"),
                await admin_a.call("POST", f"{base}/transfer", {"agent_id": admin_a.id}),
                await admin_a.call("POST", f"{base}/unassign"),
                await admin_a.call("POST", f"{base}/notes", {"body": "peek"}),
                await admin_a.call("POST", f"{base}/tags", {"tag": "peek"}),
                await admin_a.call("DELETE", f"{base}/tags/peek"),
                await admin_a.call("POST", f"{base}/resolve"),
                await admin_a.call("POST", f"{base}/reopen"),
            ]
            for r in answers:
                assert (r.status_code, r.json()) == (404, NOT_FOUND), r.request.url
        for view in ("all", "unassigned", "mine", "team"):
            listed = await admin_a.ok("GET", "/api/conversations", params={"view": view})
            assert listed["conversations"] == []
        found = await admin_a.ok(
            "GET", "/api/conversations", params={"view": "all", "q": "Bonjour", "status": "any"}
        )
        assert found["conversations"] == []
        r = await admin_a.call(
            "GET", "/api/conversations", params={"view": "all", "space": space_b}
        )
        assert r.status_code == 404 and r.json()["error"]["code"] == "space_not_found"
        # B's agents, teams and canned responses do not exist for A's admin
        assert relation_b.id not in {
            a["id"] for a in (await admin_a.ok("GET", "/api/agents"))["agents"]
        }
        for r in (
            await admin_a.call("PATCH", f"/api/agents/{relation_b.id}", {"role": "admin"}),
            await admin_a.call(
                "POST", f"/api/agents/{relation_b.id}/password", {"password": "x" * 12}
            ),
        ):
            assert r.status_code == 404 and r.json()["error"]["code"] == "agent_not_found"
        assert (await admin_a.ok("GET", "/api/teams"))["teams"] == []
        for r in (
            await admin_a.call("PATCH", f"/api/teams/{team_b['id']}", {"name": "mine now"}),
            await admin_a.call("DELETE", f"/api/teams/{team_b['id']}"),
        ):
            assert r.status_code == 404 and r.json()["error"]["code"] == "team_not_found"
        assert (await admin_a.ok("GET", "/api/canned"))["canned"] == []
        r = await admin_a.call("PATCH", f"/api/canned/{canned_b['id']}", {"body": "hacked"})
        assert r.status_code == 404
        r = await admin_a.call("POST", "/api/teams", {"space": space_b, "name": "intruders"})
        assert r.status_code == 404 and r.json()["error"]["code"] == "space_not_found"
        r = await admin_a.call(
            "POST",
            "/api/agents",
            {
                "email": f"x-{uuid.uuid4().hex[:6]}@example.com",
                "name": "X",
                "role": "relation",
                "password": "long enough password",
                "spaces": [space_b],
            },
        )
        assert r.status_code == 404
        # and B's own agents still see their conversation, untouched
        detail = await relation_b.ok("GET", f"/api/conversations/{conv_b}")
        assert detail["notes"] == [] and detail["conversation"]["tags"] == []
        assert detail["conversation"]["status"] == "open"
        await visitor.close()


async def test_transfer_never_crosses_spaces(server: ServerProcess) -> None:
    async with (
        space_with_agents(server, "admin") as (space_a, (admin_a,)),
        space_with_agents(server, "admin") as (space_b, (admin_b,)),
    ):
        team_b = await admin_b.ok("POST", "/api/teams", {"space": space_b, "name": "Other"})
        visitor, conv_a = await open_visitor(server, space_a, "Hello")
        base = f"/api/conversations/{conv_a}/transfer"
        to_agent = await admin_a.call("POST", base, {"agent_id": admin_b.id})
        assert to_agent.status_code == 404
        assert to_agent.json()["error"]["code"] == "agent_not_found"
        to_team = await admin_a.call("POST", base, {"team_id": team_b["id"]})
        assert to_team.status_code == 404 and to_team.json()["error"]["code"] == "team_not_found"
        entry = (await admin_a.ok("GET", f"/api/conversations/{conv_a}"))["conversation"]
        assert entry["assignee_id"] is None and entry["team_id"] is None
        # an agent in both spaces is a fine target, as a member of A
        await visitor.close()


async def test_teams_decide_who_takes_a_team_conversation(server: ServerProcess) -> None:
    async with space_with_agents(server, "admin", "relation", "relation") as (
        space,
        (admin, member, outsider),
    ):
        team = await admin.ok("POST", "/api/teams", {"space": space, "name": "Payments"})
        await admin.ok("PATCH", f"/api/teams/{team['id']}", {"members": [member.id]})
        visitor, conv = await open_visitor(server, space, "My payment failed")
        await admin.ok("POST", f"/api/conversations/{conv}/transfer", {"team_id": team["id"]})

        # the outsider neither sees it in its queue nor may take or move it
        for view in ("unassigned", "team"):
            listed = await outsider.ok("GET", "/api/conversations", params={"view": view})
            assert conv not in {c["id"] for c in listed["conversations"]}
        r = await outsider.call("POST", f"/api/conversations/{conv}/claim")
        assert r.status_code == 403 and r.json()["error"]["code"] == "not_allowed"
        r = await outsider.call(
            "POST", f"/api/conversations/{conv}/transfer", {"agent_id": outsider.id}
        )
        assert r.status_code == 403

        # the member sees it in both its team and unassigned views, and takes it
        for view in ("unassigned", "team"):
            listed = await member.ok("GET", "/api/conversations", params={"view": view})
            assert conv in {c["id"] for c in listed["conversations"]}
        taken = await member.ok("POST", f"/api/conversations/{conv}/claim")
        assert taken["assignee_id"] == member.id and taken["team_id"] == team["id"]
        # now it is the member's: the outsider cannot take it or give it away either
        r = await outsider.call("POST", f"/api/conversations/{conv}/unassign")
        assert r.status_code == 403
        again = await admin.call("POST", f"/api/conversations/{conv}/claim")
        assert again.status_code == 409 and again.json()["error"]["code"] == "already_assigned"
        # the assignee hands it to a teammate of the space; an admin may move anything
        await member.ok("POST", f"/api/conversations/{conv}/transfer", {"agent_id": outsider.id})
        await admin.ok("POST", f"/api/conversations/{conv}/transfer", {"agent_id": member.id})
        mine = await member.ok("GET", "/api/conversations", params={"view": "mine"})
        assert [c["id"] for c in mine["conversations"]] == [conv]
        await visitor.close()


async def test_canned_responses_are_per_team(server: ServerProcess) -> None:
    async with space_with_agents(server, "admin", "relation", "relation") as (
        space,
        (admin, member, outsider),
    ):
        team = await admin.ok("POST", "/api/teams", {"space": space, "name": "Retention"})
        await admin.ok("PATCH", f"/api/teams/{team['id']}", {"members": [member.id]})
        await admin.ok("POST", "/api/canned", {"space": space, "shortcut": "hi", "body": "Hi!"})
        await admin.ok(
            "POST",
            "/api/canned",
            {"space": space, "team_id": team["id"], "shortcut": "offer", "body": "10% off"},
        )
        dup = await admin.call(
            "POST", "/api/canned", {"space": space, "shortcut": "hi", "body": "Again"}
        )
        assert dup.status_code == 409
        shortcuts = {
            who: {c["shortcut"] for c in (await who.ok("GET", "/api/canned"))["canned"]}
            for who in (admin, member, outsider)
        }
        assert shortcuts[admin] == {"hi", "offer"}
        assert shortcuts[member] == {"hi", "offer"}
        assert shortcuts[outsider] == {"hi"}


async def test_two_agents_claiming_at_once_one_wins(server: ServerProcess) -> None:
    async with space_with_agents(server, "relation", "relation", "relation") as (
        space,
        agents,
    ):
        visitor, conv = await open_visitor(server, space, "Anyone there?")
        answers = await asyncio.gather(
            *(a.call("POST", f"/api/conversations/{conv}/claim") for a in agents)
        )
        codes = sorted(r.status_code for r in answers)
        assert codes == [200, 409, 409], [r.text for r in answers]
        winner = next(a for a, r in zip(agents, answers, strict=True) if r.status_code == 200)
        detail = await agents[0].ok("GET", f"/api/conversations/{conv}")
        assert detail["conversation"]["assignee_id"] == winner.id
        await visitor.close()


async def test_notes_never_reach_the_visitor(server: ServerProcess, tmp_path: Path) -> None:
    async with space_with_agents(server, "relation", "relation") as (space, (writer, reader)):
        visitor, conv = await open_visitor(server, space, "Is my bet settled?")
        watcher = await reader.socket()
        note = await writer.ok(
            "POST", f"/api/conversations/{conv}/notes", {"body": "VIP: check the ledger"}
        )
        seen = await watcher.expect("note", conversation_id=conv)
        assert seen["note"]["body"] == "VIP: check the ledger"
        assert seen["note"]["id"] == note["id"]
        # a message after the note: the visitor's stream goes 1, 2 with no gap and no note
        reply = await watcher.say("Checking now", conversation_id=conv)
        got = await visitor.expect("message", client_id=reply["client_id"])
        assert got["seq"] == 2
        assert all("ledger" not in str(f) for f in visitor.frames)
        # nor in its replay from the start
        again = await visitor_resume(server, visitor, conv)
        assert [f["seq"] for f in again if f.get("type") == "message"] == [1, 2]
        assert all("ledger" not in str(f) for f in again)
        detail = await writer.ok("GET", f"/api/conversations/{conv}")
        assert [n["body"] for n in detail["notes"]] == ["VIP: check the ledger"]
        assert [m["seq"] for m in detail["messages"]] == [1, 2]
        # nor in the analytics export
        out = tmp_path / "export.jsonl"
        db = Database(server.database_url)
        try:
            count = await export_to_file(db, Export(space=space), out, "jsonl")
        finally:
            await db.dispose()
        assert count == 2 and "ledger" not in out.read_text()
        await visitor.close()


async def test_search_by_text_tag_and_visitor(server: ServerProcess) -> None:
    async with space_with_agents(server, "admin") as (space, (admin,)):
        first, conv_a = await open_visitor(server, space, "Where is my cashout?")
        second, conv_b = await open_visitor(server, space, "Promo code not working")
        watch = await admin.socket()
        await second.send({"type": "contact", "name": "Zoé Kowalski", "email": "zoe@example.com"})
        await watch.expect("visitor")  # stored, then told to the agents
        await admin.ok("POST", f"/api/conversations/{conv_b}/tags", {"tag": "Promo"})

        async def found(**params: str) -> list[str]:
            listed = await admin.ok(
                "GET", "/api/conversations", params={"view": "all", "status": "any", **params}
            )
            return [c["id"] for c in listed["conversations"]]

        assert await found(q="CASHOUT") == [conv_a]
        assert await found(q="100%_") == []  # LIKE wildcards are searched as text
        assert await found(tag="promo") == [conv_b]
        assert await found(visitor=first.welcome["visitor_id"]) == [conv_a]
        assert await found(visitor="kowalski") == [conv_b]
        assert await found(q="zoe@example") == [conv_b]
        await first.close()
        await second.close()


async def visitor_resume(server: ServerProcess, visitor: object, conv: str) -> list[dict]:
    from tests.wsclient import ChatClient

    token = visitor.hello_token  # type: ignore[attr-defined]
    again = await ChatClient.connect(server.ws_url, "/ws/visitor", token, resume={conv: 0})
    await again.expect("message", seq=2)
    await again.send({"type": "ping"})
    await again.expect("pong")
    frames = list(again.frames)
    await again.close()
    return frames


async def test_reopen_respects_one_open_conversation_per_visitor(
    server: ServerProcess,
) -> None:
    async with space_with_agents(server, "relation") as (space, (agent,)):
        visitor, first = await open_visitor(server, space, "First question")
        await agent.ok("POST", f"/api/conversations/{first}/resolve")
        reopened = await agent.ok("POST", f"/api/conversations/{first}/reopen")
        assert reopened["status"] == "open"
        await agent.ok("POST", f"/api/conversations/{first}/resolve")
        ack = await visitor.say("A new question")
        second = ack["conversation_id"]
        assert second != first
        r = await agent.call("POST", f"/api/conversations/{first}/reopen")
        assert r.status_code == 409
        assert r.json()["error"]["code"] == "visitor_has_open_conversation"
        entry = (await agent.ok("GET", f"/api/conversations/{first}"))["conversation"]
        assert entry["status"] == "resolved"
        await visitor.close()


async def test_membership_changes_stay_inside_the_admins_spaces(server: ServerProcess) -> None:
    async with (
        space_with_agents(server, "admin") as (space_a, (admin_a,)),
        space_with_agents(server, "admin") as (space_b, (admin_b,)),
    ):
        both = await admin_a.ok(
            "POST",
            "/api/agents",
            {
                "email": f"both-{uuid.uuid4().hex[:6]}@example.com",
                "name": "Both",
                "role": "relation",
                "password": "long enough password",
                "spaces": [space_a],
            },
        )
        # admin B cannot see the new agent (A only)...
        r = await admin_b.call("PATCH", f"/api/agents/{both['id']}", {"spaces": [space_b]})
        assert r.status_code == 404
        # ...and admin A cannot add it to B, a space A does not belong to
        r = await admin_a.call("PATCH", f"/api/agents/{both['id']}", {"spaces": [space_a, space_b]})
        assert r.status_code == 404 and r.json()["error"]["code"] == "space_not_found"
        listed = {a["id"]: a for a in (await admin_a.ok("GET", "/api/agents"))["agents"]}
        assert listed[both["id"]]["spaces"] == [space_a]
