"""A stand-in server that speaks just enough of the protocol for bench/relay.py and stores
nothing: every message is acked and handed to the agent sockets at once. Running the benchmark
against it measures the load generator alone (its CPU per message and the rate it can offer),
so a figure against the real server can be told apart from a limit of the generator.

    python bench/null_server.py --port 8765 &
    python bench/relay.py --url http://127.0.0.1:8765 --agent-email x@example.com \
        --agent-password x --server-pid $!
"""

from __future__ import annotations

import argparse
import itertools
import json
import uuid

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect


def create_app() -> Starlette:
    agents: set[WebSocket] = set()
    seqs: dict[str, int] = {}
    ids = itertools.count(1)

    async def visitors(request: Request) -> JSONResponse:
        visitor_id = str(uuid.uuid4())
        return JSONResponse({"visitor_id": visitor_id, "token": visitor_id}, status_code=201)

    async def login(request: Request) -> JSONResponse:
        return JSONResponse({"token": "agent"})

    async def agent_socket(ws: WebSocket) -> None:
        await ws.accept()
        await ws.receive_text()
        await ws.send_text(json.dumps({"type": "welcome", "protocol": 1, "role": "agent"}))
        agents.add(ws)
        try:
            while True:
                await ws.receive_text()
        except WebSocketDisconnect:
            pass
        finally:
            agents.discard(ws)

    async def visitor_socket(ws: WebSocket) -> None:
        await ws.accept()
        visitor_id = json.loads(await ws.receive_text())["token"]
        await ws.send_text(json.dumps({"type": "welcome", "protocol": 1, "role": "visitor"}))
        try:
            while True:
                frame = json.loads(await ws.receive_text())
                if frame.get("type") != "message":
                    continue
                conversation_id = frame.get("conversation_id") or visitor_id
                seq = seqs[conversation_id] = seqs.get(conversation_id, 0) + 1
                message_id = str(next(ids))
                client_id = frame["client_id"]
                ack = {
                    "type": "ack",
                    "client_id": client_id,
                    "conversation_id": conversation_id,
                    "seq": seq,
                    "id": message_id,
                }
                await ws.send_text(json.dumps(ack))
                text = json.dumps(
                    {
                        "type": "message",
                        "conversation_id": conversation_id,
                        "seq": seq,
                        "id": message_id,
                        "client_id": client_id,
                        "author": {"kind": "visitor", "id": visitor_id, "name": None},
                        "body": frame["body"],
                        "created_at": "2026-01-01T00:00:00Z",
                    }
                )
                for agent in tuple(agents):
                    await agent.send_text(text)
        except WebSocketDisconnect:
            pass

    return Starlette(
        routes=[
            Route("/api/visitors", visitors, methods=["POST"]),
            Route("/api/agents/login", login, methods=["POST"]),
            WebSocketRoute("/ws/visitor", visitor_socket),
            WebSocketRoute("/ws/agent", agent_socket),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    uvicorn.run(
        create_app(), host="127.0.0.1", port=args.port, ws="websockets-sansio", log_level="warning"
    )


if __name__ == "__main__":
    main()
