"""The widget in a real Chromium, on a host page served from another origin than the chat
server, with a hostile stylesheet and a CSP of style-src 'self'. Agents speak the protocol."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Locator, Page, async_playwright, expect

from chat.identity import identity_signature
from tests.browser import BIDI_AUDIT, SCREEN_ORDER, launch_chromium
from tests.servers import ServerProcess
from tests.widget.conftest import (
    HostSite,
    connect_agent,
    make_space,
    serve_host_site,
    visitor_profile,
)
from tests.wsclient import ChatClient

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

expect.set_options(timeout=10_000)

# what an agent might send: each must show as text, run nothing, add no element
XSS = [
    '<img src=x onerror="window.__xss=1">',
    "<script>window.__xss=2</script>",
    "<svg/onload=window.__xss=3>",
    '"><iframe srcdoc="<script>parent.__xss=4</script>">',
    "javascript:window.__xss=5",
    "[click me](javascript:window.__xss=6)",
    '<a href="javascript:window.__xss=7">a link</a>',
    'http://x.example/" onmouseover="window.__xss=8" x="',
    "data:text/html,<script>window.__xss=9</script>",
    "<style>*{display:none!important}</style>",
    "https://ok.example/path?q=<b>bold</b>&r=1",
    "&lt;b&gt;entities&lt;/b&gt; stay as typed",
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        browser = await launch_chromium(p)
        try:
            yield browser
        finally:
            await browser.close()


@pytest_asyncio.fixture(loop_scope="module")
async def context(chromium: Browser) -> AsyncIterator[BrowserContext]:
    ctx = await chromium.new_context(viewport={"width": 1280, "height": 800})
    try:
        yield ctx
    finally:
        await ctx.close()


async def open_page(context: BrowserContext, url: str) -> tuple[Page, list[str]]:
    """A page with the host site loaded; the list collects uncaught page errors."""
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(url)
    return page, errors


def launcher(page: Page, name: str = "Chat with us") -> Locator:
    return page.get_by_role("button", name=name, exact=True)


def dialog(page: Page, name: str = "Chat with us") -> Locator:
    return page.get_by_role("dialog", name=name)


async def send(page: Page, text: str) -> None:
    box = dialog(page).get_by_role("textbox", name="Message")
    await box.fill(text)
    await box.press("Enter")


async def shadow(page: Page, script: str) -> Any:
    """Evaluate ``script`` with ``root`` bound to the widget's shadow root."""
    return await page.evaluate(
        f"() => {{ const root = document.querySelector('causette-widget').shadowRoot; {script} }}"
    )


async def stored_session(page: Page) -> dict[str, Any] | None:
    raw = await page.evaluate(
        "() => Object.keys(localStorage).filter(k => k.endsWith(':session'))"
        ".map(k => localStorage.getItem(k))[0] || null"
    )
    return json.loads(raw) if raw else None


OUTBOX = "() => localStorage.getItem(Object.keys(localStorage).find(k => k.endsWith(':outbox')))"
RESTORE = "Object.keys(localStorage).find(k => k.endsWith(':outbox'))"


async def history(agent: ChatClient, conversation_id: str) -> list[dict[str, Any]]:
    await agent.send({"type": "history", "conversation_id": conversation_id, "limit": 200})
    return (await agent.expect("history", conversation_id=conversation_id))["messages"]  # type: ignore[no-any-return]


