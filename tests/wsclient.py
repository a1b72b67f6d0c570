"""A protocol client for tests: send frames, await the frames you expect."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

__all__ = ["ChatClient", "agent_token", "connect_agent", "connect_visitor", "visitor_token"]


async def visitor_token(base_url: str, space: str = "default", **headers: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        r = await http.post(f"{base_url}/api/visitors", json={"space": space}, headers=headers)
        r.raise_for_status()
        return r.json()  # type: ignore[no-any-return]


async def agent_token(base_url: str, email: str, password: str) -> str:
    async with httpx.AsyncClient() as http:
        r = await http.post(
            f"{base_url}/api/agents/login", json={"email": email, "password": password}
        )
        r.raise_for_status()
        return r.json()["token"]  # type: ignore[no-any-return]


class ChatClient:
    """One socket. ``frames`` keeps everything received, in order."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())
        self.welcome: dict[str, Any] = {}
        self.hello_token = ""

    @classmethod
    async def connect(
        cls,
        ws_url: str,
        path: str,
        token: str,
        resume: dict[str, int] | None = None,
        **connect_kwargs: Any,
    ) -> ChatClient:
        ws = await websockets.connect(f"{ws_url}{path}", **connect_kwargs)
        client = cls(ws)
        client.hello_token = token
        hello: dict[str, Any] = {"type": "hello", "token": token}
        if resume is not None:
            hello["resume"] = resume
        await client.send(hello)
        client.welcome = await client.expect("welcome")
        return client

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                self.frames.append(frame)
                self._inbox.put_nowait(frame)
                self._received(frame)
        except websockets.ConnectionClosed:
            pass
        finally:
            self._ended()

    def _received(self, frame: dict[str, Any]) -> None:
        """Each frame as it arrives, after ``frames`` has it (for subclasses)."""

    def _ended(self) -> None:
        """The socket closed (for subclasses)."""

    async def send(self, frame: dict[str, Any] | str) -> None:
        await self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def next(self, timeout: float = 10.0) -> dict[str, Any]:
        return await asyncio.wait_for(self._inbox.get(), timeout)

    async def expect(self, type_: str, timeout: float = 10.0, **match: Any) -> dict[str, Any]:
        """The next frame of this type (and these fields); frames of other types are kept in
        ``frames`` but skipped here."""

        async def find() -> dict[str, Any]:
            while True:
                frame = await self._inbox.get()
                if frame.get("type") == type_ and all(frame.get(k) == v for k, v in match.items()):
                    return frame

        return await asyncio.wait_for(find(), timeout)

    async def say(
        self, body: str, conversation_id: str | None = None, client_id: str | None = None
    ) -> dict[str, Any]:
        """Send a message and wait for its ack."""
        client_id = client_id or str(uuid.uuid4())
        frame: dict[str, Any] = {"type": "message", "client_id": client_id, "body": body}
        if conversation_id is not None:
            frame["conversation_id"] = conversation_id
        await self.send(frame)
        return await self.expect("ack", client_id=client_id)

    async def close(self) -> None:
        await self.ws.close()
        await self._reader

    async def wait_closed(self, timeout: float = 10.0) -> tuple[int | None, str]:
        await asyncio.wait_for(self._reader, timeout)
        await self.ws.wait_closed()
        rcvd = self.ws.close_code, self.ws.close_reason or ""
        return rcvd


async def connect_visitor(
    server: Any,
    token: str | None = None,
    *,
    space: str = "default",
    resume: dict[str, int] | None = None,
    client: type[ChatClient] = ChatClient,
    **connect_kwargs: Any,
) -> ChatClient:
    """A visitor's socket on ``server`` (a new visitor of the space, unless a token is
    given)."""
    token = token or (await visitor_token(server.base_url, space))["token"]
    return await client.connect(
        server.ws_url, "/ws/visitor", token, resume=resume, **connect_kwargs
    )


async def connect_agent(
    server: Any,
    token: str | None = None,
    *,
    resume: dict[str, int] | None = None,
    client: type[ChatClient] = ChatClient,
    database_url: str | None = None,
    **agent: Any,
) -> ChatClient:
    """An agent's socket on ``server``: a new agent (``new_agent``'s options: role, spaces,
    name) signed in, unless a token is given."""
    if token is None:
        from tests.conftest import new_agent

        email, password = await new_agent(database_url or server.database_url, **agent)
        token = await agent_token(server.base_url, email, password)
    return await client.connect(server.ws_url, "/ws/agent", token, resume=resume)
