"""The counters a conversation keeps for reports (messages by author, the first agent
message) match its messages, whichever path stored them: the first message, the batched
fast path, a resend, on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.agents.consoleclient import open_visitor, space_with_agents
from tests.rows import fetch
from tests.servers import ServerProcess


async def test_counters_follow_the_messages(server: ServerProcess) -> None:
    async with space_with_agents(server, "relation") as (space, [agent]):
        socket = await agent.socket()
        visitor, conv = await open_visitor(server, space, "first")
        for i in range(3):
            await visitor.say(f"visitor {i}", conversation_id=conv)
        ack = await socket.say("agent 0", conversation_id=conv)
        await socket.say("agent 1", conversation_id=conv)
        await socket.say("agent 0", conversation_id=conv, client_id=ack["client_id"])  # a resend
        await visitor.say("after", conversation_id=conv)
        [row] = await fetch(
            server.database_url,
            "SELECT visitor_messages, agent_messages, first_agent_at, last_seq FROM conversations"
            " WHERE id = :c",
            c=conv,
        )
        [truth] = await fetch(
            server.database_url,
            "SELECT sum(CASE WHEN author_kind = 'visitor' THEN 1 ELSE 0 END) AS v,"
            " sum(CASE WHEN author_kind = 'agent' THEN 1 ELSE 0 END) AS a,"
            " min(CASE WHEN author_kind = 'agent' THEN created_at END) AS first_a,"
            " count(*) AS n FROM messages WHERE conversation_id = :c",
            c=conv,
        )
        assert (row.visitor_messages, row.agent_messages, row.last_seq) == (5, 2, 7)
        assert (truth.v, truth.a, truth.n) == (5, 2, 7)
        assert str(row.first_agent_at)[:19] == str(truth.first_a)[:19]
        await visitor.close()
