"""A console client for tests: signs in like the console does (cookie + CSRF header) and
opens the agent socket with the session's ws_token; and a client of the REST API with an
API key (``Authorization: Bearer``, no cookie, no CSRF token)."""

from __future__ import annotations

import contextlib
import functools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from agents.passwords import hash_password
from chat.clock import utcnow
from chat.models import agent_spaces, agents, spaces
from tests.conftest import new_space
from tests.servers import ServerProcess
from tests.wsclient import ChatClient, visitor_token

__all__ = [
    "PASSWORD",
    "ConsoleAgent",
    "KeyClient",
    "console_agent",
    "insert_agent",
    "open_visitor",
    "space_with_agents",
]

PASSWORD = "correct horse battery"


@functools.cache
def _hash(password: str) -> str:
    return hash_password(password)  # argon2id is slow on purpose: once per test run


async def insert_agent(
    database_url: str, *, role: str, spaces_: list[str], name: str, password: str = PASSWORD
) -> str:
    """An agent straight into the database, as `causette agent create` makes it: its email."""
    email = f"agent-{uuid.uuid4().hex[:10]}@example.com"
    agent_id = str(uuid.uuid4())
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                agents.insert().values(
                    id=agent_id,
                    email=email,
                    name=name,
                    role=role,
                    password_hash=_hash(password),
                    token_version=0,
                    created_at=utcnow(),
                )
            )
            ids = await conn.execute(sa.select(spaces.c.id).where(spaces.c.key.in_(spaces_)))
            await conn.execute(
                agent_spaces.insert(),
                [{"agent_id": agent_id, "space_id": i} for i in ids.scalars()],
            )
    finally:
        await engine.dispose()
    return email


@dataclass(eq=False)
class ConsoleAgent:
    server: ServerProcess
    http: httpx.AsyncClient
    email: str
    password: str
    session: dict[str, Any] = field(default_factory=dict)
    sockets: list[ChatClient] = field(default_factory=list)

    @property
    def id(self) -> str:
        return str(self.session["agent"]["id"])

    async def sign_in(self) -> httpx.Response:
        r = await self.http.post(
            "/api/session",
            json={"email": self.email, "password": self.password},
            headers={"origin": self.server.base_url},
        )
        if r.status_code == 200:
            self.session = r.json()
        return r

    async def call(
        self, method: str, path: str, json: Any = None, *, csrf: bool = True, **kwargs: Any
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if csrf and method != "GET":
            headers.setdefault("x-csrf-token", self.session.get("csrf_token", ""))
            headers.setdefault("origin", self.server.base_url)
        return await self.http.request(method, path, json=json, headers=headers, **kwargs)

    async def ok(self, method: str, path: str, json: Any = None, **kwargs: Any) -> Any:
        r = await self.call(method, path, json, **kwargs)
        assert r.status_code < 300, (r.status_code, r.text)
        return r.json() if r.content else None

    async def socket(self) -> ChatClient:
        client = await ChatClient.connect(self.server.ws_url, "/ws/agent", self.session["ws_token"])
        self.sockets.append(client)
        return client

    async def close(self) -> None:
        for s in self.sockets:
            with contextlib.suppress(Exception):
                await s.close()
        await self.http.aclose()


@dataclass(eq=False)
class KeyClient:
    """Requests made with an API key, as a server would: its header only."""

    http: httpx.AsyncClient
    key: str

    async def call(self, method: str, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        headers = {"authorization": f"Bearer {self.key}", **kwargs.pop("headers", {})}
        return await self.http.request(method, path, json=json, headers=headers, **kwargs)

    async def ok(self, method: str, path: str, json: Any = None, **kwargs: Any) -> Any:
        r = await self.call(method, path, json, **kwargs)
        assert r.status_code < 300, (r.status_code, r.text)
        return r.json() if r.content else None


async def console_agent(
    server: ServerProcess, *, role: str = "relation", spaces: list[str], name: str = "Agent"
) -> ConsoleAgent:
    email = await insert_agent(server.database_url, role=role, spaces_=spaces, name=name)
    # a real server over the network, or the app in this process (tests/inproc.py)
    http = server.client("127.0.0.1") if hasattr(server, "client") else None
    http = http or httpx.AsyncClient(base_url=server.base_url)
    agent = ConsoleAgent(server, http, email, PASSWORD)
    r = await agent.sign_in()
    assert r.status_code == 200, r.text
    return agent


@contextlib.asynccontextmanager
async def space_with_agents(
    server: ServerProcess, *roles: str
) -> AsyncIterator[tuple[str, list[ConsoleAgent]]]:
    """A new space and one signed-in agent per role, closed afterwards."""
    space = await new_space(server.database_url)
    agents = [
        await console_agent(server, role=role, spaces=[space], name=f"{role.title()} {i}")
        for i, role in enumerate(roles)
    ]
    try:
        yield space, agents
    finally:
        for a in agents:
            await a.close()


async def open_visitor(server: ServerProcess, space: str, text: str) -> tuple[ChatClient, str]:
    """A visitor of the space who says something: (its socket, the conversation id)."""
    token = await visitor_token(server.base_url, space)
    client = await ChatClient.connect(server.ws_url, f"/ws/visitor?space={space}", token["token"])
    ack = await client.say(text)
    return client, str(ack["conversation_id"])
