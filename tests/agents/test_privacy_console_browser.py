"""The console's Privacy page in a real Chromium against a real server: an admin previews a
30-day retention over a space with old data (the counts the server's dry run gives), saves
it after a confirmation; places a legal hold with a reason, sees it listed and releases it;
erases a visitor by email and reads what was deleted; reads the audit trail filtered by
action, each entry's diff, and its JSON lines; exports and erases a visitor from a
conversation's details. Agents other than admins see neither the page nor the actions."""

from __future__ import annotations

import asyncio
import json
import tempfile
import zipfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from chat.clock import utcnow
from chat.db import Database
from tests.agents.consoleclient import PASSWORD, ConsoleAgent, console_agent, insert_agent
from tests.browser import BIDI_AUDIT, launch_chromium
from tests.conftest import new_space
from tests.privacy_seed import Life, live, space_id
from tests.servers import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

SHOTS = Path(tempfile.gettempdir())  # docs/privacy.png is the first one, copied by hand
REASON = "Litigation 2026-114, at the request of legal"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("privacy-browser")
    proc = ServerProcess(
        database_url=f"sqlite+aiosqlite:///{tmp / 'c.db'}",
        workdir=tmp,
        # no background run in the middle of the test: what the page previews stays there
        env={"CAUSETTE_RETENTION_INTERVAL_SECONDS": "0"},
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


_open: list[BrowserContext] = []


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def _close_contexts() -> AsyncIterator[None]:
    yield
    while _open:
        await _open.pop().close()


@dataclass
class Seeded:
    space: str
    ada: ConsoleAgent  # admin
    rui: str  # a relation agent's email
    old: list[Life]  # 45 days ago
    erased: Life  # two days ago: erased by email on the page
    talked: Life  # yesterday: exported and erased from its conversation's details


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def seeded(server: ServerProcess) -> AsyncIterator[Seeded]:
    space = await new_space(server.database_url, key="shop")
    ada = await console_agent(server, role="admin", spaces=[space], name="Ada")
    rui = await insert_agent(server.database_url, role="relation", spaces_=[space], name="Rui")
    db = Database(server.database_url)
    try:
        sid = await space_id(db, space)
        now = utcnow()
        old = [await live(db, sid, now - timedelta(days=45), agent_id=ada.id) for _ in range(2)]
        erased = await live(db, sid, now - timedelta(days=2), messages_n=4, agent_id=ada.id)
        talked = await live(db, sid, now - timedelta(days=1), messages_n=2, agent_id=ada.id)
    finally:
        await db.dispose()
    try:
        yield Seeded(space, ada, rui, old, erased, talked)
    finally:
        await ada.close()


# -- the browser ------------------------------------------------------------------------------


async def _page(browser: Browser, problems: list[str]) -> Page:
    context = await browser.new_context(
        viewport={"width": 1440, "height": 900}, locale="en-US", accept_downloads=True
    )
    _open.append(context)
    page = await context.new_page()
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.on("dialog", lambda d: problems.append(f"dialog: {d.message}"))
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and "Content Security Policy" in m.text
            else None
        ),
    )
    return page


async def _sign_in(page: Page, server: ServerProcess, email: str, hash_: str = "") -> None:
    await page.goto(f"{server.base_url}/console{hash_}")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator(".sidebar")).to_be_visible()


async def _shoot(page: Page, path: Path) -> Path:
    """A PNG of the Privacy page (which scrolls inside itself) in full."""
    height = await page.evaluate(
        "() => { const m = document.getElementById('privacy');"
        " return m.scrollHeight + m.getBoundingClientRect().top; }"
    )
    await page.set_viewport_size({"width": 1440, "height": max(900, int(height) + 8)})
    await page.screenshot(path=path)
    await page.set_viewport_size({"width": 1440, "height": 900})
    return path


async def _downloaded(page: Page, click: Any) -> tuple[str, str]:
    async with page.expect_download() as info:
        await click()
    download = await info.value
    path = await download.path()
    assert path is not None, await download.failure()
    text = await asyncio.to_thread(Path(path).read_text, encoding="utf-8")
    return download.suggested_filename, text


async def _counts(page: Page, table: str) -> dict[str, int]:
    """The rows per table of a counts table on the page, by the server's table names."""
    rows = page.locator(f"#{table} tbody tr")
    found = await rows.evaluate_all(
        "(rs) => rs.map((r) => [r.dataset.table, r.querySelector('.num').textContent])"
    )
    return {name: int(n.replace(",", "")) for name, n in found}


async def _open_tab(page: Page, name: str, heading: str) -> None:
    await page.locator(".privacy-tabs").get_by_role("link", name=name).click()
    await expect(page.get_by_role("heading", name=heading, level=2)).to_be_visible()


