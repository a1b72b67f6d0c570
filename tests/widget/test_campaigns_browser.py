"""Campaigns and ratings in the widget, in Chromium against a real server: a campaign
launched from the REST API shows its invitation where its rules match and not elsewhere, after
its time on the page, reports one exposure, renders nothing in the holdout, goes away when
killed, and its reply carries the campaign; a resolved conversation asks for a rating, in the
visitor's language, answered from the keyboard, thanked in every tab."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from agents.campaigns.assignment import bucket
from tests.agents.consoleclient import ConsoleAgent, console_agent
from tests.browser import launch_chromium
from tests.servers import ServerProcess
from tests.widget.conftest import HostSite, connect_agent, make_space
from tests.wsclient import visitor_token

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

expect.set_options(timeout=10_000)

ARM = {"key": "a", "message": "Free delivery today! Any question?", "sender": "Ada Lovelace"}


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


@pytest_asyncio.fixture(loop_scope="module")
async def shop(
    chat_server: ServerProcess, host_site: HostSite
) -> AsyncIterator[tuple[str, ConsoleAgent]]:
    """A space the host site may embed, and a marketing agent of it, signed in."""
    space, _ = await make_space(chat_server.database_url, [host_site.origin])
    marketing = await console_agent(chat_server, role="marketing", spaces=[space])
    try:
        yield space, marketing
    finally:
        await marketing.close()


async def launch(marketing: ConsoleAgent, space: str, **fields: Any) -> dict[str, Any]:
    body = {
        "space": space,
        "name": "Delivery nudge",
        "arms": [ARM],
        "holdout": 0,
        "goal": {"replied": True},
        **fields,
    }
    created = await marketing.ok("POST", "/api/campaigns", body)
    return await marketing.ok("POST", f"/api/campaigns/{created['id']}/launch")  # type: ignore[no-any-return]


async def returning_visitor(
    context: BrowserContext,
    server: ServerProcess,
    space: str,
    wanted: Callable[[str], bool] = lambda visitor_id: True,
) -> str:
    """A visitor who has been here before (its token in the browser, so the widget connects
    on every page), chosen by ``wanted`` among a few new ones: its id."""
    for _ in range(20):
        token = await visitor_token(server.base_url, space)
        if wanted(token["visitor_id"]):
            break
    else:
        raise AssertionError("no visitor fits")
    key = f"causette:{server.base_url}:{space}:session"
    value = json.dumps({"token": token["token"], "visitor_id": token["visitor_id"]})
    await context.add_init_script(
        f"if (!localStorage.getItem({json.dumps(key)})) "
        f"localStorage.setItem({json.dumps(key)}, {json.dumps(value)});"
    )
    return str(token["visitor_id"])


class Frames:
    """What the page's widget sent and received on its sockets."""

    def __init__(self, page: Page) -> None:
        self.sent: list[dict[str, Any]] = []
        self.received: list[dict[str, Any]] = []
        self._arrived = asyncio.Event()
        page.on("websocket", self._socket)

    def _socket(self, ws: Any) -> None:
        ws.on("framesent", lambda payload: self._file(self.sent, payload))
        ws.on("framereceived", lambda payload: self._file(self.received, payload))

    def _file(self, frames: list[dict[str, Any]], payload: str) -> None:
        frames.append(json.loads(payload))
        self._arrived.set()

    async def wait(self, kind: str, timeout: float = 10, **fields: Any) -> dict[str, Any]:
        """The first frame of this kind with these fields, sent (``>kind``) or received,
        waiting for the next frame whenever none is there yet."""
        frames = self.sent if kind.startswith(">") else self.received
        kind = kind.lstrip(">")

        async def first() -> dict[str, Any]:
            while True:
                self._arrived.clear()
                for f in frames:
                    if f.get("type") == kind and all(f.get(k) == v for k, v in fields.items()):
                        return f
                await self._arrived.wait()

        try:
            return await asyncio.wait_for(first(), timeout)
        except TimeoutError:
            raise AssertionError(f"no {kind} frame with {fields}") from None

    def count(self, kind: str, **fields: Any) -> int:
        frames = self.sent if kind.startswith(">") else self.received
        return sum(
            1
            for f in frames
            if f.get("type") == kind.lstrip(">") and all(f.get(k) == v for k, v in fields.items())
        )