async def test_chat_on_a_hostile_page(
    context: BrowserContext, chat_server: ServerProcess, host_site: HostSite
) -> None:
    space, _ = await make_space(chat_server.database_url, [host_site.origin])
    agent = await connect_agent(chat_server, space, name="Camille Roux")
    page, errors = await open_page(context, host_site.page(space, path="/teas"))

    button = launcher(page)
    await expect(button).to_be_visible()
    look = await button.evaluate(
        "b => [getComputedStyle(b).width, getComputedStyle(b).backgroundColor,"
        " getComputedStyle(b.getRootNode().host).display]"
    )
    assert look == ["60px", "rgb(52, 82, 214)", "block"]  # ours, whatever the host's CSS says
    await button.click()
    panel = dialog(page)
    await expect(panel).to_be_visible()
    box = panel.get_by_role("textbox", name="Message")
    await expect(box).to_be_focused()
    await box.press_sequentially("Is the sencha in stock?")
    await panel.get_by_role("button", name="Send").click()

    said = await agent.expect("message")
    assert (said["body"], said["author"]["kind"]) == ("Is the sencha in stock?", "visitor")
    assert await page.evaluate("() => window.__ready") is True  # a call queued before loading
    conversation = said["conversation_id"]
    context_frames = [f["visitor"]["context"] for f in agent.frames if f["type"] == "visitor"]
    assert context_frames and context_frames[0]["url"] == host_site.page(space, path="/teas")
    assert context_frames[0]["title"] == "Shop /teas"

    await agent.send({"type": "typing", "conversation_id": conversation})
    await expect(panel.get_by_text("Camille Roux is typing…")).to_be_visible()
    await agent.say("Yes, it ships today.", conversation_id=conversation)
    reply = panel.get_by_text("Yes, it ships today.")
    await expect(reply).to_be_visible()
    await expect(panel.get_by_text("Camille Roux is answering")).to_be_visible()
    await expect(panel.get_by_text("Camille Roux is typing…")).to_have_count(0)
    font = await panel.locator(".bubble", has_text="Yes, it ships today.").evaluate(
        "e => [getComputedStyle(e).fontSize, getComputedStyle(e).color,"
        " getComputedStyle(e).fontFamily, getComputedStyle(e).display]"
    )
    assert font[0] == "15px" and font[1] != "rgb(255, 0, 0)" and "Comic" not in font[2]
    assert font[3] == "block"

    host = await page.evaluate(
        """() => ({
        hostButton: getComputedStyle(document.getElementById('host-button')).fontSize,
        sheets: document.styleSheets.length,
        adopted: document.adoptedStyleSheets.length,
        inlineStyles: document.querySelectorAll('style, [style]').length,
        globals: Object.getOwnPropertyNames(window)
            .filter(k => !window.__before.includes(k) && !k.startsWith('__')),
        violations: window.__violations,
        keys: window.__keys,
        lightChildren: document.querySelector('causette-widget').children.length,
    })"""
    )
    assert host == {
        "hostButton": "31px",  # the host's own hostile rules still apply to the host: we add none
        "sheets": 1,
        "adopted": 0,
        "inlineStyles": 0,
        "globals": ["Causette"],
        "violations": [],  # nothing the strict CSP had to block
        "keys": [],  # what the visitor typed stayed in the widget
        "lightChildren": 0,
    }
    assert errors == []
    await agent.close()


async def test_transcript_survives_reload_and_is_shared_by_tabs(
    context: BrowserContext, chat_server: ServerProcess, host_site: HostSite
) -> None:
    space, _ = await make_space(chat_server.database_url, [host_site.origin])
    agent = await connect_agent(chat_server, space)
    page, errors = await open_page(context, host_site.page(space))
    await launcher(page).click()
    await send(page, "First question")
    conversation = (await agent.expect("message"))["conversation_id"]
    await agent.say("First answer", conversation_id=conversation)
    await expect(dialog(page).get_by_text("First answer")).to_be_visible()

    await page.reload()
    button = launcher(page)
    await expect(button).to_have_accessible_description("")
    await button.click()
    for text in ("First question", "First answer"):
        await expect(dialog(page).get_by_text(text, exact=True)).to_have_count(1)
    await expect(dialog(page).locator(".msg")).to_have_count(2)

    # closed: a reply shows as unread on the launcher, and is read when opened
    await page.keyboard.press("Escape")
    await expect(dialog(page)).to_be_hidden()
    await agent.say("Still there?", conversation_id=conversation)
    await expect(button).to_have_accessible_description("1 unread")
    await button.click()
    await expect(dialog(page).get_by_text("Still there?")).to_be_visible()
    await expect(button).to_have_accessible_description("")

    # another tab of the same site is the same visitor, in the same conversation
    other, other_errors = await open_page(context, host_site.page(space, path="/other"))
    await launcher(other).click()
    await expect(dialog(other).locator(".msg")).to_have_count(3)
    await send(other, "Written in the second tab")
    said = await agent.expect("message")
    assert said["conversation_id"] == conversation
    await expect(dialog(page).get_by_text("Written in the second tab")).to_have_count(1)
    assert [m["body"] for m in await history(agent, conversation)] == [
        "First question",
        "First answer",
        "Still there?",
        "Written in the second tab",
    ]
    assert errors == other_errors == []
    await agent.close()


