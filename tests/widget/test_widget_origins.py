"""Which sites may use a space: exact origin matches on the token endpoint, the status
endpoint and the WebSocket handshake, and the CORS answers the widget needs. Both backends."""

from __future__ import annotations

import httpx
import pytest
import websockets

from tests.servers import ServerProcess
from tests.widget.conftest import connect_agent, make_space
from tests.wsclient import ChatClient

SHOP = "https://shop.example"
LOOKALIKES = [
    "https://shop.example.evil.test",
    "https://evil.test",
    "http://shop.example",  # another scheme
    "https://shop.example:8443",  # another port
    "https://sub.shop.example",
    "https://shop.exampl",
    "null",
]


async def test_token_endpoint_matches_origins_exactly(server: ServerProcess) -> None:
    space, _ = await make_space(server.database_url, [SHOP, "https://www.shop.example"])
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        for origin in (SHOP, "https://www.shop.example", "https://SHOP.example:443"):
            r = await http.post("/api/visitors", json={"space": space}, headers={"origin": origin})
            assert r.status_code == 201, origin
            assert r.headers["access-control-allow-origin"] == origin
        for origin in LOOKALIKES:
            r = await http.post("/api/visitors", json={"space": space}, headers={"origin": origin})
            assert r.status_code == 403, origin
            assert r.json()["error"]["code"] == "origin_not_allowed"
            assert "token" not in r.json()
        # an origin allowed for one space opens nothing in another
        other, _ = await make_space(server.database_url, ["https://retail.example"])
        r = await http.post("/api/visitors", json={"space": other}, headers={"origin": SHOP})
        assert r.status_code == 403


async def test_websocket_handshake_matches_origins_exactly(server: ServerProcess) -> None:
    space, _ = await make_space(server.database_url, [SHOP])
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        token = (
            await http.post("/api/visitors", json={"space": space}, headers={"origin": SHOP})
        ).json()["token"]
    url = f"{server.ws_url}/ws/visitor?space={space}"
    for origin in LOOKALIKES:
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(url, origin=origin)  # type: ignore[arg-type]
        assert refused.value.response.status_code == 403, origin
    client = await ChatClient.connect(
        server.ws_url, f"/ws/visitor?space={space}", token, origin=SHOP
    )
    assert client.welcome["space"] == space
    await client.close()
    # without the space in the URL the page's origin cannot be checked: refused
    with pytest.raises(websockets.InvalidStatus):
        await websockets.connect(f"{server.ws_url}/ws/visitor", origin=SHOP)  # type: ignore[arg-type]


async def test_status_endpoint_and_preflight(server: ServerProcess) -> None:
    space, _ = await make_space(
        server.database_url, [SHOP], identity_mode="enforce", prechat="name_email"
    )
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        preflight = await http.options(
            "/api/visitors",
            headers={
                "origin": SHOP,
                "access-control-request-method": "POST",
                "access-control-request-headers": "content-type",
            },
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == SHOP
        assert "content-type" in preflight.headers["access-control-allow-headers"]
        assert "POST" in preflight.headers["access-control-allow-methods"]

        status = await http.get(f"/api/spaces/{space}/status", headers={"origin": SHOP})
        assert status.json() == {
            "agents_online": False,
            "prechat": "name_email",
            "identity_mode": "enforce",
            "campaigns": False,
            "email_replies": False,  # no SMTP server configured
        }
        assert status.headers["access-control-allow-origin"] == SHOP
        assert "secret" not in status.text
        agent = await connect_agent(server, space)
        status = await http.get(f"/api/spaces/{space}/status", headers={"origin": SHOP})
        assert status.json()["agents_online"] is True
        await agent.close()

        refused = await http.get(
            f"/api/spaces/{space}/status", headers={"origin": "https://shop.example.evil.test"}
        )
        assert refused.status_code == 403
        missing = await http.get("/api/spaces/no-such-space/status")
        assert missing.status_code == 404