async def open_page(context: BrowserContext, url: str) -> tuple[Page, Frames, list[str]]:
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    frames = Frames(page)
    await page.goto(url)
    return page, frames, errors


# (["localStorage" | "sessionStorage", key suffix]) => the widget's stored value
STORED = """([area, suffix]) => {
  const key = Object.keys(window[area]).find((k) => k.endsWith(":" + suffix));
  return key ? JSON.parse(window[area].getItem(key)) : null;
}"""
COUNT = "(sel) => document.querySelector('causette-widget').shadowRoot.querySelectorAll(sel).length"


def invitation(page: Page) -> Any:
    return page.get_by_role("region", name="Invitation to chat")


async def test_a_url_rule_shows_on_matching_pages_only(
    context: BrowserContext, chat_server: ServerProcess, host_site: HostSite, shop: Any
) -> None:
    space, marketing = shop
    promo = await launch(marketing, space, rules={"url": "/promo/*"}, priority=10)
    # a lower priority one everywhere else: when it shows, the promo's rule was evaluated and
    # did not match (it would have won)
    elsewhere = {**ARM, "message": "Browsing our teas?", "sender": None}
    canary = await launch(
        marketing, space, name="Teas", arms=[elsewhere], rules={"not": {"url": "/promo/*"}}
    )
    await returning_visitor(context, chat_server, space)

    page, frames, errors = await open_page(context, host_site.page(space, path="/teas"))
    await frames.wait("campaign", campaign_id=promo["id"])
    await expect(invitation(page).get_by_role("button", name="Browsing our teas?")).to_be_visible()
    await expect(invitation(page).get_by_text("Free delivery today!")).to_have_count(0)
    await frames.wait(">exposure", campaign_id=canary["id"], phase=1)
    # Escape dismisses it
    await invitation(page).get_by_role("button", name="Browsing our teas?").focus()
    await page.keyboard.press("Escape")
    await expect(invitation(page)).to_be_hidden()
    cooldown = await page.evaluate(STORED, ["localStorage", "cooldown"])
    assert cooldown > time.time() * 1000 + 23 * 3600 * 1000  # 24 hours by default
    await page.close()

    # a new tab session after the cool-down is over, on a matching page
    await context.add_init_script(
        "for (const k of Object.keys(localStorage))"
        " if (k.endsWith(':cooldown')) localStorage.removeItem(k);"
    )
    page, frames, errors = await open_page(
        context, host_site.page(space, path="/promo/summer-teas")
    )
    pitch = invitation(page).get_by_role("button", name="Ada Lovelace Free delivery today!")
    await expect(pitch).to_be_visible()
    assert not await pitch.evaluate("(b) => b.getRootNode().activeElement === b")  # no focus theft
    exposure = await frames.wait(">exposure", campaign_id=promo["id"])
    assert exposure == {"type": "exposure", "campaign_id": promo["id"], "phase": 1}
    results = await marketing.ok("GET", f"/api/campaigns/{promo['id']}/results")
    assert {a["key"]: a["exposed"] for a in results["arms"]}["a"] == 1

    # at most one per page view, and once per campaign and phase: a reload shows it again (a
    # new page view, within per_session=2) but reports nothing new
    await marketing.ok("PATCH", f"/api/campaigns/{promo['id']}", {"caps": {"per_session": 2}})
    await frames.wait("campaign", campaign_id=promo["id"], caps={**promo_caps(), "per_session": 2})
    await page.reload()
    await expect(pitch).to_be_visible()
    await frames.wait("campaign", campaign_id=promo["id"])
    assert frames.count(">exposure", campaign_id=promo["id"]) == 1
    assert errors == []


