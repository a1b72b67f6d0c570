"""The HTTP edge of the core: POST /api/visitors and its refusals, /healthz and /readyz."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.rows import fetch
from tests.servers import ServerProcess
from tests.wsclient import ChatClient

pytestmark = pytest.mark.usefixtures("closing_clients")


async def post_visitor(server: ServerProcess, **kwargs: object) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(f"{server.base_url}/api/visitors", **kwargs)  # type: ignore[arg-type]


def error_code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


async def visitor_count(server: ServerProcess) -> int:
    return int((await fetch(server.database_url, "SELECT count(*) AS n FROM visitors"))[0].n)


async def test_a_visitor_gets_a_token_that_opens_a_socket(server: ServerProcess) -> None:
    response = await post_visitor(server, json={"space": "default"})
    assert response.status_code == 201
    body = response.json()
    assert set(body) >= {"visitor_id", "token"}
    rows = await fetch(
        server.database_url,
        "SELECT s.key FROM visitors v JOIN spaces s ON s.id = v.space_id WHERE v.id = :v",
        v=body["visitor_id"],
    )
    assert [r.key for r in rows] == ["default"]
    client = await ChatClient.connect(server.ws_url, "/ws/visitor", body["token"])
    assert client.welcome["visitor_id"] == body["visitor_id"]
    assert client.welcome["space"] == "default"
    await client.close()


async def test_unknown_space_is_404(server: ServerProcess) -> None:
    before = await visitor_count(server)
    response = await post_visitor(server, json={"space": "no-such-space"})
    assert (response.status_code, error_code(response)) == (404, "space_not_found")
    assert await visitor_count(server) == before


async def test_bad_json_is_400(server: ServerProcess) -> None:
    headers = {"content-type": "application/json"}
    for content in (b"{not json", b"[1, 2]", b'"default"', b"", b"\xff\xfe"):
        response = await post_visitor(server, content=content, headers=headers)
        assert response.status_code == 400, content
        assert error_code(response) == "invalid_json"
    for payload in ({}, {"space": 5}, {"space": ""}, {"space": None}, {"space": "x" * 65}):
        response = await post_visitor(server, json=payload)
        assert response.status_code == 400, payload
        assert error_code(response) == "invalid_request"


async def test_wrong_content_type_is_415(server: ServerProcess) -> None:
    for headers, content in (
        ({"content-type": "text/plain"}, b'{"space": "default"}'),
        ({"content-type": "application/x-www-form-urlencoded"}, b"space=default"),
        ({}, b'{"space": "default"}'),
    ):
        response = await post_visitor(server, content=content, headers=headers)
        assert (response.status_code, error_code(response)) == (415, "unsupported_media_type")


async def test_oversized_body_is_413(server: ServerProcess) -> None:
    before = await visitor_count(server)
    big = b'{"space": "default", "pad": "' + b"x" * (64 * 1024) + b'"}'
    response = await post_visitor(server, content=big, headers={"content-type": "application/json"})
    assert (response.status_code, error_code(response)) == (413, "body_too_large")

    async def streamed() -> AsyncIterator[bytes]:  # no content-length: chunked
        yield b'{"space": "default", "pad": "'
        for _ in range(20):
            yield b"y" * 8192
        yield b'"}'

    response = await post_visitor(
        server, content=streamed(), headers={"content-type": "application/json"}
    )
    assert (response.status_code, error_code(response)) == (413, "body_too_large")
    assert await visitor_count(server) == before


async def test_another_sites_origin_is_refused(server: ServerProcess) -> None:
    response = await post_visitor(
        server, json={"space": "default"}, headers={"origin": "https://evil.example"}
    )
    assert (response.status_code, error_code(response)) == (403, "origin_not_allowed")


async def test_healthz_and_readyz(server: ServerProcess) -> None:
    async with httpx.AsyncClient() as http:
        health = await http.get(f"{server.base_url}/healthz")
        ready = await http.get(f"{server.base_url}/readyz")
    assert (health.status_code, health.json()["status"]) == (200, "ok")
    assert ready.status_code == 200
    assert ready.json()["database"] == "ok" and ready.json()["broker"] == "ok"
