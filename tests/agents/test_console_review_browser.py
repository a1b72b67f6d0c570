"""Where a conversation came from and how it was rated, transcript review per arm and blind,
and the satisfaction report, in a real Chromium against a real server. The data are made
the way the product makes them: visitors' sockets answer a live campaign, agents' sockets
reply and resolve, visitors rate."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from tests.agents.consoleclient import PASSWORD, ConsoleAgent, console_agent, open_visitor
from tests.browser import BIDI_AUDIT, launch_chromium
from tests.conftest import new_space
from tests.servers import ServerProcess
from tests.wsclient import ChatClient, connect_visitor

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

SHOTS = Path(tempfile.gettempdir())  # the screenshots, to look at
ARMS = ("zephyr", "quokka")  # keys no other text on the page contains
CAMPAIGN: dict[str, Any] = {
    "name": "Delivery nudge",
    "arms": [
        {"key": ARMS[0], "weight": 1, "message": "Questions about delivery?"},
        {"key": ARMS[1], "weight": 1, "message": "Free delivery today!"},
    ],
    "holdout": 0,
    "rules": {"all": []},
    "goal": {"conversation": True},
}
PER_ARM = 3


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("review-browser")
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


@dataclass
class Experiment:
    """A live two-arm campaign whose visitors started conversations (PER_ARM per arm at
    least)."""

    space: str
    campaign_id: str
    mia: ConsoleAgent  # marketing: she replies, and reads the results
    rui: ConsoleAgent  # customer relations
    mia_socket: ChatClient
    by_arm: dict[str, list[str]] = field(default_factory=dict)
    visitors: dict[str, ChatClient] = field(default_factory=dict)  # by conversation id


async def _campaign_conversation(
    server: ServerProcess, space: str, cid: str
) -> tuple[ChatClient, str, str]:
    """A new visitor who sees the campaign and answers it: (its socket, arm, conversation)."""
    visitor = await connect_visitor(server, space=space)
    offer = await visitor.expect("campaign", timeout=5, campaign_id=cid)
    await visitor.send({"type": "exposure", "campaign_id": cid, "phase": offer["phase"]})
    client_id = str(uuid.uuid4())
    await visitor.send(
        {
            "type": "message",
            "client_id": client_id,
            "body": "Hello! Is delivery free to Lyon?",
            "campaign_id": cid,
        }
    )
    ack = await visitor.expect("ack", client_id=client_id)
    return visitor, offer["arm"], ack["conversation_id"]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def experiment(server: ServerProcess) -> AsyncIterator[Experiment]:
    space = await new_space(server.database_url)
    mia = await console_agent(server, role="marketing", spaces=[space], name="Mia")
    rui = await console_agent(server, role="relation", spaces=[space], name="Rui")
    created = await mia.ok("POST", "/api/campaigns", {"space": space, **CAMPAIGN})
    cid = (await mia.ok("POST", f"/api/campaigns/{created['id']}/launch"))["id"]
    exp = Experiment(space, cid, mia, rui, await mia.socket(), {arm: [] for arm in ARMS})
    while min(len(v) for v in exp.by_arm.values()) < PER_ARM:
        assert len(exp.visitors) < 40  # each arm gets half of them
        visitor, arm, conv = await _campaign_conversation(server, space, cid)
        exp.by_arm[arm].append(conv)
        exp.visitors[conv] = visitor
    try:
        yield exp
    finally:
        for visitor in exp.visitors.values():
            await visitor.close()
        await mia.close()
        await rui.close()


async def _reply_and_resolve(agent: ChatClient, visitor: ChatClient, conv: str) -> None:
    await agent.say("Yes, from 30 € on. Anything else?", conversation_id=conv)
    await agent.send({"type": "resolve", "conversation_id": conv})
    await visitor.expect("csat", conversation_id=conv, score=None)  # the question


async def _rate(visitor: ChatClient, conv: str, score: int, comment: str | None = None) -> None:
    frame: dict[str, Any] = {"type": "csat", "conversation_id": conv, "score": score}
    if comment is not None:
        frame["comment"] = comment
    await visitor.send(frame)
    await visitor.expect("csat", conversation_id=conv, score=score)


async def _page(browser: Browser, problems: list[str], locale: str = "en-US") -> Page:
    context = await browser.new_context(viewport={"width": 1440, "height": 900}, locale=locale)
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
    await expect(page.get_by_role("button", name="Mine")).to_be_attached()


async def _shoot(page: Page, name: str, width: int = 1440, column: str = "campaigns") -> Path:
    """A PNG of a page column (which scrolls inside itself) in full, at this width."""
    await page.set_viewport_size({"width": width, "height": 900})
    height = await page.evaluate(
        "(id) => { const m = document.getElementById(id);"
        " return m.scrollHeight + m.getBoundingClientRect().top; }",
        column,
    )
    await page.set_viewport_size({"width": width, "height": max(900, int(height) + 8)})
    path = SHOTS / f"causette-review-{name}.png"
    await page.screenshot(path=path)
    await page.set_viewport_size({"width": 1440, "height": 900})
    return path


async def _no_horizontal_overflow(page: Page, column: str) -> None:
    widths = await page.evaluate(
        "(id) => { const m = document.getElementById(id);"
        " return [m.scrollWidth, m.clientWidth, document.documentElement.scrollWidth,"
        " window.innerWidth]; }",
        column,
    )
    assert widths[0] <= widths[1] + 1 and widths[2] <= widths[3] + 1, widths


async def _open_resolved(page: Page, conv: str) -> None:
    await page.get_by_role("button", name="All").click()
    await page.get_by_role("button", name="Resolved").click()
    await page.locator(f"button.item[data-conversation-id='{conv}']").click()


def _text(value: str | None) -> str:
    return " ".join((value or "").replace("\u00a0", " ").split())


# -- 1. the conversation's campaign and rating ----------------------------------------------


async def test_the_conversation_shows_its_campaign_and_its_rating_live(
    server: ServerProcess, browser: Browser, experiment: Experiment
) -> None:
    exp = experiment
    arm = ARMS[0]
    rated, live = exp.by_arm[arm][0], exp.by_arm[arm][1]
    await _reply_and_resolve(exp.mia_socket, exp.visitors[rated], rated)
    await _rate(exp.visitors[rated], rated, 4, "Quick and kind, thanks")
    await _reply_and_resolve(exp.mia_socket, exp.visitors[live], live)

    problems: list[str] = []
    page = await _page(browser, problems)
    await _sign_in(page, server, exp.mia.email)
    await _open_resolved(page, rated)
    details = page.locator("aside.details")
    origin = details.locator(".kv", has_text="Started from campaign")
    await expect(origin).to_contain_text(f"Delivery nudge — arm {arm}, phase 1")
    link = origin.get_by_role("link", name="Delivery nudge")
    await expect(link).to_have_attribute("href", f"#campaigns/{exp.campaign_id}/results")
    rating = details.locator(".rating-card")
    await expect(rating.locator(".rating-score")).to_have_text("4 / 5")
    await expect(rating.locator(".rating-comment")).to_have_text("Quick and kind, thanks")
    await expect(rating.locator(".rating-meta")).to_contain_text("for you")
    await expect(
        page.locator(f"button.item[data-conversation-id='{rated}'] .rated")
    ).to_contain_text("4")
    shot = await _shoot(page, "conversation", column="conversation")

    # rated while it is open: the panel and the list follow, without a reload
    await page.locator(f"button.item[data-conversation-id='{live}']").click()
    await expect(rating).to_contain_text("Not rated yet.")
    await page.get_by_label("Add a tag").fill("draft")  # typed, not sent: kept by a live rating
    await _rate(exp.visitors[live], live, 2, "Too slow\nbut polite")
    await expect(rating.locator(".rating-score")).to_have_text("2 / 5")
    await expect(rating.locator(".rating-comment")).to_have_text("Too slow\nbut polite")
    await expect(rating.locator(".rating-meta time")).to_be_visible()
    await expect(page.get_by_label("Add a tag")).to_have_value("draft")
    chip = page.locator(f"button.item[data-conversation-id='{live}'] .rated")
    await expect(chip).to_contain_text("2")
    await expect(chip).to_have_attribute("title", "Rated 2 of 5")
    live_shot = await _shoot(page, "conversation-live", column="conversation")
    summary = page.locator(".conv-summary")
    await expect(summary).to_be_hidden()  # the details panel says it all
    await page.set_viewport_size({"width": 360, "height": 800})  # no panel: one line says it
    await expect(summary).to_have_text("Started from campaign Delivery nudge · ★ Rating: 2 / 5")
    await _shoot(page, "conversation-360", width=360, column="conversation")
    assert await page.evaluate(f"({BIDI_AUDIT})(document)") == []

    # the link leads to the campaign's results
    await link.click()
    await expect(page.get_by_role("heading", name="Delivery nudge")).to_be_visible()
    await expect(page.get_by_role("tab", name="Results")).to_have_attribute("aria-selected", "true")

    # a relation agent reads where it came from, as text: campaigns are not its section
    other = await _page(browser, problems)
    await _sign_in(other, server, exp.rui.email)
    await _open_resolved(other, rated)
    origin = other.locator("aside.details .kv", has_text="Started from campaign")
    await expect(origin).to_contain_text(f"Delivery nudge — arm {arm}, phase 1")
    await expect(origin.get_by_role("link")).to_have_count(0)
    await expect(other.locator("aside.details .rating-meta")).to_contain_text("for Mia")
    print(f"\nscreenshots: {shot} {live_shot}")
    assert problems == []


# -- 2. transcripts per arm, blind review, tags ---------------------------------------------


async def test_transcripts_per_arm_blind_review_and_tags(
    server: ServerProcess, browser: Browser, experiment: Experiment
) -> None:
    exp = experiment
    cid = exp.campaign_id
    problems: list[str] = []
    page = await _page(browser, problems)
    await _sign_in(page, server, exp.mia.email, f"#campaigns/{cid}/results")
    reviews = page.locator("section.reviews")
    await expect(reviews).to_contain_text("No review tags yet")

    # one arm's transcripts, from its row of the results table
    arm = ARMS[1]
    await page.locator(f"tr[data-arm='{arm}']").get_by_role("link", name="Read transcripts").click()
    await expect(page.get_by_role("heading", name=f"Transcripts of arm {arm}")).to_be_visible()
    assert page.url.endswith(f"#campaigns/{cid}/transcripts/1/{arm}")
    cards = page.locator(".transcript-card")
    await expect(cards).to_have_count(len(exp.by_arm[arm]))  # under the limit of 20
    ids = await cards.evaluate_all("els => els.map((e) => e.dataset.conversationId)")
    assert set(ids) == set(exp.by_arm[arm])
    first = cards.first
    await expect(first.locator(".rmsg.from-visitor .rmsg-body")).to_have_text(
        "Hello! Is delivery free to Lyon?"
    )
    await expect(first).to_contain_text("No review tags in this space yet")

    # the space's review tags: the server's refusal is shown, what was typed stays
    tags_input = page.get_by_label("Review tags of the space")
    await tags_input.fill("helpful, off-topic, Too pushy!")
    await page.get_by_role("button", name="Save tags").click()
    error = page.locator(".review-tags-form .form-error")
    await expect(error).to_contain_text("is not a tag (letters, digits, . : - _)")
    await expect(tags_input).to_have_value("helpful, off-topic, Too pushy!")
    await expect(tags_input).to_have_attribute("aria-invalid", "true")
    await _shoot(page, "tags-error")
    await tags_input.fill("Helpful, off-topic, pushy")
    await page.get_by_role("button", name="Save tags").click()
    await expect(tags_input).to_have_value("helpful, off-topic, pushy")
    await expect(error).to_be_empty()
    assert (await exp.mia.ok("GET", f"/api/review-tags?space={exp.space}"))["tags"] == [
        "helpful",
        "off-topic",
        "pushy",
    ]
    await expect(first.locator("button.tag-toggle")).to_have_count(3)
    arm_shot = await _shoot(page, "transcripts")
    await _shoot(page, "transcripts-360", width=360)

    # blind: every arm, and no arm anywhere on the screen, nor in its address
    await page.get_by_role("link", name="Blind review").click()
    await expect(page.get_by_role("heading", name="Blind review")).to_be_visible()
    assert page.url.endswith(f"#campaigns/{cid}/blind/1")
    # the server takes as many of each arm, up to half the limit of 20 each
    await expect(cards).to_have_count(sum(min(len(v), 10) for v in exp.by_arm.values()))
    ids = set(await cards.evaluate_all("els => els.map((e) => e.dataset.conversationId)"))
    assert ids & set(exp.by_arm[ARMS[0]]) and ids & set(exp.by_arm[ARMS[1]])
    assert ids <= {c for arm_ids in exp.by_arm.values() for c in arm_ids}
    html = (await page.evaluate("() => document.documentElement.outerHTML")).lower()
    text = (await page.evaluate("() => document.body.innerText")).lower()
    for key in ARMS:
        assert key not in html and key not in text and key not in page.url.lower(), key
    assert "data-arm" not in html

    # a tag, by the keyboard: saved, and still there after a reload
    target = sorted(ids & set(exp.by_arm[ARMS[0]]))[0]
    card = page.locator(f".transcript-card[data-conversation-id='{target}']")
    toggle = card.get_by_role("button", name="helpful")
    await toggle.focus()
    await page.keyboard.press("Space")
    await expect(toggle).to_have_attribute("aria-pressed", "true")
    await expect(card.locator(".review-status")).to_have_text("Saved: helpful")
    await card.get_by_role("button", name="pushy").click()
    await expect(card.locator(".review-status")).to_have_text("Saved: helpful, pushy")
    await card.get_by_role("button", name="pushy").click()
    await expect(card.locator(".review-status")).to_have_text("Saved: helpful")
    blind_shot = await _shoot(page, "blind")
    await page.set_viewport_size({"width": 360, "height": 800})
    await _no_horizontal_overflow(page, "campaigns")
    await _shoot(page, "blind-360", width=360)
    await page.reload()
    await expect(page.get_by_role("heading", name="Blind review")).to_be_visible()
    await expect(card.get_by_role("button", name="helpful")).to_have_attribute(
        "aria-pressed", "true"
    )
    await expect(card.get_by_role("button", name="pushy")).to_have_attribute(
        "aria-pressed", "false"
    )

    # the results count it, for the arm it came from
    results = await exp.mia.ok("GET", f"/api/campaigns/{cid}/results")
    assert {a["key"]: a["reviews"] for a in results["arms"]} == {
        ARMS[0]: {"helpful": 1},
        ARMS[1]: {},
    }
    await page.locator(".review-bar .back").click()
    await expect(page.get_by_role("tab", name="Results")).to_have_attribute("aria-selected", "true")
    counts = page.locator(f"tr[data-review-arm='{ARMS[0]}']")
    await expect(counts.locator("td[data-tag='helpful']")).to_have_text("1")
    await expect(counts.locator("td[data-tag='pushy']")).to_have_text("0")
    await expect(
        page.locator(f"tr[data-review-arm='{ARMS[1]}'] td[data-tag='helpful']")
    ).to_have_text("0")
    results_shot = await _shoot(page, "results")
    await _shoot(page, "results-360", width=360)
    assert await page.evaluate(f"({BIDI_AUDIT})(document)") == []
    print(f"\nscreenshots: {arm_shot} {blind_shot} {results_shot}")
    assert problems == []


# -- 3. the satisfaction report --------------------------------------------------------------


async def test_the_satisfaction_report(server: ServerProcess, browser: Browser) -> None:
    space = await new_space(server.database_url)
    mia = await console_agent(server, role="marketing", spaces=[space], name="Mia")
    rui = await console_agent(server, role="relation", spaces=[space], name="Rui")
    ada = await console_agent(server, role="admin", spaces=[space], name="Ada")
    team = await ada.ok("POST", "/api/teams", {"space": space, "name": "Night shift"})
    await ada.ok("PATCH", f"/api/teams/{team['id']}", {"members": [mia.id]})
    mia_socket, rui_socket = await mia.socket(), await rui.socket()
    sockets: list[ChatClient] = []

    async def conversation(agent: ChatClient, score: int | None, team_id: str = "") -> None:
        visitor, conv = await open_visitor(server, space, "Where is my parcel?")
        sockets.append(visitor)
        if team_id:
            for _ in range(5):  # routing may be assigning it at this very moment: again
                moved = await ada.call(
                    "POST", f"/api/conversations/{conv}/transfer", {"team_id": team_id}
                )
                if moved.status_code != 409:
                    break
            assert moved.status_code == 200, moved.text
        await _reply_and_resolve(agent, visitor, conv)
        if score is not None:
            await _rate(visitor, conv, score)

    # Mia: 4, 2, 5 (for her team) and one unrated; Rui: 1
    await conversation(mia_socket, 4)
    await conversation(mia_socket, 2)
    await conversation(mia_socket, 5, team["id"])
    await conversation(mia_socket, None)
    await conversation(rui_socket, 1)

    problems: list[str] = []
    page = await _page(browser, problems)
    await _sign_in(page, server, mia.email, "#campaigns")
    await page.locator(".page-actions").get_by_role("link", name="Satisfaction").click()
    await expect(page.get_by_role("heading", name="Satisfaction", level=1)).to_be_visible()
    assert page.url.endswith("#satisfaction")
    await expect(page.locator(".definition")).to_have_text(
        "CSAT score: share of ratings of 4 or 5; response rate: ratings over resolved "
        "conversations in which an agent replied."
    )
    row = page.locator(f"tr[data-agent-id='{mia.id}']")
    await expect(row).to_be_visible()
    figures = {
        col: _text(await row.locator(f"[data-col={col}]").inner_text())
        for col in ("score", "mean", "ratings", "response")
    }
    assert figures == {
        "score": "67 %",
        "mean": "3.67",
        "ratings": "3",
        "response": "75.0 % of 4 asked",
    }, figures
    rui_row = page.locator(f"tr[data-agent-id='{rui.id}']")
    await expect(rui_row.locator("[data-col=score]")).to_have_text("0\u00a0%")
    await expect(rui_row.locator("[data-col=mean]")).to_have_text("1.00")
    team_row = page.locator(f"tr[data-team-id='{team['id']}']")
    await expect(team_row.locator("th")).to_have_text("Night shift")
    await expect(team_row.locator("[data-col=score]")).to_have_text("100\u00a0%")
    overall = page.locator(".tiles")
    assert _text(await overall.locator("[data-col=score] dd").inner_text()) == "50 %"
    assert _text(await overall.locator("[data-col=response] dd").inner_text()) == (
        "80.0 % of 5 asked"
    )
    report_shot = await _shoot(page, "satisfaction", column="satisfaction")
    await page.set_viewport_size({"width": 360, "height": 800})
    await _no_horizontal_overflow(page, "satisfaction")
    await _shoot(page, "satisfaction-360", width=360, column="satisfaction")

    # a refused range says why; a range with nothing says so
    await page.get_by_label("From", exact=True).fill("2030-01-02")
    await page.get_by_label("To", exact=True).fill("2030-01-01")
    await page.get_by_role("button", name="Show").click()
    await expect(page.locator("#satisfaction .form-error")).to_contain_text("from first")
    await page.get_by_label("From", exact=True).fill("2020-01-01")
    await page.get_by_label("To", exact=True).fill("2020-01-31")
    await page.get_by_role("button", name="Show").click()
    await expect(page.locator("#satisfaction .form-error")).to_be_empty()
    await expect(page.locator("#csat-agents-title + .empty-panel")).to_contain_text(
        "No conversation with an agent's reply"
    )

    # a relation agent, in French: its own row, from the sidebar
    other = await _page(browser, problems, locale="fr-FR")
    await other.goto(f"{server.base_url}/console")
    await other.get_by_label("E-mail").fill(rui.email)
    await other.get_by_label("Mot de passe").fill(PASSWORD)
    await other.get_by_role("button", name="Se connecter").click()
    await other.get_by_role("link", name="Satisfaction").click()
    await expect(other.get_by_role("heading", name="Vos notes")).to_be_visible()
    await expect(other.locator(".report-table tbody tr")).to_have_count(1)
    mine = other.locator(f"tr[data-agent-id='{rui.id}']")
    await expect(mine.locator("th")).to_have_text("Rui (vous)")
    await expect(mine.locator("[data-col=mean]")).to_have_text("1,00")
    await expect(other.locator(".tiles")).to_have_count(0)
    await expect(other.locator(".definition")).to_contain_text("Score CSAT : part des notes")
    fr_shot = await _shoot(other, "satisfaction-fr", column="satisfaction")
    print(f"\nscreenshots: {report_shot} {fr_shot}")
    for s in sockets:
        await s.close()
    for a in (mia, rui, ada):
        await a.close()
    assert problems == []
