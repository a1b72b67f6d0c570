"""The same rule on every path: what an agent may read and take over REST is what it may
over its socket, and a socket lives no longer than the token that opened it."""

from __future__ import annotations

from pathlib import Path

from tests.agents.consoleclient import open_visitor, space_with_agents
from tests.conftest import new_agent, running_server
from tests.rows import fetch
from tests.servers import ServerProcess
from tests.wsclient import ChatClient, agent_token, visitor_token


async def test_a_reply_does_not_take_a_conversation_out_of_another_teams_queue(
    server: ServerProcess,
) -> None:
    async with space_with_agents(server, "admin", "relation", "relation") as (
        space,
        (admin, member, outsider),
    ):
        team = await admin.ok("POST", "/api/teams", {"space": space, "name": "Payments"})
        await admin.ok("PATCH", f"/api/teams/{team['id']}", {"members": [member.id]})
        visitor, conv = await open_visitor(server, space, "My payment failed")
        await admin.ok("POST", f"/api/conversations/{conv}/transfer", {"team_id": team["id"]})
        r = await outsider.call("POST", f"/api/conversations/{conv}/claim")
        assert r.status_code == 403

        socket = await outsider.socket()
        await socket.say("Let me look", conversation_id=conv)  # answering is allowed...
        entry = await outsider.ok("GET", f"/api/conversations/{conv}")
        # ...taking it is not: it waits in the team's queue, for the team
        assert entry["conversation"]["assignee_id"] is None
        assert entry["conversation"]["team_id"] == team["id"]
        rows = await fetch(
            server.database_url, "SELECT assignee_id FROM conversations WHERE id = :c", c=conv
        )
        assert rows[0].assignee_id is None

        mine = await member.socket()
        await mine.say("I have it", conversation_id=conv)  # a member's reply takes it
        await mine.expect("conversation", conversation_id=conv, assignee_id=member.id)
        await visitor.close()


async def test_every_role_reads_every_conversation_of_its_spaces_on_every_path(
    server: ServerProcess,
) -> None:
    async with space_with_agents(server, "relation", "marketing", "admin") as (
        _space,
        (relation, marketing, admin),
    ):
        visitor, conv = await open_visitor(server, _space, "Hello")
        await admin.ok("POST", f"/api/conversations/{conv}/claim")  # a colleague's chat
        for who in (relation, marketing, admin):
            assert who.session["views"] == ["mine", "unassigned", "team", "all"]
            listed = await who.ok("GET", "/api/conversations", params={"view": "all"})
            assert conv in {c["id"] for c in listed["conversations"]}
            detail = await who.ok("GET", f"/api/conversations/{conv}")
            assert [m["body"] for m in detail["messages"]] == ["Hello"]
            socket = await who.socket()
            assert conv in {c["id"] for c in socket.welcome["conversations"]}
            counts = await who.ok("GET", "/api/inbox/counts")
            assert set(counts["counts"]) == {"mine", "unassigned", "team", "all"}
        # reading is everyone's; changing the space is the admin's
        r = await relation.call("POST", "/api/teams", {"space": _space, "name": "Mine"})
        assert r.status_code == 403
        await visitor.close()


async def test_a_socket_closes_when_its_token_expires(tmp_path: Path) -> None:
    env = {"CAUSETTE_AGENT_TOKEN_TTL": "2", "CAUSETTE_VISITOR_TOKEN_TTL": "2"}
    with running_server("sqlite", tmp_path, env) as srv:
        email, password = await new_agent(srv.database_url, role="relation")
        agent = await ChatClient.connect(
            srv.ws_url, "/ws/agent", await agent_token(srv.base_url, email, password)
        )
        token = await visitor_token(srv.base_url)
        visitor = await ChatClient.connect(srv.ws_url, "/ws/visitor", token["token"])
        for client in (agent, visitor):
            assert await client.wait_closed(timeout=10) == (1008, "token_expired")
