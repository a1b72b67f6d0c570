"""Readiness names what is down. The database is cut off by a TCP relay between the server and
the shared PostgreSQL, which is never stopped: closing the relay is the outage."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.rows import message_rows
from tests.servers import PG_ADMIN_DSN, ServerProcess, create_pg_database, drop_pg_database
from tests.services import Relay
from tests.wsclient import ChatClient, visitor_token


@contextlib.asynccontextmanager
async def server_behind_relay(tmp: Path) -> AsyncIterator[tuple[ServerProcess, Relay]]:
    host_port = PG_ADMIN_DSN.split("@", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    relay = Relay((host, int(port)))
    await relay.start()
    name, url = create_pg_database()
    proxied = url.replace(host_port, f"127.0.0.1:{relay.port}")
    server = ServerProcess(database_url=proxied, workdir=tmp)
    try:
        await asyncio.to_thread(server.start)  # the relay serves meanwhile, on this loop
        yield server, relay
    finally:
        await asyncio.to_thread(server.stop)
        await relay.cut()
        await asyncio.to_thread(drop_pg_database, name)


async def readyz(http: httpx.AsyncClient, server: ServerProcess) -> httpx.Response:
    return await http.get(f"{server.base_url}/readyz", timeout=15)


@pytest.mark.timeout(90)
async def test_readyz_names_the_database_when_it_is_unreachable(tmp_path: Path) -> None:
    async with server_behind_relay(tmp_path) as (server, relay), httpx.AsyncClient() as http:
        ready = await readyz(http, server)
        assert ready.status_code == 200
        assert ready.json()["database"] == "ok"

        token = (await visitor_token(server.base_url))["token"]
        visitor = await ChatClient.connect(server.ws_url, "/ws/visitor", token)
        first = await visitor.say("before the outage")

        await relay.cut()
        down = await readyz(http, server)
        assert down.status_code == 503
        assert down.json()["database"] == "unavailable"
        assert down.json()["broker"] == "ok"
        health = await http.get(f"{server.base_url}/healthz")
        assert health.status_code == 200  # alive, only not ready

        # a message that cannot be stored is not acked: the error says to resend
        client_id = str(uuid.uuid4())
        await visitor.send({"type": "message", "client_id": client_id, "body": "during"})
        error = await visitor.expect("error", ref=client_id, timeout=30)
        assert error["code"] == "store_unavailable" and error["retryable"] is True
        assert not [f for f in visitor.frames if f["type"] == "ack" and f["client_id"] == client_id]

        await relay.restore()
        assert (await readyz(http, server)).status_code == 200
        retry = await visitor.say("during", client_id=client_id)
        assert retry["seq"] == first["seq"] + 1
        assert len(await message_rows(server.database_url, client_id)) == 1
        await visitor.close()