async def test_messages_typed_while_the_server_restarts_arrive_once(
    context: BrowserContext, tmp_path: Path
) -> None:
    server = ServerProcess(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'causette.db'}", workdir=tmp_path
    ).start()
    site, httpd = serve_host_site(server.base_url)
    try:
        space, _ = await make_space(server.database_url, [site.origin])
        agent = await connect_agent(server, space)
        page, _ = await open_page(context, site.page(space))
        await launcher(page).click()
        await send(page, "Before the restart")
        conversation = (await agent.expect("message"))["conversation_id"]
        second, _ = await open_page(context, site.page(space))  # a second tab, same visitor
        await launcher(second).click()
        await expect(dialog(second).get_by_text("Before the restart")).to_be_visible()

        server.kill()
        await agent.wait_closed()
        for tab in (page, second):
            await expect(dialog(tab).get_by_role("status")).to_have_text("Reconnecting…")
        await send(page, "Typed while down, one")
        await send(page, "Typed while down, two")
        await send(second, "Typed while down, three")
        await expect(dialog(page).locator(".pending")).to_have_count(2)
        await expect(dialog(second).locator(".pending")).to_have_count(1)
        outbox = await page.evaluate(OUTBOX)
        assert [m["body"] for m in json.loads(outbox)] == [
            "Typed while down, one",
            "Typed while down, two",
            "Typed while down, three",
        ]

        server.start()  # same port, same database
        for tab in (page, second):
            # the next attempt is at most 5 s away for an open chat (backoff with jitter)
            await expect(dialog(tab).get_by_text("Reconnecting…")).to_be_hidden(timeout=20_000)
            await expect(dialog(tab).locator(".pending")).to_have_count(0)
            await expect(dialog(tab).locator(".msg.visitor .bubble")).to_have_text(
                [
                    "Before the restart",
                    "Typed while down, one",
                    "Typed while down, two",
                    "Typed while down, three",
                ]
            )
        assert await page.evaluate(OUTBOX) == "[]"
        # as if the acks had been lost: the same messages are sent again after a reload
        await page.evaluate(f"() => localStorage.setItem({RESTORE}, {json.dumps(outbox)})")
        await page.reload()
        await launcher(page).click()
        await expect(dialog(page).locator(".msg.visitor")).to_have_count(4)
        await expect(dialog(page).locator(".pending")).to_have_count(0)
        agent = await connect_agent(server, space)
        messages = await history(agent, conversation)
        # both tabs resent the shared outbox; the server kept each message once, in order
        assert [(m["seq"], m["body"]) for m in messages] == [
            (1, "Before the restart"),
            (2, "Typed while down, one"),
            (3, "Typed while down, two"),
            (4, "Typed while down, three"),
        ]
        assert len({m["client_id"] for m in messages}) == 4
        await agent.close()
    finally:
        httpd.shutdown()
        httpd.server_close()
        server.stop()


async def test_a_site_off_the_allowlist_is_refused(
    context: BrowserContext, chat_server: ServerProcess, host_site: HostSite
) -> None:
    space, _ = await make_space(chat_server.database_url, [host_site.origin])
    refusals: list[int] = []
    page = await context.new_page()
    page.on(
        "response",
        lambda r: refusals.append(r.status) if "/api/" in r.url and r.status == 403 else None,
    )
    await page.goto(host_site.page(space, other=True))  # 127.0.0.1, not localhost
    await launcher(page).click()
    panel = dialog(page)
    await expect(panel.get_by_role("status")).to_have_text("Chat is not available on this site.")
    await expect(panel.get_by_role("textbox", name="Message")).to_be_hidden()
    assert refusals and set(refusals) == {403}
    assert await stored_session(page) is None


