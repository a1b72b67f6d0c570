"""The console in a real Chromium against a real server: sign-in and lockout, a live
conversation, claim and transfer, notes, presence between teammates, XSS payloads and bidi
controls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from tests.agents.consoleclient import PASSWORD, console_agent, insert_agent
from tests.browser import BIDI_AUDIT, SCREEN_ORDER, launch_chromium
from tests.conftest import new_space
from tests.servers import ServerProcess
from tests.wsclient import ChatClient, visitor_token

# one Chromium for the module, on the module's event loop; a fresh context per test
pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

SHOTS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server on SQLite for the module: the API tests cover both backends."""
    tmp = tmp_path_factory.mktemp("console-browser")
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
    """Each test's pages close with it: their agents go offline before the next test."""
    yield
    while _open:
        await _open.pop().close()


async def _context(browser: Browser, locale: str = "en-US") -> BrowserContext:
    context = await browser.new_context(viewport={"width": 1440, "height": 900}, locale=locale)
    _open.append(context)
    return context


async def _page(browser: Browser, problems: list[str]) -> Page:
    page = await (await _context(browser)).new_page()
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


async def _sign_in(page: Page, server: ServerProcess, email: str) -> None:
    await page.goto(f"{server.base_url}/console")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("button", name="Mine")).to_be_visible()


async def _visitor(server: ServerProcess, space: str) -> ChatClient:
    token = await visitor_token(server.base_url, space)
    return await ChatClient.connect(server.ws_url, f"/ws/visitor?space={space}", token["token"])


def _item(page: Page, text: str):
    return page.locator("button.item", has_text=text)


async def test_sign_in_then_lockout(server: ServerProcess, browser: Browser) -> None:
    space = await new_space(server.database_url)
    email = await insert_agent(server.database_url, role="relation", spaces_=[space], name="Lou")
    problems: list[str] = []
    page = await _page(browser, problems)
    await page.goto(f"{server.base_url}/console")
    await page.get_by_label("Email").fill(email)
    for attempt in range(5):
        await page.get_by_label("Password").fill(f"wrong password {attempt}")
        await page.get_by_role("button", name="Sign in").click()
        expected = "Wrong email or password." if attempt < 4 else "locked for 15 minutes"
        await expect(page.get_by_role("alert")).to_contain_text(expected)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("locked")
    await expect(page.get_by_role("button", name="Mine")).to_have_count(0)

    other = await insert_agent(server.database_url, role="relation", spaces_=[space], name="Sam")
    await _sign_in(page, server, other)
    await expect(page.locator(".me")).to_contain_text("Sam")
    assert problems == []


async def test_french_from_the_browser_and_switchable(
    server: ServerProcess, browser: Browser
) -> None:
    page = await (await _context(browser, "fr-FR")).new_page()
    await page.goto(f"{server.base_url}/console")
    await expect(page.get_by_role("button", name="Se connecter")).to_be_visible()
    await expect(page.get_by_label("E-mail")).to_be_visible()
    await expect(page.get_by_label("Mot de passe")).to_be_visible()
    await page.get_by_label("Langue").select_option("en")
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    await expect(page.get_by_label("Password")).to_be_visible()
    assert await page.evaluate("document.documentElement.lang") == "en"


async def test_visitor_message_live_and_reply_reaches_the_visitor(
    server: ServerProcess, browser: Browser
) -> None:
    space = await new_space(server.database_url)
    email = await insert_agent(server.database_url, role="relation", spaces_=[space], name="Ada")
    admin = await console_agent(server, role="admin", spaces=[space])
    await admin.ok(
        "POST",
        "/api/canned",
        {"space": space, "shortcut": "thanks", "body": "You're welcome, have a nice day!"},
    )
    await admin.close()
    problems: list[str] = []
    page = await _page(browser, problems)
    await _sign_in(page, server, email)
    visitor = await _visitor(server, space)
    await visitor.say("Bonjour, my deposit is missing")
    item = _item(page, "my deposit is missing")  # auto-assigned: Ada is online
    await expect(item).to_be_visible()
    await item.click()
    await expect(page.get_by_role("log")).to_contain_text("Bonjour, my deposit is missing")
    await visitor.send({"type": "typing"})
    await expect(page.locator(".typing")).to_contain_text("typing")

    await page.get_by_role("textbox", name="Message").fill("Hello! Let me check that for you.")
    await page.get_by_role("button", name="Send").click()
    got = await visitor.expect("message")
    assert got["body"] == "Hello! Let me check that for you." and got["author"]["name"] == "Ada"
    await expect(page.get_by_role("log")).to_contain_text("Let me check")

    await visitor.say("Thanks!")  # arrives live in the open conversation
    await expect(page.get_by_role("log")).to_contain_text("Thanks!")
    read = await visitor.expect("read")  # the agent has read it
    assert read["reader"]["kind"] == "agent"

    # the keyboard alone: a canned response by its shortcut, then Enter sends it
    composer = page.get_by_role("textbox", name="Message")
    await composer.focus()
    await page.keyboard.type("/than")
    await expect(page.get_by_role("option", name="/thanks")).to_be_visible()
    await page.keyboard.press("Enter")
    await expect(composer).to_have_value("You're welcome, have a nice day!")
    await page.keyboard.press("Enter")
    canned = await visitor.expect("message")
    assert canned["body"] == "You're welcome, have a nice day!"
    await visitor.close()
    assert problems == []