# -- 1. retention, holds, erasure, the audit trail --------------------------------------------


async def test_an_admin_previews_and_saves_retention_holds_erases_and_reads_the_audit(
    server: ServerProcess, browser: Browser, seeded: Seeded
) -> None:
    problems: list[str] = []
    page = await _page(browser, problems)
    ada, space = seeded.ada, seeded.space
    await _sign_in(page, server, ada.email)
    await page.locator(".sidebar").get_by_role("link", name="Privacy").click()
    await expect(page.get_by_role("heading", name="Privacy", level=1)).to_be_visible()
    assert page.url.endswith("#privacy")

    # retention: the saved policy keeps everything; the page says when deletion happens
    dry = page.locator("#dry-run")
    await expect(dry.locator("h3")).to_have_text("The saved policy")
    await expect(dry).to_contain_text("Everything is kept forever")
    await expect(page.locator(".callout")).to_contain_text("at its next run (it runs every hour)")
    await expect(page.locator(".callout")).to_contain_text("legal hold is never deleted")
    await expect(page.locator("#retention-messages-hint")).to_contain_text(
        "messages, private notes, tags and ratings"
    )

    # a 30-day preview: the server's dry run of that policy, nothing saved
    await page.locator("#retention-messages").fill("30")
    await page.locator("#retention-events").fill("30")
    await page.get_by_role("button", name="Preview").click()
    await expect(dry.locator("h3")).to_have_text("Preview of this policy")
    await expect(dry.locator(".preview-chip")).to_have_text("Not saved")
    expected = (
        await ada.ok(
            "GET",
            f"/api/spaces/{space}/retention?messages=30&events=30&profiles=forever&audit=forever",
        )
    )["dry_run"]["counts"]
    assert expected["conversations"] == 2 and expected["messages"] == 6  # the two old lives
    assert expected["goal_events"] == 2 and expected["exposures"] == 2
    await expect(page.locator("#dry-run-counts tbody tr")).to_have_count(len(expected))
    assert await _counts(page, "dry-run-counts") == expected
    await expect(page.locator("#dry-run-counts tfoot [data-total]")).to_have_text(
        str(sum(expected.values()))
    )
    await expect(page.locator("#dry-run-counts tr[data-table=notes] th")).to_have_text(
        "Private notes"
    )
    policy = (await ada.ok("GET", f"/api/spaces/{space}/retention"))["policy"]
    assert policy == {"messages": None, "profiles": None, "events": None, "audit": None}
    assert await page.evaluate(BIDI_AUDIT, await page.evaluate_handle("document")) == []
    shot = await _shoot(page, SHOTS / "causette-privacy.png")

    # saving asks first, with what the next run deletes; then the dry run of the saved policy
    await page.get_by_role("button", name="Save policy").click()
    confirm = page.locator("dialog.privacy-dialog")
    await expect(confirm).to_contain_text("Save the retention policy of")
    await expect(confirm.locator("#confirm-counts tfoot [data-total]")).to_have_text(
        str(sum(expected.values()))
    )
    await confirm.get_by_role("button", name="Save policy").click()
    await expect(confirm).to_have_count(0)
    await expect(dry.locator("h3")).to_have_text("Saved: the policy now in force")
    await expect(page.locator("#retention-messages-now")).to_have_text("Saved: 30 days")
    await expect(page.locator("#retention-profiles-now")).to_have_text("Saved: Forever")
    assert await _counts(page, "dry-run-counts") == expected
    policy = (await ada.ok("GET", f"/api/spaces/{space}/retention"))["policy"]
    assert policy == {"messages": 30, "profiles": None, "events": 30, "audit": None}

    # a legal hold on a conversation: a reason first
    await _open_tab(page, "Legal holds", "Legal holds")
    await expect(page.locator(".holds-list")).to_contain_text("No legal hold yet.")
    await page.locator("#hold-scope").select_option("conversation")
    held = seeded.old[0].conversation_id
    await page.locator("#hold-conversation").fill(held)
    await page.get_by_role("button", name="Place hold").click()
    await expect(page.locator(".hold-form .form-error")).to_have_text("A hold needs a reason.")
    await page.locator("#hold-reason").fill(REASON)
    await page.get_by_role("button", name="Place hold").click()
    row = page.locator("#holds-table tbody tr")
    await expect(row).to_have_count(1)
    await expect(row.locator(".covers")).to_have_text(f"Conversation {held}")
    await expect(row.locator(".reason")).to_have_text(REASON)
    await expect(row.locator(".status-badge")).to_have_text("Active")
    [hold] = (await ada.ok("GET", "/api/holds"))["holds"]
    assert hold["active"] and hold["conversation_id"] == held and hold["reason"] == REASON
    # the retention dry run now keeps it
    plan = (await ada.ok("GET", f"/api/spaces/{space}/retention"))["dry_run"]
    assert plan["counts"]["conversations"] == 1 and plan["holds"][0]["reason"] == REASON

    # its release: a reason, a confirmation
    await row.get_by_role("button", name="Release the hold").click()
    release = page.locator("dialog.privacy-dialog")
    await expect(release).to_contain_text("goes back to the normal retention schedule")
    button = release.get_by_role("button", name="Release hold")
    await expect(button).to_be_disabled()
    await release.get_by_label("Reason (required)").fill("Case settled")
    await button.click()
    await expect(row.locator(".status-badge")).to_have_text("Released")
    await expect(row.get_by_role("button", name="Release the hold")).to_have_count(0)
    [hold] = (await ada.ok("GET", "/api/holds"))["holds"]
    assert not hold["active"] and hold["released_by"] == "Ada"

    # erasure by email: typed again to confirm; the answer counts what went
    await _open_tab(page, "Visitor requests", "Visitor requests")
    await page.locator("#erase-by").select_option("email")
    await page.get_by_label("Email", exact=True).fill(seeded.erased.email)
    await page.locator("#erase-reason").fill("Request by email, ticket 881")
    await page.get_by_role("button", name="Erase…").click()
    erase = page.locator("dialog.privacy-dialog")
    await expect(erase).to_contain_text(seeded.erased.email)
    sure = erase.get_by_role("button", name="Erase for good")
    await expect(sure).to_be_disabled()
    await erase.get_by_label("Type the Email again to confirm").fill(seeded.erased.email)
    await sure.click()
    result = page.locator("#erase-result")
    await expect(result.locator("h3")).to_have_text("Erased: 1 visitor(s)")
    counts = await _counts(page, "erase-result-counts")
    assert counts["messages"] == 4 and counts["visitors"] == 1 and counts["notes"] == 1, counts
    export = await ada.call("GET", f"/api/visitors/{seeded.erased.visitor_id}/export")
    assert export.status_code == 404
    # the access export: a zip with its manifest; a visitor that is no more is said so
    kept = seeded.old[1]
    await page.locator("#export-visitor").fill(kept.visitor_id)
    async with page.expect_download() as info:
        await page.get_by_role("button", name="Download zip").click()
    download = await info.value
    assert download.suggested_filename == f"visitor-{kept.visitor_id}.zip"
    path = await download.path()
    with zipfile.ZipFile(path) as archive:
        assert {"export.json", "manifest.json"} <= set(archive.namelist())
        assert kept.secret in archive.read("export.json").decode()
    await expect(page.locator(".export-status")).to_have_text(
        f"Downloaded visitor-{kept.visitor_id}.zip"
    )
    await page.locator("#export-visitor").fill(seeded.erased.visitor_id)
    await page.get_by_role("button", name="Download JSON").click()
    await expect(page.locator(".export-box .form-error")).to_have_text(
        "No such visitor in your spaces."
    )

    # the audit trail: filtered by action, in the address; each entry's diff as text
    await _open_tab(page, "Audit trail", "Audit trail")
    entries = page.locator("#audit-table tbody tr:not(.audit-detail)")
    await expect(entries.first).to_be_visible()
    await page.locator("#audit-action").fill("visitor.erase")
    await page.get_by_role("button", name="Show", exact=True).click()
    await expect(entries).to_have_count(1)
    await expect(entries.locator(".action")).to_have_text("Visitor erasedvisitor.erase")
    await expect(entries.locator(".reason")).to_have_text("Request by email, ticket 881")
    await expect(entries.locator(".actor > bdi")).to_have_text("Ada")
    assert urlsplit(page.url).fragment == "privacy/audit?action=visitor.erase"
    await entries.get_by_role("button", name="Details").click()
    diff = page.locator(".audit-detail pre.diff").first
    await expect(diff).to_contain_text("deleted:")
    await expect(diff).to_contain_text("  messages: 4")

    await page.locator("#audit-action").fill("hold.")
    await page.get_by_role("button", name="Show", exact=True).click()
    await expect(entries).to_have_count(2)
    assert await entries.evaluate_all("(rs) => rs.map((r) => r.dataset.action)") == [
        "hold.release",
        "hold.place",
    ]
    await expect(entries.nth(0).locator(".reason")).to_have_text("Case settled")
    await expect(entries.nth(1).locator(".reason")).to_have_text(REASON)
    await expect(page.locator("#audit-more")).to_be_hidden()  # a page holds them all

    await page.locator("#audit-action").fill("retention.update")
    await page.get_by_role("button", name="Show", exact=True).click()
    await expect(entries).to_have_count(1)
    await entries.get_by_role("button", name="Details").click()
    await expect(page.locator(".audit-detail pre.diff").first).to_have_text(
        "events: — → 30\nmessages: — → 30"
    )
    # the same filter as JSON lines
    jsonl = page.locator("#audit-jsonl")
    href = await jsonl.get_attribute("href")
    assert href is not None
    assert parse_qs(urlsplit(href).query) == {"action": ["retention.update"], "format": ["jsonl"]}
    name, text = await _downloaded(page, jsonl.click)
    assert name == "audit.jsonl"
    lines = [json.loads(line) for line in text.splitlines()]
    assert [e["action"] for e in lines] == ["retention.update"]
    assert lines[0]["diff"] == {"events": [None, 30], "messages": [None, 30]}

    # a link to a filtered trail opens it as it is
    other = await _page(browser, problems)
    await _sign_in(other, server, ada.email, "#privacy/audit?action=hold.")
    await expect(other.locator("#audit-action")).to_have_value("hold.")
    await expect(other.locator("#audit-table tbody tr:not(.audit-detail)")).to_have_count(2)
    assert await page.evaluate(BIDI_AUDIT, await page.evaluate_handle("document")) == []
    print(f"\nscreenshot: {shot}")
    assert problems == []