async def test_agent_replies_are_inert_text(
    context: BrowserContext, chat_server: ServerProcess, host_site: HostSite
) -> None:
    space, _ = await make_space(chat_server.database_url, [host_site.origin])
    agent = await connect_agent(chat_server, space, name='<img src=x onerror="window.__xss=10">')
    page, errors = await open_page(context, host_site.page(space))
    await launcher(page).click()
    await send(page, '<b onclick="window.__xss=11">my own</b> message')
    conversation = (await agent.expect("message"))["conversation_id"]
    before = await shadow(page, "return root.querySelectorAll('*').length")
    for payload in XSS:
        await agent.say(payload, conversation_id=conversation)
    panel = dialog(page)
    await expect(panel.locator(".msg.agent")).to_have_count(len(XSS))
    await expect(panel.get_by_text("my own", exact=False)).to_be_visible()

    # hover and click every link the widget made: still nothing runs
    links = panel.locator(".log a")
    for i in range(await links.count()):
        await links.nth(i).hover()
    seen = await shadow(
        page,
        """
        const bubbles = [...root.querySelectorAll('.msg.agent .bubble')].map(b => b.textContent);
        const tags = [...root.querySelectorAll('.log *')].map(e => e.localName);
        const links = [...root.querySelectorAll('.log a')]
            .map(a => [a.protocol, a.rel, a.target, a.getAttributeNames().sort().join(' ')]);
        return {bubbles, tags: [...new Set(tags)].sort(), links,
                names: [...root.querySelectorAll('.who')].map(w => w.textContent),
                count: root.querySelectorAll('*').length};
        """,
    )
    assert seen["bubbles"] == XSS
    assert set(seen["tags"]) <= {"a", "bdi", "div", "p"}  # no img, script, iframe, svg, style, b
    assert seen["links"] == [
        ["http:", "noopener noreferrer nofollow", "_blank", "dir href rel target"],
        ["https:", "noopener noreferrer nofollow", "_blank", "dir href rel target"],
    ]
    assert seen["names"] == ['<img src=x onerror="window.__xss=10">']
    assert seen["count"] > before
    assert await page.evaluate("() => window.__xss") is None
    assert await page.evaluate("() => document.querySelectorAll('img, iframe, script').length") == 2
    assert errors == []
    await agent.close()


# closes an isolate it never opened (escaping a bare <bdi>), then reverses all that follows
HOSTILE = "\u2069\u202e"


async def test_an_agent_name_reorders_only_itself(
    context: BrowserContext, chat_server: ServerProcess, host_site: HostSite
) -> None:
    space, _ = await make_space(chat_server.database_url, [host_site.origin])
    agent = await connect_agent(chat_server, space, name=f"Camille{HOSTILE}")
    page, errors = await open_page(context, host_site.page(space))
    await launcher(page).click()
    await send(page, f"Bonjour{HOSTILE} see https://shop.example/{HOSTILE}a")
    conversation = (await agent.expect("message"))["conversation_id"]
    await agent.say(f"Oui{HOSTILE} 4:35", conversation_id=conversation)
    await agent.send({"type": "typing", "conversation_id": conversation})
    panel = dialog(page)
    await expect(panel.get_by_text("is answering")).to_be_visible()
    await expect(panel.get_by_text("is typing…")).to_be_visible()

    # the words after the name, in the header and in "… is typing…", keep their order; so
    # does the link in the visitor's own message, which a bidi control ends
    seen = await shadow(
        page,
        f"""
        const order = {SCREEN_ORDER};
        const nodes = [".sub", ".typing", ".msg.visitor a"]
            .map((css) => root.querySelector(css).lastChild);
        const name = root.querySelector(".who bdi");
        return {{order: nodes.map((n) => [order(n).trim(), n.data.trim()]),
                 isolated: name && getComputedStyle(name).unicodeBidi,
                 unisolated: ({BIDI_AUDIT})(root)}};
        """,
    )
    assert seen["order"] == [
        ["is answering", "is answering"],
        ["is typing…", "is typing…"],
        ["https://shop.example/", "https://shop.example/"],
    ]
    assert seen["isolated"] == "isolate"
    assert seen["unisolated"] == []
    assert errors == []
    await agent.close()