async def test_claim_then_transfer(server: ServerProcess, browser: Browser) -> None:
    space = await new_space(server.database_url)
    email = await insert_agent(server.database_url, role="relation", spaces_=[space], name="Noa")
    colleague = await console_agent(server, spaces=[space], name="Yann")  # offline
    problems: list[str] = []
    page = await _page(browser, problems)
    await _sign_in(page, server, email)
    await page.get_by_label("My status").select_option("away")  # away: nothing auto-assigned
    await expect(page.locator(".mate", has_text="Noa")).to_have_attribute("data-status", "away")
    visitor = await _visitor(server, space)
    ack = await visitor.say("Can someone help me?")
    conv = ack["conversation_id"]

    await page.get_by_role("button", name="Unassigned").click()
    await _item(page, "Can someone help me?").click()
    await expect(page.locator(".conv-owner")).to_contain_text("Waiting in the queue")
    await page.get_by_role("button", name="Claim").click()
    await expect(page.locator(".conv-owner")).to_contain_text("Assigned to You")
    detail = await colleague.ok("GET", f"/api/conversations/{conv}")
    assert detail["conversation"]["assignee_id"] != colleague.id

    await page.get_by_role("button", name="Transfer").click()
    # the name isolated (FSI ... PDI) inside the option's text
    await page.get_by_label("To an agent").select_option(label="\u2068Yann\u2069 · Offline")
    await page.get_by_role("dialog").get_by_role("button", name="Transfer").click()
    await expect(page.locator(".conv-owner")).to_contain_text("Assigned to Yann")
    detail = await colleague.ok("GET", f"/api/conversations/{conv}")
    assert detail["conversation"]["assignee_id"] == colleague.id
    await visitor.close()
    await colleague.close()
    assert problems == []


async def test_a_note_never_reaches_the_visitor(server: ServerProcess, browser: Browser) -> None:
    space = await new_space(server.database_url)
    email = await insert_agent(server.database_url, role="relation", spaces_=[space], name="Eve")
    problems: list[str] = []
    page = await _page(browser, problems)
    await _sign_in(page, server, email)
    visitor = await _visitor(server, space)
    await visitor.say("Is my account verified?")
    await _item(page, "Is my account verified?").click()

    await page.get_by_role("button", name="Note", exact=True).click()
    await page.get_by_role("textbox", name="Private note").fill(
        "KYC pending: do not promise a date"
    )
    await page.get_by_role("button", name="Add note").click()
    await expect(page.locator(".note")).to_contain_text("KYC pending")
    await page.get_by_role("button", name="Reply", exact=True).click()
    await page.get_by_role("textbox", name="Message").fill("We are checking it now.")
    await page.get_by_role("button", name="Send").click()
    got = await visitor.expect("message")
    assert got["body"] == "We are checking it now." and got["seq"] == 2
    assert all("KYC" not in str(f) for f in visitor.frames)
    await visitor.close()
    assert problems == []


async def test_teammates_see_presence_change(server: ServerProcess, browser: Browser) -> None:
    space = await new_space(server.database_url)
    first = await insert_agent(server.database_url, role="relation", spaces_=[space], name="Ines")
    second = await insert_agent(server.database_url, role="relation", spaces_=[space], name="Jo")
    problems: list[str] = []
    watcher = await _page(browser, problems)
    mover = await _page(browser, problems)  # another browser context: another agent
    await _sign_in(watcher, server, first)
    jo = watcher.locator(".mate", has_text="Jo")
    await expect(jo).to_have_attribute("data-status", "offline")
    await _sign_in(mover, server, second)
    await expect(jo).to_have_attribute("data-status", "online")
    await mover.get_by_label("My status").select_option("away")
    await expect(jo).to_have_attribute("data-status", "away")
    await expect(jo).to_contain_text("Away")
    await mover.close()
    await expect(jo).to_have_attribute("data-status", "offline")
    assert problems == []


