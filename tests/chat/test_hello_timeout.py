"""A socket that never says hello, or says it in binary, is closed with 1008 and told why."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets

from tests.servers import ServerProcess


@pytest.fixture(scope="module")
def quick_hello_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("hello-timeout")
    proc = ServerProcess(
        database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'causette.db'}",
        workdir=tmp,
        env={"CAUSETTE_HELLO_TIMEOUT_SECONDS": "0.5"},
    ).start()
    yield proc
    proc.stop()


async def _closed(ws: websockets.ClientConnection) -> tuple[int | None, str]:
    with pytest.raises(websockets.ConnectionClosed):
        await ws.recv()  # nothing is ever sent before a valid hello: the next event is the close
    return ws.close_code, ws.close_reason


async def test_silence_is_closed_as_a_hello_timeout(quick_hello_server: ServerProcess) -> None:
    async with websockets.connect(f"{quick_hello_server.ws_url}/ws/visitor") as ws:
        assert await _closed(ws) == (1008, "hello_timeout")
    assert "ws_hello_store_unavailable" not in quick_hello_server.logs()


async def test_binary_hello_is_refused(quick_hello_server: ServerProcess) -> None:
    async with websockets.connect(f"{quick_hello_server.ws_url}/ws/agent") as ws:
        await ws.send(b'{"type": "hello", "token": "x"}')
        assert await _closed(ws) == (1008, "invalid_hello")