async def test_keyboard_labels_and_french(
    context: BrowserContext, chat_server: ServerProcess, host_site: HostSite
) -> None:
    space, _ = await make_space(chat_server.database_url, [host_site.origin])
    agent = await connect_agent(chat_server, space)
    page, _ = await open_page(context, host_site.page(space))
    button = launcher(page)
    await page.get_by_role("textbox", name="Search the shop").focus()
    for _ in range(6):  # the host's own controls first, then the launcher
        await page.keyboard.press("Tab")
        if await button.evaluate("b => b.getRootNode().activeElement === b"):
            break
    await expect(button).to_be_focused()
    await expect(button).to_have_attribute("aria-expanded", "false")
    await page.keyboard.press("Enter")
    panel = dialog(page)
    await expect(panel).to_be_visible()
    await expect(button).to_have_attribute("aria-expanded", "true")
    await expect(panel.get_by_role("textbox", name="Message")).to_be_focused()
    await page.keyboard.type("Typed on the keyboard")
    await page.keyboard.press("Enter")
    assert (await agent.expect("message"))["body"] == "Typed on the keyboard"
    await expect(panel.get_by_role("button", name="Send")).to_be_enabled()
    await expect(panel.get_by_role("button", name="Close chat")).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(panel).to_be_hidden()
    await expect(button).to_be_focused()  # focus came back
    assert set(await page.evaluate("() => window.__keys")) == {"Tab"}

    french, _ = await open_page(context, host_site.page(space, lang="fr"))
    await launcher(french, "Discuter avec nous").click()
    panel = dialog(french, "Discuter avec nous")
    await expect(panel.get_by_role("textbox", name="Message")).to_be_focused()
    await expect(panel.get_by_role("button", name="Envoyer")).to_be_visible()
    await expect(panel.get_by_role("button", name="Fermer la discussion")).to_be_visible()
    await agent.close()


async def test_leave_a_message_then_prechat(
    context: BrowserContext, chat_server: ServerProcess, host_site: HostSite
) -> None:
    space, _ = await make_space(chat_server.database_url, [host_site.origin], prechat="name_email")
    # nobody online: a form that takes an email, and the message still lands in the queue
    page, _ = await open_page(context, host_site.page(space))
    await launcher(page).click()
    panel = dialog(page)
    await expect(panel.get_by_text("No one is available right now", exact=False)).to_be_visible()
    email = panel.get_by_role("textbox", name="Email")
    await expect(email).to_be_focused()
    await email.fill("not an email")
    await panel.get_by_role("textbox", name="Message").fill("Please call me back about order 118.")
    await panel.get_by_role("button", name="Send message").click()
    await expect(panel.get_by_text("Please enter a valid email address.")).to_be_visible()
    await expect(email).to_have_attribute("aria-invalid", "true")
    await email.fill("noor@example.com")
    await panel.get_by_role("button", name="Send message").click()
    # this server sends no email (no SMTP): the reply is promised in the chat
    await expect(panel.get_by_text("Thanks! We'll get back to you here.")).to_be_visible()
    await expect(panel.locator(".msg.visitor")).to_have_count(1)
    await expect(panel.locator(".pending")).to_have_count(0)
    session = await stored_session(page)
    assert session is not None
    profile = await visitor_profile(chat_server.database_url, session["visitor_id"], space)
    assert profile["email"] == "noor@example.com"

    agent = await connect_agent(chat_server, space)
    waiting = [
        c for c in agent.welcome["conversations"] if c["visitor_id"] == session["visitor_id"]
    ]
    assert len(waiting) == 1
    bodies = [m["body"] for m in await history(agent, waiting[0]["id"])]
    assert bodies == ["Please call me back about order 118."]

    # someone online now: a new visitor is asked for a name and email first
    fresh = await context.browser.new_context()  # type: ignore[union-attr]
    try:
        other, _ = await open_page(fresh, host_site.page(space))
        await launcher(other).click()
        panel = dialog(other)
        await expect(panel.get_by_text("Before we start", exact=False)).to_be_visible()
        await panel.get_by_role("textbox", name="Name").fill("Ada Lovelace")
        await panel.get_by_role("textbox", name="Email").fill("ada@example.com")
        await panel.get_by_role("button", name="Start chatting").click()
        await expect(panel.get_by_role("textbox", name="Message")).to_be_focused()
        await send(other, "Hello from Ada")
        said = await agent.expect("message", body="Hello from Ada")
        assert said["author"]["name"] == "Ada Lovelace"
    finally:
        await fresh.close()
    await agent.close()


