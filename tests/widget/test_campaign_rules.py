"""The rule language of campaigns: one corpus of cases (rules_cases.json) run through the
Python evaluator (agents.campaigns.rules) and through the widget's own, extracted from
widget.js and run in Chromium, which must both give the expected answer; what parse_rules
refuses, and why; and the URL matcher's time, linear whatever the pattern."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import async_playwright

from agents.campaigns.rules import Facts, InvalidRule, evaluate, parse_rules, url_matches
from chat.errors import InvalidRequest, http_status
from tests.browser import launch_chromium
from tests.widget.conftest import WIDGET_DIR

CORPUS = json.loads((Path(__file__).parent / "rules_cases.json").read_text())
CASES: list[dict[str, Any]] = CORPUS["rules"]
URLS: list[dict[str, Any]] = CORPUS["urls"]

# what a case does not say: a desktop visitor on a shop's home page, a Monday morning in June
DEFAULT_FACTS: dict[str, Any] = {
    "url": "https://shop.example/",
    "referrer": "",
    "params": {},
    "time_on_page": 0,
    "time_on_site": 0,
    "scroll": 0,
    "exit_intent": False,
    "pages_viewed": 1,
    "returning": False,
    "language": "en-US",
    "device": "desktop",
    "attributes": {},
    "events": {},
    "now": "2026-06-15T08:00:00Z",
    "time_zone": "Europe/Paris",
    "agents_online": True,
}


def facts_of(case: dict[str, Any]) -> dict[str, Any]:
    return {**DEFAULT_FACTS, **case["facts"]}


def python_facts(facts: dict[str, Any]) -> Facts:
    return Facts(**{**facts, "now": datetime.fromisoformat(facts["now"])})


def test_the_corpus_names_each_case_once_and_covers_every_rule() -> None:
    names = [case["name"] for case in CASES]
    assert len(names) == len(set(names))
    used = set()

    def walk(rule: dict[str, Any]) -> None:
        for key, value in rule.items():
            used.add(key)
            if key in ("all", "any"):
                for r in value:
                    walk(r)
            elif key == "not":
                walk(value)

    for case in CASES:
        walk(case["rule"])
    leaves = {"all", "any", "not", "url", "referrer", "param", "time_on_page", "time_on_site"}
    leaves |= {"scroll", "exit_intent", "pages_viewed", "visitor", "language", "device"}
    leaves |= {"attribute", "event", "dates", "hours", "agents_online"}
    operators = {"equals", "not_equals", "in", "contains", "gt", "gte", "lt", "lte", "count"}
    assert leaves | operators <= used
    # each leaf both matching and not
    for leaf in leaves:
        outcomes = {c["expected"] for c in CASES if c["name"].startswith(leaf + ":")}
        assert outcomes == {True, False} or leaf in ("all", "any", "not"), leaf


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_python_evaluates_the_corpus(case: dict[str, Any]) -> None:
    rule = parse_rules(case["rule"])  # every rule of the corpus is valid, and canonical
    assert rule == case["rule"]
    assert evaluate(rule, python_facts(facts_of(case))) is case["expected"]


@pytest.mark.parametrize("case", URLS, ids=[f"{c['pattern']} {c['url']}" for c in URLS])
def test_python_matches_urls(case: dict[str, Any]) -> None:
    assert url_matches(case["pattern"], case["url"]) is case["expected"]


def rules_block() -> str:
    text = (WIDGET_DIR / "widget.js").read_text()
    block = re.search(r"// -- campaign rules: begin\n(.*?)// -- campaign rules: end", text, re.S)
    assert block is not None
    return block.group(1)


# the block alone, in a blank page: it needs nothing of the widget's
RUN_IN_PAGE = """([rules, urls]) => {
%s
  const out = { rules: rules.map((c) => evaluateRule(c.rule, c.facts)),
                urls: urls.map((c) => urlMatches(c.pattern, c.url)) };
  // a hostile pair: 32 stars, a 100 000-character URL the last piece is missing from
  const url = "https://shop.example/" + "a".repeat(100000);
  const started = performance.now();
  out.hostile = urlMatches("https://shop.example/" + "*a".repeat(31) + "*b*", url);
  out.ms = performance.now() - started;
  return out;
}"""


@pytest.mark.browser
@pytest.mark.asyncio
async def test_the_widget_evaluates_the_corpus_alike() -> None:
    cases = [{"rule": c["rule"], "facts": facts_of(c)} for c in CASES]
    async with async_playwright() as p:
        browser = await launch_chromium(p)
        try:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            out = await page.evaluate(RUN_IN_PAGE % rules_block(), [cases, URLS])
        finally:
            await browser.close()
    assert errors == []
    wrong = [
        c["name"] for c, got in zip(CASES, out["rules"], strict=True) if got is not c["expected"]
    ]
    assert wrong == []
    wrong = [
        (c["pattern"], c["url"])
        for c, got in zip(URLS, out["urls"], strict=True)
        if got is not c["expected"]
    ]
    assert wrong == []
    assert out["hostile"] is False and out["ms"] < 250


# -- what parse_rules refuses ---------------------------------------------------------------


def nested(levels: int) -> dict[str, Any]:
    rule: dict[str, Any] = {"scroll": 10}
    for _ in range(levels - 1):
        rule = {"not": rule}
    return rule


HOURS = {"from": "09:00", "to": "18:00"}
REFUSED: list[tuple[str, object, str]] = [
    ("not an object", ["url", "/"], "rules: must be an object with one rule"),
    ("null", None, "rules: must be an object with one rule"),
    ("an empty object", {}, "rules: an empty object is not a rule"),
    ("an unknown rule", {"color": "red"}, "rules.color: unknown rule"),
    ("two rules in one object", {"url": "/a", "scroll": 5}, "rules.scroll: not allowed with url"),
    (
        "an operand of another rule",
        {"url": "/a", "equals": "x"},
        "rules.equals: not an operand of url",
    ),
    (
        "two operators",
        {"param": "a", "equals": "x", "in": ["y"]},
        "rules.in: a rule has one key and one operand at most",
    ),
    ("(valid) an attribute and its operator", {"attribute": "a", "gt": 1}, None),
    ("an operator with no rule", {"gt": 1}, "rules.gt: unknown rule"),
    ("all of an object", {"all": {"url": "/"}}, "rules.all: must be a list"),
    ("not of a list", {"not": [{"url": "/"}]}, "rules.not: must be an object with one rule"),
    (
        "a node in a list",
        {"any": [{"url": "/"}, 3]},
        "rules.any[1]: must be an object with one rule",
    ),
    ("a list too long", {"any": [{"scroll": 1}] * 51}, "rules.any: at most 50 items"),
    ("nine levels", nested(9), "rules" + ".not" * 8 + ": rules nest at most 8 levels deep"),
    (
        "too many nodes",
        {"all": [{"all": [{"scroll": 1}] * 49}] * 5},
        "a rule has at most 200 nodes",
    ),
    (
        "the path of a bad node",
        {"all": [{"scroll": 1}, {"scroll": 2}, {"hours": {"from": "9:00", "to": "18:00"}}]},
        "rules.all[2].hours.from: must be HH:MM",
    ),
    (
        "an hour past 23",
        {"hours": {"from": "09:00", "to": "24:00"}},
        "rules.hours.to: must be HH:MM",
    ),
    ("hours without to", {"hours": {"from": "09:00"}}, "rules.hours.to: is required"),
    ("hours with another key", {"hours": {**HOURS, "tz": "UTC"}}, "rules.hours.tz: unknown key"),
    (
        "hours of an unknown day",
        {"hours": {**HOURS, "days": ["monday"]}},
        "rules.hours.days[0]: must be one of mon",
    ),
    ("hours on a day in capitals", {"hours": {**HOURS, "days": ["Mon"]}}, "rules.hours.days[0]"),
    (
        "hours on a day twice",
        {"hours": {**HOURS, "days": ["mon", "tue", "mon"]}},
        "rules.hours.days[2]: is given twice",
    ),
    ("hours on no day", {"hours": {**HOURS, "days": []}}, "rules.hours.days: must not be empty"),
    ("hours as a string", {"hours": "09:00-18:00"}, "rules.hours: must be an object"),
    (
        "a date in another format",
        {"dates": {"from": "2026-6-1"}},
        "rules.dates.from: must be a date YYYY-MM-DD",
    ),
    (
        "a date in ISO basic format",
        {"dates": {"from": "20260601"}},
        "rules.dates.from: must be a date",
    ),
    (
        "a date that does not exist",
        {"dates": {"to": "2026-02-30"}},
        "rules.dates.to: is not a date",
    ),
    (
        "dates the wrong way",
        {"dates": {"from": "2026-06-02", "to": "2026-06-01"}},
        "rules.dates.to: is before from",
    ),
    ("dates with no bound", {"dates": {}}, "rules.dates: needs from, to or both"),
    ("a pattern that is not a string", {"url": 5}, "rules.url: must be a string"),
    ("a pattern too long", {"url": "/" + "a" * 2048}, "rules.url: must have 0 to 2048 characters"),
    (
        "a pattern with a fragment",
        {"url": "/faq#shipping"},
        "rules.url: the fragment (#) is never matched",
    ),
    (
        "a pattern with thousands of stars",
        {"url": "*" * 2000},
        "rules.url: a pattern has at most 32 *",
    ),
    ("no pattern at all", {"url": []}, "rules.url: must not be empty"),
    ("a list with a number", {"referrer": ["", 3]}, "rules.referrer[1]: must be a string"),
    ("too many patterns", {"url": ["/a"] * 51}, "rules.url: at most 50 items"),
    ("a parameter without a name", {"param": ""}, "rules.param: must have 1 to 500 characters"),
    (
        "a parameter equal to a number",
        {"param": "page", "equals": 2},
        "rules.equals: must be a string",
    ),
    ("a parameter in numbers", {"param": "page", "in": ["1", 2]}, "rules.in[1]: must be a string"),
    (
        "a string too long",
        {"param": "q", "equals": "x" * 501},
        "rules.equals: must have 0 to 500 characters",
    ),
    (
        "negative seconds",
        {"time_on_page": -1},
        "rules.time_on_page: must be an integer from 0 to 86400",
    ),
    ("fractional seconds", {"time_on_site": 1.5}, "rules.time_on_site: must be an integer"),
    ("seconds as a boolean", {"time_on_page": True}, "rules.time_on_page: must be an integer"),
    ("seconds as a string", {"time_on_page": "30"}, "rules.time_on_page: must be an integer"),
    (
        "a day and a second",
        {"time_on_page": 86401},
        "rules.time_on_page: must be an integer from 0 to 86400",
    ),
    ("more than the whole page", {"scroll": 101}, "rules.scroll: must be an integer from 0 to 100"),
    (
        "pages by the million",
        {"pages_viewed": 10**6},
        "rules.pages_viewed: must be an integer from 0 to 10000",
    ),
    ("exit intent false", {"exit_intent": False}, "rules.exit_intent: must be true"),
    (
        "agents online as a word",
        {"agents_online": "yes"},
        "rules.agents_online: must be true or false",
    ),
    (
        "an unknown kind of visitor",
        {"visitor": "old"},
        "rules.visitor: must be one of new, returning",
    ),
    ("a language by name", {"language": "french"}, "rules.language: must be a language tag"),
    (
        "a language with an underscore",
        {"language": ["fr", "fr_BE"]},
        "rules.language[1]: must be a language tag",
    ),
    (
        "an unknown device",
        {"device": "watch"},
        "rules.device: must be one of desktop, tablet, mobile",
    ),
    (
        "an attribute name that is not one",
        {"attribute": "1st"},
        "rules.attribute: must be an attribute name",
    ),
    (
        "a comparison with a string",
        {"attribute": "orders", "gt": "5"},
        "rules.gt: must be a number",
    ),
    (
        "a comparison with a boolean",
        {"attribute": "orders", "lte": False},
        "rules.lte: must be a number",
    ),
    (
        "a comparison with NaN",
        {"attribute": "orders", "lt": float("nan")},
        "rules.lt: must be a number",
    ),
    (
        "equal to a list",
        {"attribute": "plan", "equals": ["gold"]},
        "rules.equals: must be a string, a number or a boolean",
    ),
    (
        "equal to null",
        {"attribute": "plan", "not_equals": None},
        "rules.not_equals: must be a string, a number",
    ),
    ("in an object", {"attribute": "plan", "in": {"gold": 1}}, "rules.in: must be a list"),
    (
        "containing nothing",
        {"attribute": "plan", "contains": ""},
        "rules.contains: must have 1 to 500 characters",
    ),
    ("an event name too long", {"event": "e" * 101}, "rules.event: must have 1 to 100 characters"),
    (
        "a negative count",
        {"event": "Added to cart", "count": -1},
        "rules.count: must be an integer from 0",
    ),
    ("a key far too long", {"x" * 100_000: 1}, "unknown rule"),
]


@pytest.mark.parametrize(
    ("value", "message"), [(v, m) for _, v, m in REFUSED], ids=[n for n, _, _ in REFUSED]
)
def test_parse_rules_refuses_with_the_path_of_the_bad_node(
    value: object, message: str | None
) -> None:
    if message is None:
        assert parse_rules(value) == value
        return
    with pytest.raises(InvalidRule) as refused:
        parse_rules(value)
    assert refused.value.message.startswith(message) or message in refused.value.message, (
        refused.value.message
    )
    assert len(refused.value.message) < 200  # a hostile key is not echoed whole
    assert refused.value.code == "invalid_rule"
    assert isinstance(refused.value, InvalidRequest) and http_status(refused.value) == 400


def test_hostile_rules_are_refused_fast() -> None:
    deep: dict[str, Any] = {"scroll": 1}
    for _ in range(100_000):  # far past the interpreter's recursion limit
        deep = {"not": deep}
    wide: dict[str, Any] = {"all": [{"scroll": 1}] * 1_000_000}
    many_keys = {f"k{i}": i for i in range(100_000)}
    for value in (deep, wide, many_keys, {"all": [deep]}, {"url": ["*" * 2048] * 50}):
        started = time.perf_counter()
        with pytest.raises(InvalidRule):
            parse_rules(value)
        assert time.perf_counter() - started < 0.5


def test_parse_rules_returns_a_copy() -> None:
    rule = {"all": [{"url": ["/teas/*"]}, {"attribute": "plan", "in": ["gold"]}]}
    parsed = parse_rules(rule)
    assert parsed == rule
    parsed["all"][0]["url"].append("/coffee/*")
    assert rule["all"][0]["url"] == ["/teas/*"]


# -- the URL matcher is linear --------------------------------------------------------------


def best_time(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def test_url_matching_takes_linear_time_on_hostile_pairs() -> None:
    base = "https://x.example/"
    cases: list[tuple[str, Callable[[int], str]]] = [
        # many stars, the last piece missing: a backtracking matcher tries every split
        (base + "*a" * 31 + "*b*", lambda n: base + "a" * n),
        # a long piece that almost matches everywhere
        (base + "*" + "a" * 500 + "b*", lambda n: base + "a" * n),
        # pieces that fit, a tail that does not
        ("/*ab*ab*ab*ab*abc", lambda n: base + "ab" * n),
    ]
    for pattern, url in cases:
        small, large = url(25_000), url(200_000)  # eight times as long
        assert url_matches(pattern, small) is False and url_matches(pattern, large) is False
        t_small = best_time(lambda p=pattern, u=small: url_matches(p, u))
        t_large = best_time(lambda p=pattern, u=large: url_matches(p, u))
        assert t_large < 0.05, (pattern[:40], t_large)
        # linear: about 8 times as long; quadratic would be 64
        assert t_large < 24 * max(t_small, 1e-5), (pattern[:40], t_small, t_large)
