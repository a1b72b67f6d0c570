"""Fixtures of the core relay's tests.

``core_server`` is one server per backend for the whole session, shared by the modules that
only add their own visitors, agents and spaces (each test makes fresh ones, so none sees
another's data): starting a server per module and backend is most of their cost. Here
``server`` is that shared one; a module that stops its server or reads its whole log asks
for ``own_server`` (tests/conftest.py), and one that needs other settings starts its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests.conftest import BACKENDS, running_server
from tests.servers import ServerProcess
from tests.wsclient import ChatClient

__all__ = ["closing_clients", "core_server", "server"]


@pytest.fixture(scope="session", params=BACKENDS)
def core_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    with running_server(request.param, tmp_path_factory.mktemp(f"core-{request.param}")) as s:
        yield s


@pytest.fixture
def server(core_server: ServerProcess) -> ServerProcess:
    return core_server


@pytest.fixture
async def closing_clients(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """Close every ChatClient a test opened, even when the test failed half-way: a socket left
    to the garbage collector would fail the next test with a ResourceWarning."""
    opened: list[ChatClient] = []
    connect = ChatClient.connect.__func__  # type: ignore[attr-defined]

    async def tracked(cls: type[ChatClient], *args: Any, **kwargs: Any) -> ChatClient:
        client = await connect(cls, *args, **kwargs)
        opened.append(client)
        return client

    monkeypatch.setattr(ChatClient, "connect", classmethod(tracked))
    yield
    for client in opened:
        with contextlib.suppress(Exception):
            await client.close()
