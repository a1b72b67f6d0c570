"""The console's Webhooks panel in a real Chromium, under the console's CSP: an admin adds a
webhook (its secret shown once), sends a test, sees it delivered in the log, and the
receiver on loopback verifies what it got with the secret the page showed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, async_playwright, expect
from standardwebhooks import Webhook

from tests.agents.consoleclient import PASSWORD, insert_agent
from tests.agents.receiver import Receiver
from tests.browser import launch_chromium
from tests.conftest import new_space
from tests.servers import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server on SQLite (the routes' tests cover both backends), allowed to reach a
    receiver on loopback."""
    tmp = tmp_path_factory.mktemp("hooks-browser")
    env = {"CAUSETTE_WEBHOOK_ALLOWED_NETWORKS": '["127.0.0.0/8"]'}
    proc = ServerProcess(
        database_url=f"sqlite+aiosqlite:///{tmp / 'h.db'}", workdir=tmp, env=env
    ).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await launch_chromium(p)
        try:
            yield b
        finally:
            await b.close()


async def test_an_admin_adds_a_webhook_and_its_test_is_delivered(
    server: ServerProcess, browser: Browser, tmp_path: Path
) -> None:
    space = await new_space(server.database_url)
    email = await insert_agent(server.database_url, role="admin", spaces_=[space], name="Ada")
    receiver = await Receiver().start()
    context = await browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-US")
    problems: list[str] = []
    try:
        page = await context.new_page()
        page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
        page.on(
            "console",
            lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None,
        )
        await page.goto(f"{server.base_url}/console")
        await page.get_by_label("Email").fill(email)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_role("button", name="Manage").click()
        await page.get_by_role("tab", name="Webhooks").click()
        panel = page.get_by_role("tabpanel")
        await expect(panel).to_contain_text("No webhook yet.")

        await panel.get_by_label("Space").select_option(space)
        await panel.get_by_label("URL").fill(receiver.url())
        await panel.get_by_role("checkbox", name="webhook.test").check()
        await panel.get_by_role("button", name="Create webhook").click()
        shown = panel.get_by_label("The signing secret")
        await expect(shown).to_be_visible()
        await expect(panel).to_contain_text("it will not be shown again")
        secret = await shown.input_value()
        assert secret.startswith("whsec_")

        row = panel.get_by_role("row", name=receiver.url())
        await expect(row).to_contain_text("Enabled")
        await row.get_by_role("button", name="Send test").click()
        got = await receiver.until(lambda got: len(got) >= 1, timeout=15)
        event = Webhook(secret).verify(got[0].body, got[0].headers)
        assert event["type"] == "webhook.test"

        await row.get_by_role("button", name="Deliveries").click()
        log = panel.locator(".webhook-detail")
        await expect(log).to_contain_text("webhook.test")
        await page.screenshot(path=tmp_path / "webhooks.png")  # to look at when this fails

        await page.get_by_role("tab", name="Teams").click()  # the secret was shown once
        await page.get_by_role("tab", name="Webhooks").click()
        await expect(panel.get_by_role("row", name=receiver.url())).to_be_visible()
        assert secret not in await page.content()
    finally:
        await context.close()
        await receiver.stop()
    assert problems == []