def promo_caps() -> dict[str, Any]:
    return {
        "per_session": 1,
        "per_visitor": None,
        "per_day": None,
        "cooldown_hours": 24.0,
        "open_conversation": "skip",
    }


async def test_time_on_page(
    context: BrowserContext, chat_server: ServerProcess, host_site: HostSite, shop: Any
) -> None:
    space, marketing = shop
    campaign = await launch(marketing, space, rules={"time_on_page": 3})
    await returning_visitor(context, chat_server, space)
    started = time.monotonic()
    page, frames, errors = await open_page(context, host_site.page(space, path="/slow"))
    await frames.wait("campaign", campaign_id=campaign["id"])
    assert await invitation(page).is_hidden()
    await expect(invitation(page).get_by_role("button", name="Ada Lovelace Free")).to_be_visible()
    assert time.monotonic() - started >= 3
    await frames.wait(">exposure", campaign_id=campaign["id"])
    assert errors == []


async def test_the_holdout_reports_an_exposure_and_shows_nothing(
    context: BrowserContext, chat_server: ServerProcess, host_site: HostSite, shop: Any
) -> None:
    space, marketing = shop
    campaign = await launch(marketing, space, holdout=0.5, rules={"url": "/promo/*"})
    cid = campaign["id"]
    await returning_visitor(
        context, chat_server, space, lambda visitor_id: bucket(cid, 1, visitor_id) < 5000
    )
    page, frames, errors = await open_page(context, host_site.page(space, path="/promo/a"))
    offer = await frames.wait("campaign", campaign_id=cid)
    assert offer["arm"] == "holdout" and offer["message"] is None
    await frames.wait(">exposure", campaign_id=cid, phase=1)
    assert await invitation(page).is_hidden()
    assert await page.evaluate(COUNT, ".invite > *") == 0
    # it took this tab's one showing (per_session 1)
    assert (await page.evaluate(STORED, ["sessionStorage", "visit"]))["shown"] == {cid: 1}
    results = await marketing.ok("GET", f"/api/campaigns/{cid}/results")
    assert {a["key"]: a["exposed"] for a in results["arms"]}["holdout"] == 1
    assert errors == []


async def test_a_withdrawn_invitation_disappears_at_once(
    context: BrowserContext, chat_server: ServerProcess, host_site: HostSite, shop: Any
) -> None:
    space, marketing = shop
    campaign = await launch(marketing, space, rules={"all": []})
    await returning_visitor(context, chat_server, space)
    page, frames, errors = await open_page(context, host_site.page(space, path="/"))
    await expect(invitation(page).get_by_role("button", name="Ada Lovelace Free")).to_be_visible()
    await marketing.ok("POST", f"/api/campaigns/{campaign['id']}/kill")
    await frames.wait("campaign", campaign_id=campaign["id"], withdrawn=True)
    await expect(invitation(page)).to_be_hidden()
    assert errors == []


async def test_replies_carry_the_campaign(
    context: BrowserContext, chat_server: ServerProcess, host_site: HostSite, shop: Any
) -> None:
    space, marketing = shop
    arm = {**ARM, "buttons": ["Yes, a question", "No thanks"]}
    campaign = await launch(marketing, space, arms=[arm], rules={"url": "/promo/*"})
    agent = await connect_agent(chat_server, space, name="Camille Roux")
    await returning_visitor(context, chat_server, space)
    page, frames, errors = await open_page(context, host_site.page(space, path="/promo/x"))
    quick = invitation(page).get_by_role("button", name="Yes, a question")
    await expect(quick).to_be_visible()
    await frames.wait(">exposure", campaign_id=campaign["id"])
    await quick.click()

    panel = page.get_by_role("dialog", name="Chat with us")
    await expect(panel).to_be_visible()
    await expect(invitation(page)).to_be_hidden()
    first = panel.locator(".msg").first
    await expect(first.locator(".who")).to_have_text("Ada Lovelace")
    await expect(first.locator(".bubble")).to_have_text("Free delivery today! Any question?")
    sent = await frames.wait(">message", body="Yes, a question")
    assert sent["campaign_id"] == campaign["id"]
    said = await agent.expect("message", body="Yes, a question")
    # the campaign is on the conversation before anyone hears of its first message
    detail = await marketing.ok("GET", f"/api/conversations/{said['conversation_id']}")
    assert detail["conversation"]["campaign"] == {"id": campaign["id"], "phase": 1, "arm": "a"}

    # the next message is an ordinary one
    box = panel.get_by_role("textbox", name="Message")
    await box.fill("And the return policy?")
    await box.press("Enter")
    second = await frames.wait(">message", body="And the return policy?")
    assert "campaign_id" not in second
    await agent.close()
    assert errors == []