XSS = [
    "<img src=x onerror=\"window.__xss='img'\">",
    "<script>window.__xss='script'</script>",
    "<svg/onload=\"window.__xss='svg'\">",
    "javascript:window.__xss='href'",
    '"><iframe srcdoc="<script>parent.__xss=\'iframe\'</script>">',
    "[click](javascript:window.__xss='md')",
]


async def test_xss_payloads_stay_text(server: ServerProcess, browser: Browser) -> None:
    space = await new_space(server.database_url)
    email = await insert_agent(server.database_url, role="relation", spaces_=[space], name="Kim")
    evil_mate = await insert_agent(
        server.database_url, role="relation", spaces_=[space], name=XSS[0]
    )
    assert evil_mate
    problems: list[str] = []
    page = await _page(browser, problems)
    await _sign_in(page, server, email)
    visitor = await _visitor(server, space)
    await visitor.send({"type": "contact", "name": XSS[2], "email": "x@example.com"})
    await visitor.send(
        {
            "type": "context",
            "url": "javascript:window.__xss='context'",
            "referrer": XSS[1],
            "title": XSS[4],
            "locale": "en",
        }
    )
    await visitor.send({"type": "attributes", "attributes": {"plan": XSS[0], "note": XSS[1]}})
    for payload in XSS:
        await visitor.say(payload)
    await visitor.say("see https://example.com/ok and javascript:alert(1)")
    item = page.locator("button.item").first
    await expect(item).to_be_visible()
    await item.click()
    log = page.get_by_role("log")
    await expect(log).to_contain_text("https://example.com/ok")
    for payload in XSS:
        await expect(log).to_contain_text(payload)  # shown as the text it is
    await expect(page.locator(".details")).to_contain_text("javascript:window.__xss='context'")
    await expect(page.locator(".details")).to_contain_text(XSS[0])
    await expect(page.locator(".teammates")).to_contain_text(XSS[0])
    await page.get_by_role("textbox", name="Message").fill(XSS[1])
    await page.get_by_role("button", name="Send").click()
    await visitor.expect("message")
    await page.get_by_role("button", name="Note", exact=True).click()
    await page.get_by_role("textbox", name="Private note").fill(XSS[2])
    await page.get_by_role("button", name="Add note").click()
    await expect(page.locator(".note")).to_contain_text(XSS[2])
    await asyncio.sleep(0)  # payloads had their chance to run
    assert await page.evaluate("window.__xss") is None
    assert await page.locator("main img, main script, main iframe, main svg").count() == 0
    assert await page.locator(".details img, .details script, .details iframe").count() == 0
    hrefs = await page.locator("a[href]").evaluate_all("els => els.map(e => e.href)")
    assert hrefs and all(h.startswith(("http://", "https://")) for h in hrefs), hrefs
    assert "https://example.com/ok" in hrefs
    await visitor.close()
    assert problems == []


# closes an isolate it never opened (escaping a bare <bdi>), then reverses all that follows
HOSTILE = "\u2069\u202e"


async def _screen_order(page: Page, text_node: str) -> tuple[str, str]:
    """(the characters of a text node as they stand on the screen, its text)"""
    script = f"() => {{ const n = {text_node}; return [({SCREEN_ORDER})(n), n.data]; }}"
    seen, text = await page.evaluate(script)
    return seen, text


