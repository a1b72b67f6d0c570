"""The console's Campaigns section in a real Chromium against a real server: a marketing agent
creates, launches, watches, reads, downloads and kills an experiment from the console alone;
a relation agent never sees the section; a server validation error stays beside the form; a
launched campaign keeps its goals and says when a change starts a new phase; French."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Locator, Page, async_playwright, expect

from tests.agents.consoleclient import PASSWORD, ConsoleAgent, console_agent, insert_agent
from tests.browser import BIDI_AUDIT, launch_chromium
from tests.conftest import new_space
from tests.servers import ServerProcess
from tests.wsclient import ChatClient, connect_visitor

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

SHOTS = Path(tempfile.gettempdir())  # the screenshots, to look at
KILL_TEXT = (
    "Kill switch: the campaign ends for good and disappears from every visitor's page "
    "within seconds"
)
CAMPAIGN: dict[str, Any] = {
    "name": "Spring sale",
    "arms": [
        {"key": "a", "weight": 1, "message": "Questions about the sale?"},
        {"key": "b", "weight": 1, "message": "20 % off today. Any question?"},
    ],
    "holdout": 0.1,
    "rules": {"all": [{"url": "/sale/*"}]},
    "goal": {"event": "checkout", "window_hours": 72},
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("campaigns-browser")
    proc = ServerProcess(database_url=f"sqlite+aiosqlite:///{tmp / 'c.db'}", workdir=tmp).start()
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


async def _page(browser: Browser, problems: list[str], locale: str = "en-US") -> Page:
    context = await browser.new_context(
        viewport={"width": 1440, "height": 900}, locale=locale, accept_downloads=True
    )
    _open.append(context)
    page = await context.new_page()
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.on("dialog", lambda d: problems.append(f"dialog: {d.message}"))  # no window.confirm
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and "Content Security Policy" in m.text
            else None
        ),
    )
    return page


class Steps:
    """What the agent does, counted: each click and each field filled or chosen is a step."""

    def __init__(self) -> None:
        self.count = 0

    async def click(self, target: Locator) -> None:
        self.count += 1
        await target.click()

    async def fill(self, target: Locator, value: str) -> None:
        self.count += 1
        await target.fill(value)


async def _sign_in(page: Page, server: ServerProcess, email: str, hash_: str = "") -> None:
    await page.goto(f"{server.base_url}/console{hash_}")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("button", name="Mine")).to_be_attached()


async def _shoot(page: Page, name: str, width: int = 1440) -> Path:
    """A PNG of the whole Campaigns page (it scrolls inside its column) at this width."""
    await page.set_viewport_size({"width": width, "height": 900})
    height = await page.evaluate(
        "() => { const m = document.getElementById('campaigns');"
        " return m.scrollHeight + m.getBoundingClientRect().top; }"
    )
    await page.set_viewport_size({"width": width, "height": max(900, int(height) + 8)})
    path = SHOTS / f"causette-campaigns-{name}.png"
    await page.screenshot(path=path)
    await page.set_viewport_size({"width": 1440, "height": 900})
    return path


async def _no_horizontal_overflow(page: Page) -> None:
    widths = await page.evaluate(
        "() => { const m = document.getElementById('campaigns');"
        " return [m.scrollWidth, m.clientWidth, document.documentElement.scrollWidth,"
        " window.innerWidth]; }"
    )
    assert widths[0] <= widths[1] + 1 and widths[2] <= widths[3] + 1, widths


async def _campaign(agent: ConsoleAgent, space: str, **extra: Any) -> dict[str, Any]:
    created = await agent.ok("POST", "/api/campaigns", {"space": space, **CAMPAIGN, **extra})
    return await agent.ok("POST", f"/api/campaigns/{created['id']}/launch")


async def test_marketing_runs_an_experiment_from_the_console(
    server: ServerProcess, browser: Browser
) -> None:
    space = await new_space(server.database_url)
    email = await insert_agent(server.database_url, role="marketing", spaces_=[space], name="Mia")
    observer = await console_agent(server, role="marketing", spaces=[space], name="Olga")
    problems: list[str] = []
    page = await _page(browser, problems)
    await page.goto(f"{server.base_url}/console")
    steps = Steps()

    started = time.monotonic()
    await steps.fill(page.get_by_label("Email"), email)
    await steps.fill(page.get_by_label("Password"), PASSWORD)
    await steps.click(page.get_by_role("button", name="Sign in"))
    await steps.click(page.get_by_role("link", name="Campaigns"))
    await steps.click(page.get_by_role("link", name="New campaign").first)
    await steps.fill(page.get_by_label("Name", exact=True), "Free delivery nudge")
    arms = page.locator(".arm")  # two arms to begin with: an A/B test
    await steps.fill(arms.nth(0).get_by_label("Invitation text"), "Questions about delivery?")
    await steps.fill(arms.nth(1).get_by_label("Invitation text"), "Free delivery today!")
    await steps.fill(page.get_by_label("Holdout"), "10")
    await steps.click(page.get_by_role("button", name="Add a condition"))  # page URL matches
    condition = page.locator(".condition").first
    await steps.fill(condition.get_by_label("URL pattern"), "https://shop.example/promo/*")
    await steps.fill(page.get_by_label("Event name"), "checkout")  # the goal: an event
    pause = time.monotonic()
    editor_shot = await _shoot(page, "editor")  # not the agent's time
    started += time.monotonic() - pause
    await steps.click(page.get_by_role("button", name="Create campaign"))
    heading = page.get_by_role("heading", name="Free delivery nudge")
    await expect(heading).to_be_visible()
    badge = page.locator(".page-head .status-badge")
    await expect(badge).to_have_text("Draft")
    await steps.click(page.get_by_role("button", name="Launch"))
    await expect(badge).to_have_text("Live")
    elapsed = time.monotonic() - started
    print(f"\nsign-in to a live campaign: {steps.count} steps, {elapsed:.1f} s")

    # what was created, as the API reads it
    [campaign] = (await observer.ok("GET", f"/api/campaigns?space={space}"))["campaigns"]
    assert campaign["status"] == "live" and campaign["phase"] == 1
    assert [a["key"] for a in campaign["arms"]] == ["a", "b"]
    assert [a["message"] for a in campaign["arms"]] == [
        "Questions about delivery?",
        "Free delivery today!",
    ]
    assert campaign["holdout"] == 0.1
    assert campaign["rules"] == {"all": [{"url": "https://shop.example/promo/*"}]}
    assert campaign["goal"]["event"] == "checkout" and campaign["goal"]["window_hours"] == 72
    cid = campaign["id"]

    # visitors see it, and some convert: the results page shows them as they arrive
    expected = {"holdout": [0, 0], "a": [0, 0], "b": [0, 0]}
    visitors: list[ChatClient] = []
    for i in range(12):
        visitor = await connect_visitor(server, space=space)
        offer = await visitor.expect("campaign", timeout=5, campaign_id=cid)
        assert offer["phase"] == 1
        await visitor.send({"type": "exposure", "campaign_id": cid, "phase": 1})
        expected[offer["arm"]][0] += 1
        if i % 3 != 2:
            await visitor.send({"type": "track", "event": "checkout"})
            expected[offer["arm"]][1] += 1
        visitors.append(visitor)
    for visitor in visitors:  # every frame before it handled
        await visitor.send({"type": "ping"})
        await visitor.expect("pong")
    await expect(page.get_by_role("tab", name="Results")).to_have_attribute("aria-selected", "true")
    for arm, (exposed, converted) in expected.items():  # no click: the page refreshes itself
        row = page.locator(f"tr[data-arm='{arm}']")
        await expect(row.locator("[data-col=exposed]")).to_have_text(str(exposed), timeout=15000)
        await expect(row.locator("[data-col=converted]")).to_have_text(str(converted))
    verdict = page.locator(".verdict")
    await expect(verdict).to_have_attribute("data-code", "not_enough_data")
    await expect(verdict).to_contain_text("Not enough data yet: each arm needs 100 exposed")
    await expect(page.locator(".method")).to_contain_text("Wilson score, 95 %")
    await page.get_by_text("How to read this").click()
    await expect(page.locator(".guide")).to_contain_text("Always-valid interval")

    # the two charts load (same-origin SVG under the console's CSP), described by their alt
    charts = page.locator("img.chart")
    await expect(charts).to_have_count(2)
    await page.wait_for_function(
        "() => [...document.querySelectorAll('img.chart')]"
        ".every((i) => i.complete && i.naturalWidth > 0)"
    )
    srcs = await charts.evaluate_all("els => els.map((e) => new URL(e.src).pathname)")
    assert srcs == [f"/api/campaigns/{cid}/charts/rate", f"/api/campaigns/{cid}/charts/lift"]
    alt = await charts.first.get_attribute("alt") or ""
    a_exposed, a_converted = expected["a"]
    assert f"a {a_converted} of {a_exposed} exposed" in alt and "Not enough data" in alt, alt
    results_shot = await _shoot(page, "results")
    results_narrow = await _shoot(page, "results-360", width=360)

    # the CSV: the same figures
    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="Download CSV").click()
    download = await download_info.value
    assert download.suggested_filename == f"campaign-{cid[:8]}-phase-1.csv"
    text = await asyncio.to_thread(Path(await download.path()).read_text)
    table = list(csv.DictReader(io.StringIO(text)))
    got = {r["arm"]: [int(r["exposed"]), int(r["converted"])] for r in table}
    assert got == expected

    # who did what
    await page.get_by_role("tab", name="History").click()
    history = page.locator(".history-table tbody tr")
    await expect(history).to_have_count(2)
    await expect(history.first).to_contain_text("Launched")
    await expect(history.first).to_contain_text("Mia")
    await expect(history.first).to_contain_text("Draft → Live")
    await expect(history.last).to_contain_text("Created")

    # the kill switch asks first, then ends it everywhere
    await page.get_by_role("button", name="Kill").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text(KILL_TEXT)
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(badge).to_have_text("Live")
    await page.get_by_role("button", name="Kill").click()
    await dialog.get_by_role("button", name="Kill the campaign").click()
    await expect(badge).to_have_text("Ended")
    gone = await visitors[0].expect("campaign", timeout=5, campaign_id=cid)
    assert gone.get("withdrawn") is True
    assert (await observer.ok("GET", f"/api/campaigns/{cid}"))["status"] == "ended"
    await expect(page.get_by_role("button", name="Launch")).to_have_count(0)

    await page.get_by_role("link", name="All campaigns").click()
    row = page.locator(f"tr[data-campaign-id='{cid}']")
    await expect(row.locator(".status-badge")).to_have_text("Ended")
    list_shot = await _shoot(page, "list")
    await _shoot(page, "list-360", width=360)
    await page.set_viewport_size({"width": 360, "height": 800})
    await _no_horizontal_overflow(page)
    await page.goto(f"{server.base_url}/console#campaigns/new")
    await expect(page.get_by_role("heading", name="New campaign")).to_be_visible()
    await _no_horizontal_overflow(page)
    await _shoot(page, "editor-360", width=360)
    print(f"screenshots: {list_shot} {editor_shot} {results_shot} {results_narrow}")
    for visitor in visitors:
        await visitor.close()
    await observer.close()
    assert problems == []


async def test_a_relation_agent_sees_no_campaigns(server: ServerProcess, browser: Browser) -> None:
    space = await new_space(server.database_url)
    email = await insert_agent(server.database_url, role="relation", spaces_=[space], name="Rui")
    problems: list[str] = []
    page = await _page(browser, problems)
    await _sign_in(page, server, email, "#campaigns")
    await expect(page.get_by_role("button", name="Mine")).to_be_visible()
    await expect(page.get_by_role("link", name="Campaigns")).to_have_count(0)
    await expect(page.locator("#campaigns")).to_be_hidden()
    await expect(page.locator("#conversation")).to_be_visible()
    assert problems == []


async def test_a_server_validation_error_stays_beside_the_form(
    server: ServerProcess, browser: Browser
) -> None:
    space = await new_space(server.database_url)
    email = await insert_agent(server.database_url, role="marketing", spaces_=[space], name="Val")
    observer = await console_agent(server, role="admin", spaces=[space], name="Ava")
    problems: list[str] = []
    page = await _page(browser, problems)
    await _sign_in(page, server, email, "#campaigns/new")
    await expect(page.get_by_role("heading", name="New campaign")).to_be_visible()
    await page.get_by_label("Name", exact=True).fill("Evening hours")
    arms = page.locator(".arm")
    await arms.nth(0).get_by_label("Invitation text").fill("Still there? We answer until 10 pm.")
    await arms.nth(1).get_by_label("Invitation text").fill("Need a hand tonight?")
    await arms.nth(1).get_by_label("Quick-reply buttons").fill("Yes\nNo, thanks\nLater\nCall me\nX")
    add = page.get_by_role("button", name="Add a condition")
    conditions = page.locator(".condition")
    await add.click()
    await conditions.nth(0).get_by_label("URL pattern").fill("/pricing*")
    await add.click()
    await page.get_by_label("Condition 2", exact=True).select_option("scroll")
    await conditions.nth(1).get_by_label("Percent").fill("50")
    await add.click()
    await page.get_by_label("Condition 3", exact=True).select_option("hours")
    await conditions.nth(2).get_by_label("From").fill("")  # no start time: not HH:MM
    await page.get_by_label("Event name").fill("signup")
    create = page.get_by_role("button", name="Create campaign")
    error = page.locator(".form-error")

    await create.click()  # five buttons: refused before it leaves the browser
    await expect(error).to_contain_text("at most 4 quick-reply buttons")
    await arms.nth(1).get_by_label("Quick-reply buttons").fill("Yes, No thanks")

    await create.click()  # the server's answer, beside the form, pointing at the condition
    await expect(error).to_contain_text("rules.all[2].hours.from: must be HH:MM")
    await expect(error).to_contain_text("Condition 3")
    await expect(conditions.nth(2)).to_have_class("condition invalid")
    await expect(page.get_by_label("Name", exact=True)).to_have_value("Evening hours")
    await expect(conditions.nth(0).get_by_label("URL pattern")).to_have_value("/pricing*")
    assert (await observer.ok("GET", f"/api/campaigns?space={space}"))["campaigns"] == []
    await _shoot(page, "editor-error")

    await conditions.nth(2).get_by_label("From").fill("18:30")
    await create.click()
    await expect(page.get_by_role("heading", name="Evening hours")).to_be_visible()
    [saved] = (await observer.ok("GET", f"/api/campaigns?space={space}"))["campaigns"]
    assert saved["rules"] == {
        "all": [{"url": "/pricing*"}, {"scroll": 50}, {"hours": {"from": "18:30", "to": "18:00"}}]
    }
    assert saved["arms"][1]["buttons"] == ["Yes", "No thanks"]
    assert saved["goal"]["event"] == "signup"

    # nesting goes through the JSON view; the builder says when it cannot show a tree
    await page.get_by_role("button", name="Advanced (JSON)").click()
    rules_json = page.get_by_label("Targeting rules (JSON)")
    await expect(rules_json).to_have_value(re.compile('"scroll": 50'))
    await rules_json.fill('{"any": [{"url": "/pricing*"}, {"not": {"device": "mobile"}}]}')
    await page.get_by_role("button", name="Save changes").click()
    await expect(page.locator(".toast").last).to_contain_text("Saved")
    detail = await observer.ok("GET", f"/api/campaigns/{saved['id']}")
    assert detail["rules"] == {"any": [{"url": "/pricing*"}, {"not": {"device": "mobile"}}]}
    assert detail["phase"] == 0  # a draft: no phase yet
    await expect(page.get_by_label("Targeting rules (JSON)")).to_be_visible()
    await expect(page.locator(".rules .field-note")).to_contain_text("cannot show")
    await observer.close()
    assert problems == []


async def test_a_launched_campaign_keeps_its_goals_and_announces_a_new_phase(
    server: ServerProcess, browser: Browser
) -> None:
    space = await new_space(server.database_url)
    email = await insert_agent(server.database_url, role="marketing", spaces_=[space], name="Leo")
    other = await console_agent(server, role="marketing", spaces=[space], name="Nadia")
    campaign = await _campaign(other, space)
    problems: list[str] = []
    page = await _page(browser, problems)
    await _sign_in(page, server, email, f"#campaigns/{campaign['id']}/settings")
    await expect(page.get_by_role("heading", name="Spring sale")).to_be_visible()
    await expect(page.get_by_label("Primary goal")).to_be_disabled()
    await expect(page.get_by_label("Event name")).to_be_disabled()
    await expect(page.get_by_label("Event name")).to_have_value("checkout")
    note = page.locator(".phase-note")
    await expect(note).to_have_text(
        "Changing arms, holdout or targeting starts phase 2; results are counted apart."
    )
    await page.get_by_label("Priority").fill("5")  # not phased
    await expect(note).not_to_have_class("phase-note pending")
    await page.get_by_label("Holdout").fill("20")
    await expect(note).to_contain_text("Saving starts phase 2: you changed holdout.")
    await page.get_by_role("button", name="Save changes").click()
    await expect(page.locator(".toast").last).to_contain_text("phase 2 has started")
    await expect(page.locator(".page-head")).to_contain_text("Phase 2")
    detail = await other.ok("GET", f"/api/campaigns/{campaign['id']}")
    assert detail["phase"] == 2 and detail["holdout"] == 0.2 and detail["priority"] == 5

    await page.get_by_role("tab", name="Results").click()
    await expect(page.locator("#results-phase option")).to_have_count(2)
    await expect(page.locator(".verdict")).to_have_attribute("data-code", "not_enough_data")
    await page.get_by_label("Phase", exact=True).select_option("1")
    await expect(page.get_by_role("link", name="Download CSV")).to_have_attribute(
        "href", f"/api/campaigns/{campaign['id']}/results?phase=1&format=csv"
    )
    await page.get_by_role("tab", name="Results").focus()  # the tabs answer the arrow keys
    await page.keyboard.press("ArrowLeft")
    await expect(page.get_by_role("tab", name="History")).to_be_focused()
    history = page.locator(".history-table tbody tr")
    await expect(history.first).to_contain_text("Edited")
    await expect(history.first).to_contain_text("Leo")
    await expect(history.first).to_contain_text("holdout: 10 % → 20 %")
    await expect(history.nth(1)).to_contain_text("Launched")
    await expect(history.nth(1)).to_contain_text("Nadia")  # a teammate, by name
    await other.close()
    assert problems == []


HOSTILE = "\u2069\u202e"


async def test_french_and_hostile_names(server: ServerProcess, browser: Browser) -> None:
    space = await new_space(server.database_url)
    email = await insert_agent(server.database_url, role="admin", spaces_=[space], name="Zoé")
    other = await console_agent(server, role="marketing", spaces=[space], name=f"Eve{HOSTILE}")
    campaign = await _campaign(
        other, space, name=f"Soldes{HOSTILE} 2", secondary_goals=[{"event": f"inscri{HOSTILE}t"}]
    )
    problems: list[str] = []
    page = await _page(browser, problems, locale="fr-FR")
    await page.goto(f"{server.base_url}/console")
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Mot de passe").fill(PASSWORD)
    await page.get_by_role("button", name="Se connecter").click()
    await page.get_by_role("link", name="Campagnes").click()
    await expect(page.get_by_role("heading", name="Campagnes")).to_be_visible()
    row = page.locator(f"tr[data-campaign-id='{campaign['id']}']")
    await expect(row.locator(".status-badge")).to_have_text("En cours")
    assert await page.evaluate(f"({BIDI_AUDIT})(document)") == []
    await row.get_by_role("link").click()
    await expect(page.locator(".verdict")).to_contain_text("Pas encore assez de données")
    await expect(page.get_by_role("link", name="Télécharger le CSV")).to_be_visible()
    await expect(page.get_by_label("Objectif", exact=True).locator("option")).to_have_count(2)
    assert await page.evaluate(f"({BIDI_AUDIT})(document)") == []
    await _shoot(page, "results-fr")
    await page.get_by_role("tab", name="Historique").click()
    await expect(page.locator(".history-table")).to_contain_text("Lancée")
    assert await page.evaluate(f"({BIDI_AUDIT})(document)") == []
    await page.get_by_role("tab", name="Réglages").click()
    await expect(page.locator(".phase-note")).to_contain_text("ouvre la phase 2")
    await page.get_by_role("button", name="Arrêter").click()
    await expect(page.get_by_role("dialog")).to_contain_text("Arrêt d\u2019urgence")
    assert await page.evaluate(f"({BIDI_AUDIT})(document)") == []
    await page.get_by_role("button", name="Arrêter la campagne").click()
    await expect(page.locator(".page-head .status-badge")).to_have_text("Terminée")
    await other.close()
    assert problems == []