async def test_a_typed_first_message_answers_the_invitation(
    context: BrowserContext, chat_server: ServerProcess, host_site: HostSite, shop: Any
) -> None:
    space, marketing = shop
    campaign = await launch(marketing, space, rules={"url": "/promo/*"})
    agent = await connect_agent(chat_server, space)  # online: the chat, not a form
    await returning_visitor(context, chat_server, space)
    page, frames, errors = await open_page(context, host_site.page(space, path="/promo/y"))
    pitch = invitation(page).get_by_role("button", name="Ada Lovelace Free delivery")
    await expect(pitch).to_be_visible()
    await pitch.focus()
    await page.keyboard.press("Enter")
    box = page.get_by_role("dialog", name="Chat with us").get_by_role("textbox", name="Message")
    await expect(box).to_be_focused()
    await box.fill("Is it for every country?")
    await box.press("Enter")
    sent = await frames.wait(">message", body="Is it for every country?")
    assert sent["campaign_id"] == campaign["id"]
    await frames.wait("ack", client_id=sent["client_id"])
    await agent.close()
    assert errors == []


async def test_rating_a_conversation_from_the_widget(
    context: BrowserContext, chat_server: ServerProcess, host_site: HostSite, shop: Any
) -> None:
    space, marketing = shop
    agent = await connect_agent(chat_server, space, name="Camille Roux")
    page, frames, errors = await open_page(context, host_site.page(space, path="/help"))
    await page.get_by_role("button", name="Chat with us", exact=True).click()
    panel = page.get_by_role("dialog", name="Chat with us")
    box = panel.get_by_role("textbox", name="Message")
    await box.fill("Where is my order?")
    await box.press("Enter")
    conv = (await agent.expect("message"))["conversation_id"]
    await agent.say("It ships today.", conversation_id=conv)
    await agent.send({"type": "resolve", "conversation_id": conv})

    card = panel.get_by_role("form", name="How would you rate this conversation?")
    await expect(card).to_be_visible()
    # another tab, in French: asked too
    fr, _, fr_errors = await open_page(context, host_site.page(space, lang="fr"))
    await fr.get_by_role("button", name="Discuter avec nous", exact=True).click()
    fr_card = fr.get_by_role("form", name="Comment évalueriez-vous cette conversation ?")
    await expect(fr_card).to_be_visible()
    await expect(fr_card.get_by_role("radio", name="5 sur 5")).to_be_visible()
    await expect(fr_card.get_by_role("textbox", name="Commentaire (facultatif)")).to_be_visible()

    # from the keyboard: Tab into the stars, arrows to choose, a comment, Send
    stars = card.get_by_role("radiogroup", name="How would you rate this conversation?")
    send = card.get_by_role("button", name="Send")
    await expect(send).to_be_disabled()
    await card.get_by_role("radio", name="1 out of 5").focus()
    for _ in range(3):
        await page.keyboard.press("ArrowRight")
    four = stars.get_by_role("radio", name="4 out of 5")
    await expect(four).to_be_focused()
    await expect(four).to_have_attribute("aria-checked", "true")
    await expect(stars.get_by_role("radio", checked=True)).to_have_count(1)
    await page.keyboard.press("ArrowLeft")
    await page.keyboard.press("ArrowRight")
    await page.keyboard.press("Tab")
    comment = card.get_by_role("textbox", name="Comment (optional)")
    await expect(comment).to_be_focused()
    assert await comment.get_attribute("maxlength") == "1000"
    await page.keyboard.type("Quick and clear")
    await page.keyboard.press("Tab")
    await expect(send).to_be_focused()
    await page.keyboard.press("Enter")

    sent = await frames.wait(">csat")
    assert sent == {
        "type": "csat",
        "conversation_id": conv,
        "score": 4,
        "comment": "Quick and clear",
    }
    given = await agent.expect("csat", conversation_id=conv, score=4)
    assert given["comment"] == "Quick and clear"
    await expect(panel.get_by_text("Thank you for your feedback!")).to_be_visible()
    await expect(card.get_by_role("radio")).to_have_count(0)
    await expect(fr.get_by_text("Merci pour votre avis !")).to_be_visible()
    detail = await marketing.ok("GET", f"/api/conversations/{conv}")
    assert detail["csat"]["score"] == 4
    await agent.close()
    assert errors == fr_errors == []


