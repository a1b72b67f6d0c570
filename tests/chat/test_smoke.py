from __future__ import annotations

from tests.conftest import new_agent
from tests.servers import ServerProcess
from tests.wsclient import ChatClient, agent_token, visitor_token


async def test_visitor_and_agent_exchange(server: ServerProcess) -> None:
    email, password = await new_agent(server.database_url)
    visitor = await visitor_token(server.base_url)
    agent = await ChatClient.connect(
        server.ws_url, "/ws/agent", await agent_token(server.base_url, email, password)
    )
    v = await ChatClient.connect(server.ws_url, "/ws/visitor", visitor["token"])
    ack = await v.say("Bonjour")
    seen = await agent.expect("message", client_id=ack["client_id"])
    assert seen["body"] == "Bonjour" and seen["seq"] == ack["seq"] == 1
    reply = await agent.say("Hello!", conversation_id=ack["conversation_id"])
    got = await v.expect("message", client_id=reply["client_id"])
    assert got["author"]["kind"] == "agent" and got["seq"] == 2
    await v.close()
    await agent.close()