async def test_bidi_controls_reorder_only_the_text_they_are_in(
    server: ServerProcess, browser: Browser, tmp_path: Path
) -> None:
    space = await new_space(server.database_url)
    email = await insert_agent(server.database_url, role="admin", spaces_=[space], name="Kim")
    mallory = await console_agent(server, role="admin", spaces=[space], name=f"Mallory{HOSTILE}")
    await mallory.ok("POST", "/api/teams", {"name": f"Team{HOSTILE} B", "space": space})
    await mallory.ok(
        "POST", "/api/canned", {"space": space, "shortcut": "evil", "body": f"Sorry{HOSTILE} 4:35"}
    )
    problems: list[str] = []
    page = await _page(browser, problems)
    await _sign_in(page, server, email)
    visitor = await _visitor(server, space)
    await visitor.send(
        {"type": "contact", "name": f"Eve{HOSTILE}", "email": f"eve{HOSTILE}@example.com"}
    )
    await visitor.send(
        {
            "type": "context",
            "url": f"https://shop.example/{HOSTILE}cart",
            "referrer": f"https://ref.example/{HOSTILE}",
            "title": f"Cart{HOSTILE} (2)",
            "locale": "en",
        }
    )
    await visitor.send({"type": "attributes", "attributes": {"plan": f"Gold{HOSTILE} 2"}})
    ack = await visitor.say(f"Hello{HOSTILE} see https://example.com/{HOSTILE}a")
    conv = ack["conversation_id"]
    await mallory.ok("POST", f"/api/conversations/{conv}/notes", {"body": f"Call{HOSTILE} back"})
    await mallory.ok("POST", f"/api/conversations/{conv}/transfer", {"agent_id": mallory.id})

    await page.get_by_role("button", name="All").click()
    await _item(page, "Hello").click()
    await expect(page.locator(".note")).to_contain_text("Call")
    await expect(page.locator(".conv-owner")).to_contain_text("Assigned to Mallory")
    await expect(page.locator(".details")).to_contain_text("Gold")
    await visitor.send({"type": "typing"})
    await expect(page.locator(".typing")).to_contain_text("is typing")

    # what follows a name keeps its order: the time after the visitor's and the agent's, the
    # words after the visitor's name in "… is typing…"
    for text_node in (
        "document.querySelector('.msg.in .msg-meta time').firstChild",
        "document.querySelector('.note-head').lastChild",
        "document.querySelector('.typing').lastChild",
    ):
        seen, text = await _screen_order(page, text_node)
        assert seen.strip() == text.strip(), (text_node, seen)
    link = page.get_by_role("log").get_by_role("link")
    assert await link.text_content() == "https://example.com/"  # a bidi control ends a URL
    seen, text = await _screen_order(page, "document.querySelector('.bubble a').firstChild")
    assert seen == text
    assert (
        await page.locator(".msg-meta bdi").first.evaluate("e => getComputedStyle(e).unicodeBidi")
        == "isolate"
    )
    await page.screenshot(path=tmp_path / "console.png")  # to look at when this fails
    assert await page.evaluate(f"({BIDI_AUDIT})(document)") == []

    # the canned responses, the transfer dialog's <option>s, the admin's tables
    await page.get_by_role("textbox", name="Message").fill("/ev")
    await expect(page.get_by_role("option", name="/evil")).to_be_visible()
    assert await page.evaluate(f"({BIDI_AUDIT})(document)") == []
    await page.get_by_role("textbox", name="Message").fill("")
    await page.get_by_role("button", name="Transfer").click()
    options = page.get_by_role("dialog").locator("option")
    await expect(options.filter(has_text="Team")).to_have_count(1)
    assert await page.evaluate(f"({BIDI_AUDIT})(document)") == []
    await page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    await page.get_by_role("button", name="Manage").click()
    for tab, shown in (("Agents", "Mallory"), ("Teams", "Team"), ("Canned responses", "/evil")):
        await page.get_by_role("tab", name=tab).click()
        await expect(page.get_by_role("tabpanel")).to_contain_text(shown)
        assert await page.evaluate(f"({BIDI_AUDIT})(document)") == [], tab
    await visitor.close()
    await mallory.close()
    assert problems == []


NOTIFICATION_PROBE = """
Object.defineProperty(document, "hidden", { configurable: true, get: () => !!window.__hidden });
window.__notes = [];
window.Notification = class {
  static permission = "granted";
  static requestPermission() { return Promise.resolve("granted"); }
  constructor(title, options) { window.__notes.push([title, options.body]); }
  addEventListener() {}
  close() {}
};
window.__chimes = 0;
const RealAudioContext = window.AudioContext;
window.AudioContext = class extends RealAudioContext {
  createOscillator() { window.__chimes += 1; return super.createOscillator(); }
};
"""


async def test_hidden_tab_chimes_and_notifies(server: ServerProcess, browser: Browser) -> None:
    space = await new_space(server.database_url)
    email = await insert_agent(server.database_url, role="relation", spaces_=[space], name="Max")
    problems: list[str] = []
    page = await _page(browser, problems)
    await page.add_init_script(NOTIFICATION_PROBE)  # stands in for the OS: no real popups
    await _sign_in(page, server, email)
    await page.evaluate("window.__hidden = true")
    visitor = await _visitor(server, space)
    await visitor.say("Anyone there? <b>urgent</b>")
    await page.wait_for_function("window.__notes.length > 0")
    assert await page.evaluate("window.__notes") == [
        ["New conversation", "Anyone there? <b>urgent</b>"]
    ]
    assert await page.evaluate("window.__chimes") > 0
    # in front of the agent: no chime, no notification, the inbox says it all
    await page.evaluate("window.__hidden = false; window.__chimes = 0")
    await visitor.say("Hello again")
    await expect(_item(page, "Hello again")).to_be_visible()
    assert await page.evaluate("window.__notes.length") == 1
    assert await page.evaluate("window.__chimes") == 0
    await visitor.close()
    assert problems == []