async def test_identify_attributes_track_and_page_changes(
    context: BrowserContext, chat_server: ServerProcess, host_site: HostSite
) -> None:
    space, secret = await make_space(
        chat_server.database_url, [host_site.origin], identity_mode="enforce"
    )
    agent = await connect_agent(chat_server, space)
    page, errors = await open_page(context, host_site.page(space, path="/tea"))
    await page.evaluate(
        """() => { window.__errors = [];
                   Causette.on('error', (e) => window.__errors.push(e.code)); }"""
    )
    await page.evaluate(
        "s => Causette.identify({id: 'user-42', name: 'Ada', signature: s})", "0" * 64
    )
    await launcher(page).click()  # the widget connects when opened; identify is sent then
    await page.wait_for_function("() => window.__errors.includes('identity_refused')")

    signature = identity_signature(secret, "user-42")
    await page.evaluate(
        "s => Causette.identify({id: 'user-42', name: 'Ada L.', email: 'ada@example.com',"
        " signature: s})",
        signature,
    )
    seen = await agent.expect("visitor")
    while seen["visitor"]["external_id"] is None:  # the first one was the page's context
        seen = await agent.expect("visitor")
    who = seen["visitor"]
    assert (who["external_id"], who["name"], who["email"], who["verified"]) == (
        "user-42",
        "Ada L.",
        "ada@example.com",
        True,
    )
    assert who["context"]["url"] == host_site.page(space, path="/tea")

    await page.evaluate("() => Causette.setAttributes({plan: 'gold', orders: 3, bad: {x: 1}})")
    attrs = (await agent.expect("visitor"))["visitor"]["attributes"]
    assert attrs == {"plan": "gold", "orders": 3}
    await page.evaluate("() => Causette.track('Viewed tea', {sku: 'TEA-1'})")
    track = await agent.expect("track")
    assert (track["event"], track["props"]) == ("Viewed tea", {"sku": "TEA-1"})

    await page.evaluate("() => { history.pushState({}, '', '/checkout'); document.title = 'Pay'; }")
    moved = (await agent.expect("visitor"))["visitor"]["context"]
    assert moved["url"].startswith(f"{host_site.origin}/checkout")
    assert moved["title"] == "Pay"
    assert errors == []
    await agent.close()


async def test_full_screen_on_a_narrow_screen(
    chromium: Browser, chat_server: ServerProcess, host_site: HostSite
) -> None:
    space, _ = await make_space(chat_server.database_url, [host_site.origin])
    phone = await chromium.new_context(viewport={"width": 375, "height": 667}, is_mobile=True)
    try:
        page, _ = await open_page(phone, host_site.page(space))
        await launcher(page).click()
        await dialog(page).evaluate("d => Promise.all(d.getAnimations().map(a => a.finished))")
        box = await dialog(page).bounding_box()
        assert box == {"x": 0, "y": 0, "width": 375, "height": 667}
        await expect(launcher(page)).to_be_hidden()
        await dialog(page).get_by_role("button", name="Close chat").click()
        await expect(launcher(page)).to_be_visible()
    finally:
        await phone.close()


async def test_an_erased_visitor_is_forgotten_on_the_page(
    context: BrowserContext, chat_server: ServerProcess, host_site: HostSite
) -> None:
    from tests.agents.consoleclient import console_agent

    space, _ = await make_space(chat_server.database_url, [host_site.origin])
    agent = await connect_agent(chat_server, space)
    admin = await console_agent(chat_server, role="admin", spaces=[space], name="Admin")
    page, errors = await open_page(context, host_site.page(space))
    await launcher(page).click()
    await send(page, "Please forget me")
    said = await agent.expect("message")
    before = await stored_session(page)
    assert before is not None
    visitor_id = (await admin.ok("GET", f"/api/conversations/{said['conversation_id']}"))[
        "visitor"
    ]["id"]
    await admin.ok("POST", f"/api/visitors/{visitor_id}/erase", {"reason": "asked in chat"})

    # closed with 4002: the page forgets the transcript and the visitor, and starts afresh
    await expect(dialog(page).locator(".msg")).to_have_count(0)
    await page.wait_for_function(NEW_SESSION, arg=before["token"])
    await send(page, "A new start")
    fresh = await agent.expect("message", body="A new start")
    assert fresh["conversation_id"] != said["conversation_id"]
    assert errors == []
    await agent.close()
    await admin.close()


NEW_SESSION = """old => Object.keys(localStorage).filter(k => k.endsWith(':session')).some(k => {
  const s = JSON.parse(localStorage.getItem(k) || 'null');
  return !!(s && s.token && s.token !== old);
})"""
