"""The console from a phone to a wide screen, in a real Chromium against a real server. At
390, 768, 1280 and 1920 px wide: the visitor's name, the composer, Send, Resolve and Transfer
are in view, nothing is wider than the window; where the screen is narrow, the inbox, the
conversation and its details are panes with back buttons (and Escape, and the browser's
Back), and the sidebar is a drawer behind a menu button; every page is reachable and fits."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Locator, Page, async_playwright, expect

from tests.agents.consoleclient import PASSWORD, insert_agent
from tests.browser import launch_chromium
from tests.conftest import new_space
from tests.servers import ServerProcess
from tests.wsclient import ChatClient, visitor_token

# one server, one Chromium and one signed-in page for the module, resized for each test
pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

DOCS = Path(__file__).resolve().parents[2] / "docs"
NAME = "Amélie Fontaine-Rousseau"
SIZES = [(390, 844), (768, 1024), (1280, 800), (1920, 1080)]
IDS = [f"{w}x{h}" for w, h in SIZES]
DRAWER, PANED, SINGLE = 1000, 1200, 720  # under these widths (console.css, panes.js)

# [document, then each column that scrolls]: [scrollWidth, clientWidth] of those shown
WIDTHS = """() => [document.documentElement, ...document.querySelectorAll(
  ".inbox-list, .conv-head, .transcript, .composer, .details, .campaigns, .sidebar, dialog")]
  .filter((e) => e === document.documentElement || e.getClientRects().length)
  .map((e) => [e.className || "document", e.scrollWidth,
    e === document.documentElement ? window.innerWidth : e.clientWidth])"""


@dataclass
class Console:
    page: Page
    url: str
    shots: Path
    problems: list[str]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("console-responsive")
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


def _watch(page: Page, problems: list[str]) -> None:
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and "Content Security Policy" in m.text
            else None
        ),
    )


async def _sign_in(context: BrowserContext, url: str, email: str, problems: list[str]) -> Page:
    page = await context.new_page()
    _watch(page, problems)
    await page.goto(url)
    await page.locator("#email").fill(email)
    await page.locator("#password").fill(PASSWORD)
    await page.locator(".signin-card button[type=submit]").click()
    await expect(page.locator(".workspace")).to_be_attached()
    return page


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def console(
    server: ServerProcess, browser: Browser, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Console]:
    """An admin signed in, with a named visitor's conversation: its page, its context and
    attributes, a few messages each way."""
    space = await new_space(server.database_url)
    email = await insert_agent(server.database_url, role="admin", spaces_=[space], name="Ada")
    # reduced motion: the drawer is where it goes at once, its box measurable
    context = await browser.new_context(
        viewport={"width": 1280, "height": 800}, locale="en-US", reduced_motion="reduce"
    )
    visitor: ChatClient | None = None
    try:
        url = f"{server.base_url}/console"
        problems: list[str] = []
        page = await _sign_in(context, url, email, problems)
        await expect(page.locator(".mate[data-status=online]")).to_have_count(1)  # Ada
        token = await visitor_token(server.base_url, space)
        visitor = await ChatClient.connect(
            server.ws_url, f"/ws/visitor?space={space}", token["token"]
        )
        await visitor.send({"type": "contact", "name": NAME, "email": "amelie@example.com"})
        await visitor.send(
            {
                "type": "context",
                "url": "https://shop.example/checkout/payment",
                "title": "Payment — Shop",
                "referrer": "https://www.example.org/",
                "locale": "fr-FR",
            }
        )
        await visitor.send({"type": "attributes", "attributes": {"plan": "gold", "orders": 12}})
        await visitor.say("Hello, my card was refused at checkout but the money left my account.")
        await page.locator("button.item", has_text=NAME).click()  # given to Ada, online
        await page.locator("#composer-input").fill("Sorry about that! Let me check the payment.")
        await page.locator(".composer button[type=submit]").click()
        await visitor.expect("message")
        await visitor.say("Thank you, it was about 42 euros.")
        await expect(page.get_by_role("log")).to_contain_text("42 euros")
        yield Console(page, url, tmp_path_factory.mktemp("shots"), problems)
    finally:
        if visitor is not None:
            await visitor.close()
        await context.close()


async def _at(console: Console, width: int, height: int, hash_: str = "") -> Page:
    """The console afresh at this size (the session stays signed in)."""
    page = console.page
    await page.set_viewport_size({"width": width, "height": height})
    await page.goto("about:blank")  # else a new #hash would only move within the same page
    await page.goto(f"{console.url}{hash_}")
    await expect(page.locator(".workspace")).to_be_attached()
    return page


# (element) => its box, and the start of its markup to say which it is
BOX = """(e) => { const r = e.getBoundingClientRect();
  return {x: r.x, y: r.y, width: r.width, height: r.height, connected: e.isConnected,
    html: e.outerHTML.slice(0, 100)}; }"""


async def _box(locator: Locator) -> dict[str, float]:
    """Its box, measured at once on an element in the page (the inbox is drawn anew as
    updates arrive: an element found may have been replaced by the time it is measured)."""
    for _ in range(5):
        await expect(locator).to_be_visible()
        box: dict[str, float] = await locator.evaluate(BOX)
        if box["connected"] and box["width"] > 0:
            return box
    raise AssertionError(f"{locator} keeps being replaced")


async def _in_view(locator: Locator, width: int, height: int) -> None:
    box = await _box(locator)
    inside = (
        box["width"] > 0
        and box["height"] > 0
        and box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= width + 0.5
        and box["y"] + box["height"] <= height + 0.5
    )
    assert inside, box


async def _fits(page: Page) -> None:
    """Nothing wider than the window, nor than the column it is in."""
    for name, scroll, client in await page.evaluate(WIDTHS):
        assert scroll <= client + 1, (name, scroll, client)


async def _shoot(console: Console, name: str) -> Path:
    path = console.shots / f"{name}.png"
    await console.page.screenshot(path=path)
    return path


def _name(page: Page) -> Locator:
    return page.locator("#conv-name")


@pytest.mark.parametrize(("width", "height"), SIZES, ids=IDS)
async def test_a_conversation_fits_and_its_panes_lead_back(
    console: Console, width: int, height: int
) -> None:
    page = await _at(console, width, height)
    item = page.locator("button.item", has_text=NAME)
    await _in_view(item, width, height)
    await _fits(page)
    menu = page.locator(".inbox-head .menu-button")
    if width < DRAWER:  # the sidebar is a drawer: the menu opens it, Escape closes it
        mine = page.get_by_role("button", name="Mine")
        await expect(mine).to_be_hidden()
        await expect(menu).to_have_attribute("aria-expanded", "false")
        await menu.click()
        await expect(menu).to_have_attribute("aria-expanded", "true")
        await expect(mine).to_be_focused()
        await _in_view(mine, width, height)
        sign_out = page.get_by_role("button", name="Sign out")  # the drawer scrolls
        await sign_out.scroll_into_view_if_needed()
        await _in_view(sign_out, width, height)
        assert await page.locator(".inbox").evaluate("e => e.inert")
        await _shoot(console, f"menu-{width}")
        await page.keyboard.press("Escape")
        await expect(mine).to_be_hidden()
        await expect(menu).to_be_focused()
        await menu.click()
        await page.get_by_role("button", name="Close the menu").click()
        await expect(mine).to_be_hidden()
    else:
        await expect(menu).to_be_hidden()
        await expect(page.get_by_role("button", name="Mine")).to_be_visible()
    if width >= PANED:  # the empty details column says what it will show
        await expect(page.locator(".details-empty")).to_contain_text("Visitor details")
        await expect(page.locator(".details-empty")).to_contain_text("Open a conversation")

    await item.click()
    name = _name(page)
    await expect(name).to_have_text(NAME)
    composer = page.get_by_role("textbox", name="Message")
    await expect(composer).to_be_focused()
    shot = await _shoot(console, f"conversation-{width}")  # to look at, when this fails too
    header = page.locator(".conv-head")
    resolve = header.get_by_role("button", name="Resolve")
    transfer = header.get_by_role("button", name="Transfer")
    send = page.get_by_role("button", name="Send")
    owner = page.locator(".conv-owner")
    for shown in (name, owner, composer, send, resolve, transfer):
        await _in_view(shown, width, height)
    await expect(owner).to_have_text("Assigned to You")
    await _fits(page)
    # the name whole (on a phone, on two lines if need be), the assignment on one line, the
    # actions on one row
    sizes = await name.evaluate(
        "e => [e.scrollWidth, e.clientWidth, e.scrollHeight, e.clientHeight]"
    )
    assert sizes[0] <= sizes[1] and sizes[2] <= sizes[3], sizes
    size = await owner.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert (await _box(owner))["height"] < 2 * size  # one line
    tops = {round((await _box(b))["y"]) for b in (resolve, transfer)}
    assert len(tops) == 1, tops
    if width == 390:
        await page.screenshot(path=DOCS / "console-mobile.png")

    details = page.locator("aside.details")
    show = header.get_by_role("button", name="Details")
    if width >= PANED:  # all side by side: no panes, no buttons between them
        await _in_view(details.get_by_role("heading", name=NAME), width, height)
        await expect(show).to_be_hidden()
        await expect(page.get_by_role("button", name="Back to the conversations")).to_be_hidden()
        await expect(item).to_be_visible()
        assert console.problems == []
        print(f"\nscreenshot: {shot}")
        return

    # the details in the conversation's place, and back: with the button, then Escape
    await show.click()
    await expect(page.locator(".details-title")).to_be_focused()
    await expect(composer).to_be_hidden()
    await _in_view(details.get_by_role("heading", name=NAME), width, height)
    await _in_view(details.get_by_role("textbox", name="Add a tag"), width, height)
    await _fits(page)
    await _shoot(console, f"details-{width}")
    await details.get_by_role("button", name="Back to the conversation").click()
    await expect(composer).to_be_visible()
    await expect(show).to_be_focused()
    await show.click()
    await expect(composer).to_be_hidden()
    await page.keyboard.press("Escape")
    await expect(composer).to_be_visible()
    await expect(show).to_be_focused()
    if width >= SINGLE:  # the inbox stays beside the conversation
        await expect(item).to_be_visible()
        await expect(page.get_by_role("button", name="Back to the conversations")).to_be_hidden()
        assert console.problems == []
        return

    # one pane at a time: back to the inbox with the button, with Escape, with Back
    await expect(item).to_be_hidden()
    back = page.get_by_role("button", name="Back to the conversations")
    await _in_view(back, width, height)
    await back.click()
    await expect(item).to_be_focused()
    await expect(name).to_be_hidden()
    await item.click()
    await expect(composer).to_be_focused()
    await page.keyboard.press("Escape")
    await expect(item).to_be_focused()
    await item.click()
    await show.click()
    await expect(page.locator(".details-title")).to_be_focused()
    await page.go_back()  # the browser's (a phone's) Back: the details, then the conversation
    await expect(composer).to_be_visible()
    await page.go_back()
    await expect(item).to_be_visible()
    await expect(name).to_be_hidden()
    assert console.problems == []
    print(f"\nscreenshot: {shot}")


@pytest.mark.parametrize(("width", "height"), SIZES, ids=IDS)
async def test_every_page_fits_and_the_navigation_is_in_reach(
    console: Console, width: int, height: int
) -> None:
    page = await _at(console, width, height, "#campaigns")
    pages = [
        ("Reports", "#reports", page.locator("#reports .page-title")),
        ("Satisfaction", "#satisfaction", page.locator("#satisfaction .page-title")),
        ("Campaigns", "#campaigns", page.locator("#campaigns .page-title")),
    ]
    await expect(page.locator("#campaigns .page-title")).to_have_text("Campaigns")
    for label, hash_, heading in pages:
        # the sidebar's link, behind the page's menu button where the sidebar is a drawer
        if width < DRAWER:
            menu = page.locator("main:not([hidden]) .page-crumbs .menu-button")
            await _in_view(menu, width, height)
            await menu.click()
        link = page.locator(".sidebar").get_by_role("link", name=label)
        await _in_view(link, width, height)
        await link.click()
        await expect(page).to_have_url(re.compile(re.escape(f"{console.url}{hash_}")))
        await expect(heading).to_be_visible()
        await expect(page.locator(".sidebar .view.active")).to_contain_text(label)
        await expect(page.locator(".workspace")).not_to_have_class("nav-open")
        await _fits(page)
        await _shoot(console, f"{hash_[1:]}-{width}")
    # and back to the inbox: its link where the sidebar is hidden, the sidebar's elsewhere
    if width < DRAWER:
        await page.locator("#campaigns").get_by_role("link", name="Inbox").click()
    else:
        await page.get_by_role("button", name="Mine").click()
    await expect(page.locator("button.item", has_text=NAME)).to_be_visible()
    # Manage, from the sidebar (a drawer or not): the dialog fits too
    if width < DRAWER:
        await page.locator(".inbox-head .menu-button").click()
    await page.get_by_role("button", name="Manage").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog.get_by_role("tabpanel")).to_contain_text("Create agent")
    await _in_view(dialog, width, height)
    await _fits(page)
    await _shoot(console, f"manage-{width}")
    await page.keyboard.press("Escape")
    await expect(dialog).to_have_count(0)
    assert console.problems == []


async def test_the_panes_speak_french(
    server: ServerProcess, browser: Browser, tmp_path: Path
) -> None:
    space = await new_space(server.database_url)
    email = await insert_agent(server.database_url, role="relation", spaces_=[space], name="Zoé")
    context = await browser.new_context(
        viewport={"width": 390, "height": 844}, locale="fr-FR", reduced_motion="reduce"
    )
    problems: list[str] = []
    visitor: ChatClient | None = None
    try:
        page = await _sign_in(context, f"{server.base_url}/console", email, problems)
        token = await visitor_token(server.base_url, space)
        visitor = await ChatClient.connect(
            server.ws_url, f"/ws/visitor?space={space}", token["token"]
        )
        await visitor.send({"type": "contact", "name": "Léon", "email": "leon@example.com"})
        await visitor.say("Bonjour !")
        await page.get_by_role("button", name="Menu").click()
        await page.get_by_role("button", name="Fermer le menu").click()
        await page.locator("button.item", has_text="Léon").click()
        await expect(page.locator(".conv-owner")).to_have_text("Assignée à Vous")
        await page.screenshot(path=tmp_path / "conversation-fr-390.png")
        await _fits(page)
        await page.get_by_role("button", name="Détails").click()
        await expect(page.locator(".details-title")).to_have_text("Détails du visiteur")
        await page.get_by_role("button", name="Retour à la conversation").click()
        await page.get_by_role("button", name="Retour aux conversations").click()
        await expect(page.locator("button.item", has_text="Léon")).to_be_focused()
        await page.set_viewport_size({"width": 1280, "height": 800})
        await page.goto(f"{server.base_url}/console")
        await expect(page.locator(".details-empty")).to_contain_text("Ouvrez une conversation")
    finally:
        if visitor is not None:
            await visitor.close()
        await context.close()
    assert problems == []
