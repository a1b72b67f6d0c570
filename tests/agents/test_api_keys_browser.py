"""The console's API keys panel in a real Chromium, under the console's CSP: an admin makes a
key (shown once, copied with the button), it works for a server, the list shows it without its
secret, and revoking it (asked once more) stops it at once."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, async_playwright, expect

from tests.agents.consoleclient import PASSWORD, insert_agent
from tests.browser import launch_chromium
from tests.conftest import new_space
from tests.servers import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server on SQLite: the API tests cover both backends."""
    tmp = tmp_path_factory.mktemp("keys-browser")
    proc = ServerProcess(database_url=f"sqlite+aiosqlite:///{tmp / 'k.db'}", workdir=tmp).start()
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


async def _status(server: ServerProcess, key: str) -> int:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        r = await http.get("/api/inbox/counts", headers={"authorization": f"Bearer {key}"})
        return r.status_code


async def test_an_admin_makes_copies_and_revokes_a_key(
    server: ServerProcess, browser: Browser, tmp_path: Path
) -> None:
    space = await new_space(server.database_url)
    email = await insert_agent(server.database_url, role="admin", spaces_=[space], name="Ada")
    context = await browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-US")
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.base_url)
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
        await page.get_by_role("tab", name="API keys").click()
        panel = page.get_by_role("tabpanel")
        await expect(panel).to_contain_text("No API key yet.")

        await panel.get_by_label("Name").fill("CRM sync")
        await panel.get_by_role("checkbox", name="conversations:read").check()
        await panel.get_by_role("button", name="Create key").click()
        shown = panel.get_by_label("The new key")
        await expect(shown).to_be_visible()
        await expect(panel).to_contain_text("it will not be shown again")
        key = await shown.input_value()
        assert key.startswith("cst_") and len(key) >= 47
        await panel.get_by_role("button", name="Copy").click()
        await expect(page.get_by_text("Key copied")).to_be_visible()
        assert await page.evaluate("navigator.clipboard.readText()") == key
        assert await _status(server, key) == 200
        await page.screenshot(path=tmp_path / "keys.png")  # to look at when this fails

        row = panel.get_by_role("row", name="CRM sync")
        await expect(row).to_contain_text("conversations:read")
        await expect(row).to_contain_text("Active")

        await page.get_by_role("tab", name="Teams").click()  # leaving the panel forgets it
        await page.get_by_role("tab", name="API keys").click()
        await expect(panel.get_by_role("row", name="CRM sync")).to_be_visible()
        assert key not in await page.content()

        await row.get_by_role("button", name="Revoke").click()
        await row.get_by_role("button", name=re.compile(r"^Revoke \W?CRM sync\W? now$")).click()
        await expect(page.get_by_text("Key revoked")).to_be_visible()
        await expect(panel.get_by_role("row", name="CRM sync")).to_contain_text("Revoked")
        assert await _status(server, key) == 401
    finally:
        await context.close()
    assert problems == []