# -- 2. a conversation's details: export and erase the visitor -------------------------------


async def _open_conversation(page: Page, life: Life) -> None:
    await page.locator(".sidebar .views button.view", has_text="All").click()
    await page.locator(".segmented button[data-status=resolved]").click()
    await page.locator(f"button.item[data-conversation-id='{life.conversation_id}']").click()
    await expect(page.locator(".visitor-card h2")).to_have_text(life.name)


async def test_an_admin_exports_and_erases_a_visitor_from_its_conversation(
    server: ServerProcess, browser: Browser, seeded: Seeded
) -> None:
    problems: list[str] = []
    page = await _page(browser, problems)
    life = seeded.talked
    await _sign_in(page, server, seeded.ada.email)
    await _open_conversation(page, life)
    card = page.locator(".details .privacy-actions")
    await expect(card.locator("code")).to_have_text(life.visitor_id)
    name, text = await _downloaded(page, card.get_by_role("link", name="Export visitor data").click)
    assert name == f"visitor-{life.visitor_id}.json"
    doc = json.loads(text)
    assert doc["visitor_id"] == life.visitor_id and life.secret in text

    await card.get_by_role("button", name="Erase visitor…").click()
    confirm = page.locator("dialog.privacy-dialog")
    await expect(confirm).to_contain_text(life.name)
    await confirm.get_by_label("Reason (optional)").fill("Asked in the chat")
    await confirm.get_by_role("button", name="Erase for good").click()
    result = page.locator("#visitor-erase-result")
    await expect(result.locator("h3")).to_have_text("Erased: 1 visitor(s)")
    counts = await _counts(page, "visitor-erase-result-counts")
    assert counts["messages"] == 2 and counts["visitors"] == 1, counts
    await shot_and_close(page)
    # the conversation stays, with no identity: its visitor is now anonymous
    await expect(page.locator(".visitor-card h2")).not_to_have_text(life.name)
    await expect(page.locator(".transcript")).not_to_contain_text(life.secret)
    entry = page.locator(f"button.item[data-conversation-id='{life.conversation_id}']")
    await expect(entry).not_to_contain_text(life.name)  # the inbox forgets it too
    assert problems == []