async def test_a_rating_may_be_declined(
    context: BrowserContext, chat_server: ServerProcess, host_site: HostSite, shop: Any
) -> None:
    space, _ = shop
    agent = await connect_agent(chat_server, space, name="Camille Roux")
    page, frames, errors = await open_page(context, host_site.page(space, path="/help"))
    await page.get_by_role("button", name="Chat with us", exact=True).click()
    panel = page.get_by_role("dialog", name="Chat with us")
    box = panel.get_by_role("textbox", name="Message")
    await box.fill("Hello")
    await box.press("Enter")
    conv = (await agent.expect("message"))["conversation_id"]
    await agent.say("Hi!", conversation_id=conv)
    await agent.send({"type": "resolve", "conversation_id": conv})
    card = panel.get_by_role("form", name="How would you rate this conversation?")
    await card.get_by_role("button", name="Close the rating").click()
    await expect(card).to_have_count(0)
    await expect(box).to_be_focused()
    # the next page is asked again by the server: the widget keeps it closed
    await page.reload()
    await frames.wait("csat", conversation_id=conv)
    await page.get_by_role("button", name="Chat with us", exact=True).click()
    await expect(panel.get_by_text("Hi!", exact=True)).to_be_visible()
    await expect(card).to_have_count(0)
    assert frames.count(">csat") == 0
    await agent.close()
    assert errors == []


async def test_a_question_past_its_time_is_not_shown(
    context: BrowserContext, chat_server: ServerProcess, host_site: HostSite, shop: Any
) -> None:
    space, _ = shop
    agent = await connect_agent(chat_server, space)  # online: the chat, not a form
    await returning_visitor(context, chat_server, space)
    page = await context.new_page()
    asks = [
        {
            "type": "csat",
            "conversation_id": "c-past",
            "until": "2020-01-01T00:00:00Z",
            "score": None,
        },
        {
            "type": "csat",
            "conversation_id": "c-now",
            "until": "2999-01-01T00:00:00Z",
            "score": None,
        },
    ]

    # the server's frames, and after its welcome two questions as a server would send them
    def route(ws: Any) -> None:
        server = ws.connect_to_server()

        def from_server(message: str | bytes) -> None:
            ws.send(message)
            if json.loads(message).get("type") == "welcome":
                for ask in asks:
                    ws.send(json.dumps(ask))

        server.on_message(from_server)
        ws.on_message(server.send)

    await page.route_web_socket("**/ws/visitor*", route)
    await page.goto(host_site.page(space))
    await page.get_by_role("button", name="Chat with us", exact=True).click()
    cards = page.get_by_role("form", name="How would you rate this conversation?")
    await expect(cards).to_have_count(1)  # c-now, sent after c-past
    assert await page.evaluate(COUNT, ".csat") == 1
    await agent.close()
