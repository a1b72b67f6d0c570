"""The HTTP edge of the core, in process on both backends: POST /api/visitors and its
refusals, /healthz and /readyz. (The token opening a socket: test_exchange.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.inproc import App
from tests.rows import fetch

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def server(inproc: App) -> App:
    return inproc


async def post_visitor(server: App, **kwargs: object) -> httpx.Response:
    return await server.http.post("/api/visitors", **kwargs)  # type: ignore[arg-type]


def error_code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


async def visitor_count(server: App) -> int:
    return int((await fetch(server.database_url, "SELECT count(*) AS n FROM visitors"))[0].n)


async def test_unknown_space_is_404(server: App) -> None:
    before = await visitor_count(server)
    response = await post_visitor(server, json={"space": "no-such-space"})
    assert (response.status_code, error_code(response)) == (404, "space_not_found")
    assert await visitor_count(server) == before


async def test_bad_json_is_400(server: App) -> None:
    headers = {"content-type": "application/json"}
    for content in (b"{not json", b"[1, 2]", b'"default"', b"", b"\xff\xfe"):
        response = await post_visitor(server, content=content, headers=headers)
        assert response.status_code == 400, content
        assert error_code(response) == "invalid_json"
    for payload in ({}, {"space": 5}, {"space": ""}, {"space": None}, {"space": "x" * 65}):
        response = await post_visitor(server, json=payload)
        assert response.status_code == 400, payload
        assert error_code(response) == "invalid_request"


async def test_wrong_content_type_is_415(server: App) -> None:
    for headers, content in (
        ({"content-type": "text/plain"}, b'{"space": "default"}'),
        ({"content-type": "application/x-www-form-urlencoded"}, b"space=default"),
        ({}, b'{"space": "default"}'),
    ):
        response = await post_visitor(server, content=content, headers=headers)
        assert (response.status_code, error_code(response)) == (415, "unsupported_media_type")


async def test_oversized_body_is_413(server: App) -> None:
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


async def test_another_sites_origin_is_refused(server: App) -> None:
    response = await post_visitor(
        server, json={"space": "default"}, headers={"origin": "https://evil.example"}
    )
    assert (response.status_code, error_code(response)) == (403, "origin_not_allowed")


async def test_healthz_and_readyz(server: App) -> None:
    health = await server.http.get("/healthz")
    ready = await server.http.get("/readyz")
    assert (health.status_code, health.json()["status"]) == (200, "ok")
    assert ready.status_code == 200
    assert ready.json()["database"] == "ok" and ready.json()["broker"] == "ok"
