"""The widget and the console keep one policy for a link that goes dead without a word (a
sleeping laptop, a dropped Wi-Fi): they ping at the pace the server gives, notice the silence,
reconnect with backoff and resume. Tested in Chromium with the link cut by a relay that stops
forwarding on the open WebSocket connections (as a NAT or a proxy drops an idle long-lived
connection without a word), and the policy's two copies compared."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, async_playwright, expect

from tests.agents.consoleclient import PASSWORD, insert_agent
from tests.browser import launch_chromium
from tests.conftest import running_server
from tests.servers import ServerProcess
from tests.services import Relay
from tests.wsclient import connect_agent, connect_visitor

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

ROOT = Path(__file__).resolve().parents[2]
HEARTBEAT = 1.0  # seconds: what the server tells both clients in its welcome


def _policy(path: Path) -> list[str]:
    text = path.read_text()
    block = re.search(r"// -- link policy: begin\n(.*?)// -- link policy: end", text, re.S)
    assert block is not None, path
    lines = (line.strip().removeprefix("export ") for line in block.group(1).splitlines())
    return [line for line in lines if line]


async def test_the_widget_and_the_console_have_the_same_link_policy() -> None:
    widget = _policy(ROOT / "widget" / "widget.js")
    console = _policy(ROOT / "agents" / "console" / "link.js")
    assert widget == console
    assert any("reconnectDelay" in line for line in widget)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {"CAUSETTE_HEARTBEAT_SECONDS": str(HEARTBEAT)}
    with running_server("sqlite", tmp_path_factory.mktemp("link"), env) as s:
        yield s


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await launch_chromium(p)
        try:
            yield b
        finally:
            await b.close()


@pytest_asyncio.fixture(loop_scope="module")
async def relay(server: ServerProcess) -> AsyncIterator[Relay]:
    relay = Relay(("127.0.0.1", server.port))
    await relay.start()
    try:
        yield relay
    finally:
        await relay.cut()


async def test_the_console_notices_a_dead_link_and_comes_back(
    browser: Browser, server: ServerProcess, relay: Relay
) -> None:
    email = await insert_agent(server.database_url, role="admin", spaces_=["default"], name="Ada")
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = await context.new_page()
        await page.goto(f"http://127.0.0.1:{relay.port}/console")
        await page.get_by_label("Email").fill(email)
        await page.get_by_label("Password").fill(PASSWORD)
        async with page.expect_websocket():
            await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("button", name="Mine")).to_be_visible()

        # the link goes dead: no close, no error, just silence; the ping goes unanswered and
        # the console opens a new socket
        async with page.expect_websocket(timeout=20_000) as again:
            relay.freeze(websockets_only=True)
        assert (await again.value).url.endswith("/ws/agent")
        # and it works: a visitor's message reaches this console through the new socket
        visitor = await connect_visitor(server)
        await visitor.say("Anyone there after the outage?")
        await page.get_by_role("button", name="All").click()
        await expect(page.get_by_text("Anyone there after the outage?").first).to_be_visible()
        await visitor.close()
    finally:
        await context.close()


async def test_the_widget_notices_a_dead_link_and_resumes(
    browser: Browser, server: ServerProcess, relay: Relay
) -> None:
    agent = await connect_agent(server, spaces=["default"], name="Camille")
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = await context.new_page()
        await page.goto(f"http://127.0.0.1:{relay.port}/demo")
        await page.get_by_role("button", name="Chat with us", exact=True).click()
        panel = page.get_by_role("dialog", name="Chat with us")
        box = panel.get_by_role("textbox", name="Message")
        await box.fill("Before the cut")
        await box.press("Enter")
        first = await agent.expect("message")

        async with page.expect_websocket(timeout=20_000) as again:
            relay.freeze(websockets_only=True)
        assert "/ws/visitor" in (await again.value).url
        # typed while the link was dead or after: delivered once the widget is back, in order
        await box.fill("After the cut")
        await box.press("Enter")
        second = await agent.expect("message", body="After the cut")
        assert second["conversation_id"] == first["conversation_id"]
        assert second["seq"] == first["seq"] + 1
        # the agent's reply reaches the visitor on the new socket
        await agent.say("Welcome back", conversation_id=first["conversation_id"])
        await expect(panel.get_by_text("Welcome back")).to_be_visible()
    finally:
        await context.close()
        await agent.close()
