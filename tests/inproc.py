"""The app in this process, for contract tests of routes: ``create_app`` behind
``httpx.ASGITransport``, its lifespan run as a server would, on a migrated database. No port,
no process start: a request costs what the handler costs.

Sockets, faults, nginx and the browser keep their real servers (tests/servers.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.types import Receive, Scope, Send

from causette.app import create_app
from chat.db import migrate
from chat.settings import Settings
from tests.servers import SECRET

__all__ = ["ORIGIN", "App", "inprocess_app"]

ORIGIN = "http://127.0.0.1"


class App:
    """The running app: ``http`` is a client from 127.0.0.1; ``client(address)`` makes
    another, from another address (its own cookies). ``state``: what its lifespan yielded
    (``ctx``, ``console``), for a test that drives a part of it by hand."""

    base_url = ORIGIN  # what a browser of the console would call it

    def __init__(self, served: Any, database_url: str, state: dict[str, Any] | None = None) -> None:
        self._served = served
        self.database_url = database_url
        self.state = state or {}
        self._clients: list[httpx.AsyncClient] = []
        self.http = self.client("127.0.0.1")

    def client(self, address: str, base_url: str = ORIGIN) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self._served, client=(address, 51000))
        client = httpx.AsyncClient(transport=transport, base_url=base_url)
        self._clients.append(client)
        return client

    async def close(self) -> None:
        for client in self._clients:
            await client.aclose()


@contextlib.asynccontextmanager
async def inprocess_app(database_url: str, **settings: Any) -> AsyncIterator[App]:
    """A fresh app on ``database_url`` (migrated first), with these settings; rate limits
    are off unless a test sets ``rate_limits="on"``."""
    await asyncio.to_thread(migrate, database_url)
    values: dict[str, Any] = {"rate_limits": "off", "log_format": "json", **settings}
    app = create_app(Settings(database_url=database_url, secret_key=SECRET, **values))
    async with app.router.lifespan_context(app) as state:

        async def served(scope: Scope, receive: Receive, send: Send) -> None:
            # what a server does with the lifespan's state: a copy in every request's scope
            await app({**scope, "state": dict(state or {})}, receive, send)

        running = App(served, database_url, dict(state or {}))
        try:
            yield running
        finally:
            await running.close()
