"""The console's Reports page in a real Chromium against a real server: conversations with
known times go straight into the database (with the counters the store keeps), then the key
figures and their definitions, a report by week and arm with its chart, table and CSV, the
address and Back, a relation agent's own figures, and the redacted export."""

from __future__ import annotations

import asyncio
import csv
import functools
import io
import math
import re
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
import sqlalchemy as sa
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect
from sqlalchemy.ext.asyncio import create_async_engine

from chat.models import agents, spaces
from tests.agents.consoleclient import PASSWORD, ConsoleAgent, console_agent
from tests.agents.seeding import seed_conversation
from tests.browser import launch_chromium
from tests.conftest import new_space
from tests.servers import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

SHOTS = Path(tempfile.gettempdir())
PARIS = ZoneInfo("Europe/Paris")
RANGE = ("2026-10-19", "2026-11-01")  # two weeks, Monday to Sunday
EMAIL = "jane.doe@example.org"
CAMPAIGN: dict[str, Any] = {
    "name": "Delivery nudge",
    "arms": [
        {"key": "a", "weight": 1, "message": "Questions about delivery?"},
        {"key": "b", "weight": 1, "message": "Free delivery today!"},
    ],
    "holdout": 0,
    "rules": {"all": []},
    "goal": {"conversation": True},
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("reports-browser")
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


# -- the data: straight into the store, as tests/agents/test_reports.py makes it --------------


def paris(text: str) -> datetime:
    """A Paris wall-clock time, as the UTC instant the store keeps."""
    return datetime.fromisoformat(text).replace(tzinfo=PARIS).astimezone(UTC)


async def _space_clock(url: str, space: str, agent_ids: list[str]) -> str:
    """Paris time, weekdays 09:00-18:00, missed after 120 s: the space's id. Its agents take
    no chat by themselves (max chats 0): routing leaves the seeded conversations as they are."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                agents.update().where(agents.c.id.in_(agent_ids)).values(max_chats=0)
            )
            await conn.execute(
                spaces.update()
                .where(spaces.c.key == space)
                .values(
                    time_zone="Europe/Paris",
                    business_hours={
                        d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")
                    },
                    holidays=[],
                    missed_after_seconds=120,
                )
            )
            return (
                await conn.execute(sa.select(spaces.c.id).where(spaces.c.key == space))
            ).scalar_one()
    finally:
        await engine.dispose()


# every conversation here is tagged "parcel" and starts with this question
_conversation = functools.partial(seed_conversation, tags=("parcel",), body="Where is my parcel?")


@dataclass
class Seeded:
    space: str
    campaign_id: str
    mia: ConsoleAgent  # marketing
    rui: ConsoleAgent  # customer relations
    ada: ConsoleAgent  # admin


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def seeded(server: ServerProcess) -> AsyncIterator[Seeded]:
    """Six conversations over two weeks of October 2026, in Paris, with known times."""
    space = await new_space(server.database_url)
    mia = await console_agent(server, role="marketing", spaces=[space], name="Mia")
    rui = await console_agent(server, role="relation", spaces=[space], name="Rui")
    ada = await console_agent(server, role="admin", spaces=[space], name="Ada")
    cid = (await mia.ok("POST", "/api/campaigns", {"space": space, **CAMPAIGN}))["id"]
    url = server.database_url
    space_id = await _space_clock(url, space, [mia.id, rui.id, ada.id])
    # Friday 17:50, answered Monday 09:10: 64 h 20 min, 20 min within business hours
    await _conversation(
        url, space_id,
        [("visitor", paris("2026-10-23T17:50")), ("agent", paris("2026-10-26T09:10"))],
        agent_id=mia.id, campaign=(cid, "a"),
    )  # fmt: skip
    # answered in a minute, resolved after 30, rated 5 (arm b)
    await _conversation(
        url, space_id,
        [("visitor", paris("2026-10-27T10:00")), ("system", paris("2026-10-27T10:00:30")),
         ("agent", paris("2026-10-27T10:01")), ("visitor", paris("2026-10-27T10:02"))],
        agent_id=mia.id, resolved=paris("2026-10-27T10:30"), csat=5, campaign=(cid, "b"),
    )  # fmt: skip
    # never answered: missed (no campaign)
    await _conversation(
        url, space_id, [("visitor", paris("2026-10-27T10:00"))], entry="https://shop.example/faq"
    )
    # answered after 5 minutes (missed), resolved after an hour, reopened, rated 2 with an email
    await _conversation(
        url, space_id,
        [("visitor", paris("2026-10-28T10:00")), ("agent", paris("2026-10-28T10:05"))],
        agent_id=mia.id, resolved=paris("2026-10-28T11:00"), reopened=1, csat=2,
        comment=f"Too slow. Write to me at {EMAIL}", body=f"I am {EMAIL}, where is it?",
        campaign=(cid, "a"),
    )  # fmt: skip
    # 17:58 answered 18:02:20: 4 min 20 s, 2 min within business hours; resolved 1 h 05 min later
    await _conversation(
        url, space_id,
        [("visitor", paris("2026-10-29T17:58")), ("agent", paris("2026-10-29T18:02:20"))],
        agent_id=mia.id, resolved=paris("2026-10-29T19:03"), csat=4, campaign=(cid, "b"),
    )  # fmt: skip
    # Rui's: answered in 45 s, resolved after 20 min, not rated
    await _conversation(
        url, space_id,
        [("visitor", paris("2026-10-30T11:00")), ("agent", paris("2026-10-30T11:00:45"))],
        agent_id=rui.id, resolved=paris("2026-10-30T11:20"), campaign=(cid, "a"),
    )  # fmt: skip
    try:
        yield Seeded(space, cid, mia, rui, ada)
    finally:
        for agent in (mia, rui, ada):
            await agent.close()


# -- how the page writes figures (an independent rendering of the same rules) -----------------


def human(seconds: float | None, day: str = "d") -> str:
    """'45 s', '4 min 20 s', '1 h 05 min', '2 d 16 h': rounded half up, as the console does."""
    if seconds is None:
        return "—"
    whole = math.floor(seconds + 0.5)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        m, s = divmod(whole, 60)
        return f"{m} min {s:02d} s" if s else f"{m} min"
    minutes = math.floor(seconds / 60 + 0.5)
    if minutes < 24 * 60:
        h, m = divmod(minutes, 60)
        return f"{h} h {m:02d} min" if m else f"{h} h"
    d, h = divmod(math.floor(seconds / 3600 + 0.5), 24)
    return f"{d} {day} {h:02d} h" if h else f"{d} {day}"


def pct(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{x * 100:.{digits}f} %"


def _text(value: str | None) -> str:
    return " ".join((value or "").replace("\u00a0", " ").split())


# -- the browser ------------------------------------------------------------------------------


async def _page(browser: Browser, problems: list[str], locale: str = "en-US") -> Page:
    context = await browser.new_context(
        viewport={"width": 1440, "height": 900}, locale=locale, accept_downloads=True
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
    fr = (await page.evaluate("document.documentElement.lang")) == "fr"
    await page.get_by_label("E-mail" if fr else "Email").fill(email)
    await page.get_by_label("Mot de passe" if fr else "Password").fill(PASSWORD)
    await page.get_by_role("button", name="Se connecter" if fr else "Sign in").click()
    await expect(page.locator(".sidebar")).to_be_visible()


def _query(page: Page) -> dict[str, str]:
    fragment = urlsplit(page.url).fragment
    assert fragment.startswith("reports/"), page.url
    path, _, query = fragment.partition("?")
    return {"tab": path.split("/")[1], **{k: v[0] for k, v in parse_qs(query).items()}}


async def _shoot(page: Page, path: Path, width: int) -> Path:
    """A PNG of the Reports page (which scrolls inside itself) in full, at this width."""
    await page.set_viewport_size({"width": width, "height": 900})
    height = await page.evaluate(
        "() => { const m = document.getElementById('reports');"
        " return m.scrollHeight + m.getBoundingClientRect().top; }"
    )
    await page.set_viewport_size({"width": width, "height": max(900, int(height) + 8)})
    await page.screenshot(path=path)
    await page.set_viewport_size({"width": 1440, "height": 900})
    return path


async def _no_horizontal_overflow(page: Page) -> None:
    widths = await page.evaluate(
        "() => { const m = document.getElementById('reports');"
        " return [m.scrollWidth, m.clientWidth, document.documentElement.scrollWidth,"
        " window.innerWidth]; }"
    )
    assert widths[0] <= widths[1] + 1 and widths[2] <= widths[3] + 1, widths


async def _downloaded(page: Page, click: Any) -> tuple[str, str]:
    async with page.expect_download() as info:
        await click()
    download = await info.value
    path = await download.path()
    assert path is not None, await download.failure()
    text = await asyncio.to_thread(Path(path).read_text, encoding="utf-8")
    return download.suggested_filename, text


async def _range(page: Page, since: str, until: str) -> None:
    await page.locator("#report-from").fill(since)
    await page.locator("#report-to").fill(until)
    await page.get_by_role("button", name="Show", exact=True).click()
    await expect(page).to_have_url(re.compile(re.escape(f"from={since}&to={until}")))


# -- 1. the figures, a report by week and arm, its CSV, the export ---------------------------


async def test_key_figures_a_report_by_week_and_arm_its_csv_and_the_export(
    server: ServerProcess, browser: Browser, seeded: Seeded
) -> None:
    problems: list[str] = []
    page = await _page(browser, problems)
    await _sign_in(page, server, seeded.mia.email)
    await page.locator(".sidebar").get_by_role("link", name="Reports").click()
    await expect(page.get_by_role("heading", name="Reports", level=1)).to_be_visible()

    # by default the last 7 days in the space's time zone, by day, written into the address
    today = datetime.now(PARIS).date()
    week_ago = (today - timedelta(days=6)).isoformat()
    await expect(page.locator("#report-from")).to_have_value(week_ago)
    await expect(page.locator("#report-to")).to_have_value(today.isoformat())
    assert _query(page) == {
        "tab": "overview", "space": seeded.space, "from": week_ago, "to": today.isoformat(),
        "group": "day",
    }  # fmt: skip
    await expect(page.locator("#report-zone")).to_contain_text("Europe/Paris")

    # the two weeks of the data: the key figures are the server's, written for people
    await _range(page, *RANGE)
    await expect(page.locator(".kpi[data-figure=conversation] strong")).to_have_text("6")
    q = f"space={seeded.space}&from={RANGE[0]}&to={RANGE[1]}"
    total = (await seeded.mia.ok("GET", f"/api/reports/overview?{q}"))["total"]
    assert total["conversations"] == 6 and total["first_response_median_s"] == 260
    tiles = page.locator(".kpi")
    await expect(tiles).to_have_count(6)
    shown = {
        name: _text(await page.locator(f".kpi[data-figure={name}] .kpi-value").inner_text())
        for name in ("conversation", "first_response", "resolution", "missed", "csat_score",
                     "response_rate")
    }  # fmt: skip
    expected = {
        "conversation": f"{total['conversations']} {total['resolved']} resolved",
        "first_response": f"{human(total['first_response_median_s'])} business hours: "
        f"{human(total['first_response_median_s_bh'])}",
        "resolution": f"{human(total['resolution_median_s'])} {total['reopened']} reopened",
        "missed": f"{pct(total['missed_rate'])} {total['missed']} missed",
        "csat_score": pct(total["csat_score"], 0),
        "response_rate": pct(total["csat_response_rate"]),
    }
    assert shown == expected, shown
    # and by hand, from the seeded times
    assert shown["first_response"] == "4 min 20 s business hours: 2 min"
    assert shown["resolution"] == "45 min 1 reopened"
    assert shown["missed"] == "66.7 % 4 missed" and shown["csat_score"] == "67 %"
    assert shown["response_rate"] == "75.0 %"

    # each figure's definition beside it, the whole of it behind its "?" (by the keyboard too)
    first = page.locator(".kpi[data-figure=first_response]")
    await expect(first.locator(".short-def")).to_have_text(
        "From the visitor's first message to the first agent reply; notes and automatic "
        "messages don't count."
    )
    await expect(page.locator(".kpi[data-figure=csat_score] .short-def")).to_have_text(
        "The share of ratings of 4 or 5, out of 5."
    )
    whole = first.locator(".more-def p")
    await expect(whole).to_be_hidden()
    await first.locator("summary").focus()
    await page.keyboard.press("Enter")
    await expect(whole).to_be_visible()
    await expect(whole).to_contain_text(
        "Invitations, automatic (system) messages and private notes neither start nor stop it."
    )
    await expect(first.locator("summary")).to_have_accessible_name(
        "Full definition: First response, median"
    )
    # the overview's chart: a bar a day, zeros included, and a text alternative
    chart = page.locator("svg.report-chart")
    await expect(chart.locator("rect.bar")).to_have_count(14)
    await expect(chart).to_have_attribute("role", "img")
    await expect(chart.locator(":scope > title")).to_have_text("Conversations started, per day")
    await expect(page.locator(".report-terms")).to_contain_text(
        "The missed rate is missed over decided."
    )

    # first response, by week, by campaign and arm: each step is an address
    await page.locator(".report-tabs").get_by_role("link", name="First response").click()
    await expect(page.locator(".report-view h2")).to_have_text("First response")
    await page.locator("#report-group").select_option("week")
    await expect(page).to_have_url(re.compile(re.escape("group=week")))
    await page.locator("#report-by").select_option("arm")
    await expect(page).to_have_url(re.compile(re.escape("group=week&by=arm")))
    report = await seeded.mia.ok("GET", f"/api/reports/first_response?{q}&group=week&by=arm")
    rows = report["rows"]
    assert [(r["period"], r["label"]) for r in rows] == [
        ("2026-10-19", "Delivery nudge / a"),
        ("2026-10-26", None),
        ("2026-10-26", "Delivery nudge / a"),
        ("2026-10-26", "Delivery nudge / b"),
    ]
    table = page.locator("#report-table tbody tr")
    await expect(table).to_have_count(len(rows))
    for i, row in enumerate(rows):
        tr = table.nth(i)
        await expect(tr).to_have_attribute("data-period", row["period"])
        monday = datetime.fromisoformat(row["period"])
        await expect(tr.locator("th.period")).to_have_text(
            f"Week of {monday:%b} {monday.day}, {monday.year}"
        )
        await expect(tr.locator(".key")).to_have_text(row["label"] or "No campaign")
        for col in ("median_s", "p90_s", "mean_s", "median_s_bh"):
            cell = _text(await tr.locator(f"td[data-col={col}]").inner_text())
            assert cell == human(row[col]), (i, col, cell, row[col])
        assert _text(await tr.locator("td[data-col=answered]").inner_text()) == str(row["answered"])
    await expect(table.nth(0).locator("td[data-col=median_s]")).to_have_text(
        "2\u00a0d\u00a016\u00a0h"
    )
    await expect(table.nth(2).locator("td[data-col=p90_s]")).to_have_text(
        "4\u00a0min\u00a035\u00a0s"
    )
    await expect(page.locator("#report-table tfoot td[data-col=median_s]")).to_have_text(
        "4\u00a0min\u00a020\u00a0s"
    )

    # the chart: a bar (median) and a mark (90th percentile) for each row that has them
    answered = [r for r in rows if r["median_s"] is not None]
    await expect(chart.locator("rect.bar")).to_have_count(len(answered))
    await expect(chart.locator("path.mark")).to_have_count(len(answered))
    title = await chart.locator(":scope > title").text_content()
    assert title == (
        "First response time: median (bars) and 90th percentile (marks), per week, "
        "by campaign and arm"
    ), title
    desc = _text(await chart.locator(":scope > desc").text_content())
    assert "Week of Oct 26, 2026, Delivery nudge / b: Median 2 min 40 s, 90th percentile 4 min" in (
        desc
    ), desc
    assert "The table below gives every figure." in desc
    await expect(page.locator(".chart-legend li")).to_have_text(
        ["Delivery nudge / a", "Delivery nudge / b", "No campaign", "90th percentile"]
    )
    # within business hours, the same bars, other heights
    heights = await chart.locator("rect.bar").evaluate_all(
        "(rs) => rs.map((r) => r.getAttribute('height'))"
    )
    await page.get_by_role("button", name="Business hours").click()
    await expect(page.get_by_role("button", name="Business hours")).to_have_attribute(
        "aria-pressed", "true"
    )
    await expect(chart.locator(":scope > title")).to_contain_text("within business hours")
    assert heights != await chart.locator("rect.bar").evaluate_all(
        "(rs) => rs.map((r) => r.getAttribute('height'))"
    )
    shot = await _shoot(page, SHOTS / "causette-reports.png", 1440)  # every bar shows
    await page.get_by_role("button", name="All hours").click()

    # the CSV: the same rows, from the server
    name, text = await _downloaded(page, page.get_by_role("button", name="Download CSV").click)
    assert name == f"first_response-{seeded.space}-{RANGE[0]}-{RANGE[1]}.csv"
    lines = list(csv.DictReader(io.StringIO(text)))
    assert [(r["period"], r["label"], r["answered"]) for r in lines] == [
        (r["period"], r["label"] or "", str(r["answered"])) for r in rows
    ]
    assert [float(r["median_s"]) if r["median_s"] else None for r in lines] == [
        r["median_s"] for r in rows
    ]
    await expect(page.locator(".csv-status")).to_have_text(f"Downloaded {name}")

    await page.set_viewport_size({"width": 360, "height": 800})
    await _no_horizontal_overflow(page)
    narrow = await _shoot(page, SHOTS / "causette-reports-360.png", 360)

    # Back: the breakdown goes, then the week; Forward brings them back
    await page.go_back()
    await expect(page.locator("#report-by")).to_have_value("")
    await expect(page.locator("#report-table tbody tr")).to_have_count(2)  # two weeks
    await expect(page.locator("#report-table .key")).to_have_count(0)
    await page.go_back()
    await expect(page.locator("#report-group")).to_have_value("day")
    await page.go_forward()
    await page.go_forward()
    await expect(page.locator("#report-by")).to_have_value("arm")
    await expect(page.locator("#report-table tbody tr")).to_have_count(len(rows))
    # a link to the view opens it as it is
    other = await _page(browser, problems)
    await _sign_in(other, server, seeded.mia.email, "#" + urlsplit(page.url).fragment)
    await expect(other.locator("#report-table tbody tr")).to_have_count(len(rows))
    await expect(other.locator("#report-group")).to_have_value("week")

    # the export: conversations as CSV, redacted (mask) by default, no raw for marketing
    await page.locator(".report-tabs").get_by_role("link", name="Export").click()
    await expect(page.get_by_role("heading", name="Export", level=2)).to_be_visible()
    await expect(page.locator("#export-raw")).to_have_count(0)
    await expect(page.locator("#export-redact-mask")).to_be_checked()
    link = page.locator("#export-download")
    await expect(link).to_have_text("Download conversations.csv")
    href = await link.get_attribute("href")
    assert href is not None
    params = parse_qs(urlsplit(href).query)
    assert params["redact"] == ["mask"] and params["format"] == ["csv"]
    assert params["since"] == ["2026-10-18T22:00:00Z"]  # Paris midnight, summer time
    assert params["until"] == ["2026-11-01T23:00:00Z"]  # and in winter time
    name, text = await _downloaded(page, link.click)
    assert name == f"conversations-{seeded.space}.csv"
    exported = list(csv.DictReader(io.StringIO(text)))
    assert len(exported) == 6
    assert "@" not in text and EMAIL not in text
    assert [r["csat_comment"] for r in exported if r["csat_comment"]] == [
        "Too slow. Write to me at [email]"
    ]
    print(f"\nscreenshots: {shot} {narrow}")
    assert problems == []


# -- 2. a relation agent: its own conversations ---------------------------------------------


async def test_a_relation_agent_reads_its_own_conversations(
    server: ServerProcess, browser: Browser, seeded: Seeded
) -> None:
    problems: list[str] = []
    page = await _page(browser, problems)
    hash_ = f"#reports/overview?space={seeded.space}&from={RANGE[0]}&to={RANGE[1]}&group=week"
    await _sign_in(page, server, seeded.rui.email, hash_)
    await expect(page.locator(".scope-chip")).to_have_text("Your own conversations")
    await expect(page.locator(".scope-note")).to_contain_text(
        "These figures count your own conversations"
    )
    mine = await seeded.rui.ok(
        "GET", f"/api/reports/overview?space={seeded.space}&from={RANGE[0]}&to={RANGE[1]}"
    )
    assert mine["scope"] == "mine" and mine["total"]["conversations"] == 1
    await expect(page.locator(".kpi[data-figure=conversation] strong")).to_have_text("1")
    await expect(page.locator(".kpi[data-figure=first_response] strong")).to_have_text("45\u00a0s")
    await expect(page.locator(".kpi[data-figure=resolution] strong")).to_have_text("20\u00a0min")
    await expect(page.locator(".kpi[data-figure=csat_score] strong")).to_have_text("—")
    await expect(page.locator("#report-table tbody tr")).to_have_count(1)  # the week of the 26th
    # no export for relation agents; the satisfaction per agent is a tab of the page
    await expect(page.locator(".report-tabs a")).to_have_count(7)
    await expect(page.locator(".report-tabs").get_by_role("link", name="Export")).to_have_count(0)
    await page.locator(".report-tabs").get_by_role("link", name="CSAT per agent").click()
    await expect(page.get_by_role("heading", name="Satisfaction", level=1)).to_be_visible()
    await expect(page.locator("#satisfaction .report-tabs [aria-current=page]")).to_have_text(
        "CSAT per agent"
    )
    # and back to the reports, as they were
    await page.locator("#satisfaction .report-tabs").get_by_role("link", name="Overview").click()
    await expect(page.locator("#report-group")).to_have_value("week")
    await expect(page.locator(".scope-chip")).to_be_visible()
    assert problems == []


# -- 3. an admin, in French: raw text, with its warning ---------------------------------------


async def test_an_admin_in_french_may_export_raw_text_and_is_warned(
    server: ServerProcess, browser: Browser, seeded: Seeded
) -> None:
    problems: list[str] = []
    page = await _page(browser, problems, locale="fr-FR")
    hash_ = f"#reports/export?space={seeded.space}&from={RANGE[0]}&to={RANGE[1]}&group=day"
    await _sign_in(page, server, seeded.ada.email, hash_)
    await expect(page.get_by_role("heading", name="Rapports", level=1)).to_be_visible()
    raw = page.locator("#export-raw")
    await expect(raw).not_to_be_checked()
    await expect(page.locator("#export-raw-warning")).to_contain_text(
        "Le texte brut contient des données personnelles"
    )
    # the messages, hashed: the same token for the same address, never the address
    await page.get_by_label("Table", exact=True).select_option("messages")
    await page.get_by_label("Hacher").check()
    link = page.locator("#export-download")
    await expect(link).to_have_text("Télécharger messages.csv")
    _, text = await _downloaded(page, link.click)
    assert EMAIL not in text and "[email:" in text
    # raw: the redaction is off, the link says raw=true, the text is as typed
    await raw.check()
    await expect(page.get_by_label("Hacher")).to_be_disabled()
    href = await link.get_attribute("href")
    assert href is not None and parse_qs(urlsplit(href).query)["raw"] == ["true"]
    _, text = await _downloaded(page, link.click)
    assert EMAIL in text
    # the figures in French: "4 min 20 s", "2 j 16 h" by week
    await page.locator(".report-tabs").get_by_role("link", name="Première réponse").click()
    await expect(page.locator("#report-table tfoot td[data-col=median_s]")).to_have_text(
        "4\u00a0min\u00a020\u00a0s"
    )
    await page.locator("#report-group").select_option("week")
    await expect(page.locator("#report-table tbody tr").first.locator("th.period")).to_have_text(
        "Semaine du 19 oct. 2026"
    )
    await expect(
        page.locator("#report-table tbody tr").first.locator("td[data-col=median_s]")
    ).to_have_text(human(64 * 3600 + 20 * 60, day="j").replace(" ", "\u00a0"))
    await expect(page.locator(".kpi[data-figure=first_response] .short-def")).to_have_text(
        "Du premier message du visiteur à la première réponse d\u2019un agent ; les notes et les "
        "messages automatiques ne comptent pas."
    )
    await _shoot(page, SHOTS / "causette-reports-fr.png", 1440)
    assert problems == []