async def shot_and_close(page: Page) -> None:
    await page.screenshot(path=SHOTS / "causette-privacy-erased.png")
    await page.locator("dialog.privacy-dialog").get_by_role("button", name="Close").click()
    await expect(page.locator("dialog.privacy-dialog")).to_have_count(0)


# -- 3. other roles ---------------------------------------------------------------------------


async def test_other_agents_see_no_privacy_page_nor_actions(
    server: ServerProcess, browser: Browser, seeded: Seeded
) -> None:
    problems: list[str] = []
    page = await _page(browser, problems)
    await _sign_in(page, server, seeded.rui, "#privacy/audit")
    sidebar = page.locator(".sidebar")
    await expect(sidebar.get_by_role("link", name="Reports")).to_be_visible()
    await expect(sidebar.get_by_role("link", name="Privacy")).to_have_count(0)
    await expect(sidebar).not_to_contain_text("Compliance")
    # the address alone opens nothing: the inbox stays
    await expect(page.locator("#privacy")).to_be_hidden()
    await expect(page.locator("#conversation")).to_be_visible()
    await _open_conversation(page, seeded.old[1])
    await expect(page.locator(".details .card").last).to_be_visible()
    await expect(page.locator(".privacy-actions")).to_have_count(0)
    assert problems == []
