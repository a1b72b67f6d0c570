"""Several causette nodes sharing PostgreSQL and Redis, and clients that keep score: what
each socket was acked, what it received, and whether anything was lost or repeated."""

from __future__ import annotations

import asyncio
import concurrent.futures
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import websockets

from tests import wsclient
from tests.conftest import new_agent
from tests.servers import ServerProcess
from tests.wsclient import ChatClient, agent_token

__all__ = [
    "Peer",
    "Tally",
    "agent_login",
    "connect_agent",
    "connect_visitor",
    "start_nodes",
    "tally",
]


def start_nodes(
    count: int, database_url: str, redis_url: str, workdir: Path, **kwargs: Any
) -> list[ServerProcess]:
    """``count`` servers on their own ports, sharing one database and one Redis, started
    side by side (each migrates under a lock at start: one does it, the others find it done)."""
    nodes = [
        ServerProcess(
            database_url=database_url, workdir=workdir / f"node{i}", redis_url=redis_url, **kwargs
        )
        for i in range(count)
    ]
    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        started = [pool.submit(node.start) for node in nodes]
        failures = [exc for f in started if (exc := f.exception()) is not None]
    if failures:
        for node in nodes:
            node.stop()
        raise failures[0]
    return nodes


class Peer(ChatClient):
    """A ChatClient that files every frame as it arrives: acks and errors by client_id,
    message frames in arrival order; ``until`` waits on them without polling."""

    def __init__(self, ws: Any) -> None:
        self.acks: dict[str, list[dict[str, Any]]] = {}
        self.errors: dict[str, list[dict[str, Any]]] = {}
        self.messages: list[dict[str, Any]] = []
        self.outcomes: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.closed = False
        self._changed = asyncio.Event()
        super().__init__(ws)

    def _ended(self) -> None:
        self.closed = True
        self._changed.set()
        for future in self.outcomes.values():
            if not future.done():
                future.set_exception(ConnectionError("socket closed"))

    def _received(self, frame: dict[str, Any]) -> None:
        """File the frame, settle the outcome it answers, wake ``until``."""
        self._changed.set()
        kind = frame.get("type")
        key = None
        if kind == "ack":
            key = frame["client_id"]
            self.acks.setdefault(key, []).append(frame)
        elif kind == "error" and frame.get("ref"):
            key = frame["ref"]
            self.errors.setdefault(key, []).append(frame)
        elif kind == "message":
            self.messages.append(frame)
        if key is not None:
            future = self.outcomes.pop(key, None)
            if future is not None and not future.done():
                future.set_result(frame)

    async def post(
        self, body: str, conversation_id: str | None = None, client_id: str | None = None
    ) -> asyncio.Future[dict[str, Any]]:
        """Send a message; the future is its outcome: the ack, or an error naming it."""
        client_id = client_id or str(uuid.uuid4())
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        if self.closed:
            future.set_exception(ConnectionError("socket closed"))
            return future
        self.outcomes[client_id] = future
        frame: dict[str, Any] = {"type": "message", "client_id": client_id, "body": body}
        if conversation_id is not None:
            frame["conversation_id"] = conversation_id
        try:
            await self.send(frame)
        except websockets.ConnectionClosed as exc:
            self.outcomes.pop(client_id, None)
            if not future.done():
                future.set_exception(ConnectionError(str(exc)))
        return future

    async def until(self, done: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
        """Wait for frames until ``done()``; fail with ``what`` if the deadline passes."""

        async def wait() -> None:
            while not done():
                if self.closed:
                    raise AssertionError(f"socket closed while waiting for {what}")
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}") from None

    def seqs(self, conversation_id: str, author_kind: str | None = None) -> list[int]:
        """Seqs of the message frames received, in arrival order."""
        return [
            m["seq"]
            for m in self.messages
            if m["conversation_id"] == conversation_id
            and (author_kind is None or m["author"]["kind"] == author_kind)
        ]


async def connect_visitor(
    node: ServerProcess, token: str | None = None, resume: dict[str, int] | None = None
) -> Peer:
    client = await wsclient.connect_visitor(node, token, resume=resume, client=Peer)
    assert isinstance(client, Peer)
    return client


async def agent_login(node: ServerProcess, database_url: str, **kwargs: Any) -> str:
    """A new agent, signed in: its token."""
    email, password = await new_agent(database_url, **kwargs)
    return await agent_token(node.base_url, email, password)


async def connect_agent(
    node: ServerProcess,
    database_url: str,
    token: str | None = None,
    resume: dict[str, int] | None = None,
    **kwargs: Any,
) -> Peer:
    client = await wsclient.connect_agent(
        node, token, resume=resume, client=Peer, database_url=database_url, **kwargs
    )
    assert isinstance(client, Peer)
    return client


@dataclass(frozen=True)
class Tally:
    """What one receiver got, against what it should have got."""

    name: str
    expected: int
    received: int
    lost: int
    duplicated: int
    unexpected: int
    in_order: bool

    def __str__(self) -> str:
        return (
            f"{self.name}: expected={self.expected} received={self.received}"
            f" lost={self.lost} duplicated={self.duplicated} unexpected={self.unexpected}"
            f" in_seq_order={self.in_order}"
        )

    @property
    def perfect(self) -> bool:
        return (self.lost, self.duplicated, self.unexpected, self.in_order) == (0, 0, 0, True)


def tally(name: str, received: list[int], expected: Iterable[int]) -> Tally:
    wanted = set(expected)
    got = set(received)
    return Tally(
        name=name,
        expected=len(wanted),
        received=len(received),
        lost=len(wanted - got),
        duplicated=len(received) - len(got),
        unexpected=len(got - wanted),
        in_order=received == sorted(received),
    )
