"""The targeting rules of a campaign: their JSON model, its validation, and a pure evaluator.

A rule is a JSON object with one key naming what it tests::

    {"all": [R, ...]}  {"any": [R, ...]}  {"not": R}     ({"all": []} is true, {"any": []} false)
    {"url": P}  {"referrer": P}                            P a pattern or a list of them (any)
    {"param": NAME} {"param": NAME, "equals": V} {"param": NAME, "in": [V, ...]}
    {"time_on_page": S} {"time_on_site": S} {"scroll": PCT} {"pages_viewed": N}
    {"exit_intent": true} {"visitor": "new" | "returning"} {"agents_online": true | false}
    {"language": L | [L, ...]} {"device": "desktop" | "tablet" | "mobile" | [...]}
    {"attribute": NAME} with at most one of equals, not_equals, in, contains, gt, gte, lt, lte
    {"event": NAME} {"event": NAME, "count": N}
    {"dates": {"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}}
    {"hours": {"days": ["mon", ...], "from": "HH:MM", "to": "HH:MM"}}

The widget evaluates rules in the browser (the block between ``// -- campaign rules: begin`` and
``// -- campaign rules: end`` in widget/widget.js); :func:`evaluate` is the same semantics in
Python, and tests/widget/rules_cases.json is run through both. The server itself only matches
URLs (:func:`url_matches`, for "URL reached" goals) and validates (:func:`parse_rules`).

URL patterns: ``*`` is any run of characters (``/`` included), the rest is literal, anchored
at both ends. The fragment is never matched. Without a ``?`` in the pattern the URL's query
string is ignored; with one, it is part of what is matched. A pattern that starts with ``/``
is matched against the path (and query) only. The scheme and host (everything before the
first ``/`` after ``://``, or before the first ``/`` of a pattern without ``://``) are
compared case-insensitively. Matching finds the literal pieces left to right, each at its
first place: linear in the lengths, whatever the pattern.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

from chat.errors import InvalidRequest

__all__ = ["Facts", "InvalidRule", "evaluate", "parse_rules", "url_matches"]

MAX_DEPTH = 8
MAX_NODES = 200
MAX_STRING = 500
MAX_PATTERN = 2048
MAX_STARS = 32  # per pattern: nobody needs more, and a matcher never sees thousands
MAX_LIST = 50
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")

_HHMM = re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")
_ATTRIBUTE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
_SECONDS = 86_400
_COUNT = 10_000


class InvalidRule(InvalidRequest):
    """A campaign's rules are not valid: the message names the bad node."""

    code = "invalid_rule"


@dataclass(frozen=True)
class Facts:
    """What the widget knows about the page view when it evaluates the rules."""

    url: str = ""
    referrer: str = ""
    params: Mapping[str, str] = field(default_factory=dict)  # landing page's, then this page's
    time_on_page: float = 0.0  # visible seconds
    time_on_site: float = 0.0  # visible seconds this session
    scroll: float = 0.0  # percent, the most this page view
    exit_intent: bool = False
    pages_viewed: int = 0
    returning: bool = False
    language: str = ""
    device: str = "desktop"
    attributes: Mapping[str, object] = field(default_factory=dict)
    events: Mapping[str, int] = field(default_factory=dict)  # name -> times this session
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    time_zone: str = "UTC"  # the space's, an IANA name
    agents_online: bool | None = None  # None: not known


# -- URL patterns ---------------------------------------------------------------------------


def _glob(pattern: str, text: str) -> bool:
    """``*`` is any run of characters, anchored at both ends; each literal piece is taken at
    its first place, which is right for a pattern of stars only: no backtracking."""
    pieces = pattern.split("*")
    if len(pieces) == 1:
        return pattern == text
    head, tail = pieces[0], pieces[-1]
    end = len(text) - len(tail)
    if end < len(head) or not text.startswith(head) or not text.endswith(tail):
        return False
    at = len(head)
    for piece in pieces[1:-1]:
        if piece:
            found = text.find(piece, at, end)
            if found < 0:
                return False
            at = found + len(piece)
    return True


def _parts(url: str, root: str) -> tuple[str, str, str]:
    """(scheme://host lower-cased, path, "?query" or ""), without the fragment; ``root`` is
    the path of a URL that has none after its host."""
    url = url.split("#", 1)[0]
    q = url.find("?")
    query = "" if q < 0 else url[q:]
    rest = url if q < 0 else url[:q]
    scheme = rest.find("://")
    slash = rest.find("/", 0 if scheme < 0 else scheme + 3)
    origin = rest if slash < 0 else rest[:slash]
    path = rest[slash:] if slash >= 0 else root if scheme >= 0 else ""
    return origin.lower(), path, query


def url_matches(pattern: str, url: str) -> bool:
    """Whether ``url`` matches the wildcard ``pattern`` (see the module's docstring)."""
    origin, path, query = _parts(url, "/")
    relative = pattern.startswith("/")
    target = pattern.split("#", 1)[0] if relative else "".join(_parts(pattern, ""))
    subject = path if relative else origin + path
    return _glob(target, subject + query if "?" in pattern else subject)


# -- validation -----------------------------------------------------------------------------

_OPERANDS: dict[str, tuple[str, ...]] = {
    "all": (),
    "any": (),
    "not": (),
    "url": (),
    "referrer": (),
    "param": ("equals", "in"),
    "time_on_page": (),
    "time_on_site": (),
    "scroll": (),
    "exit_intent": (),
    "pages_viewed": (),
    "visitor": (),
    "language": (),
    "device": (),
    "attribute": ("equals", "not_equals", "in", "contains", "gt", "gte", "lt", "lte"),
    "event": ("count",),
    "dates": (),
    "hours": (),
    "agents_online": (),
}


def _key(key: object) -> str:
    text = str(key)
    return text if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,39}", text) else repr(text[:40])


def _is_number(value: object) -> bool:
    return type(value) in (int, float) and math.isfinite(value)  # type: ignore[arg-type]


class _Checker:
    """One walk over a candidate rule, counting its nodes."""

    def __init__(self) -> None:
        self.nodes = 0

    def fail(self, path: str, message: str) -> InvalidRule:
        return InvalidRule(f"{path}: {message}")

    def node(self, value: object, path: str, depth: int) -> dict[str, Any]:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.fail(path, f"a rule has at most {MAX_NODES} nodes")
        if depth > MAX_DEPTH:
            raise self.fail(path, f"rules nest at most {MAX_DEPTH} levels deep")
        if not isinstance(value, dict):
            raise self.fail(path, "must be an object with one rule")
        if len(value) > 2:
            third = next(islice(value, 2, None))
            raise self.fail(f"{path}.{_key(third)}", "a rule has one key and one operand at most")
        kinds = [k for k in value if k in _OPERANDS]
        if not kinds:
            first = next(iter(value), None)
            if first is None:
                raise self.fail(path, "an empty object is not a rule")
            raise self.fail(f"{path}.{_key(first)}", "unknown rule")
        kind = kinds[0]
        if len(kinds) > 1:
            raise self.fail(f"{path}.{kinds[1]}", f"not allowed with {kind}")
        for k in value:
            if k != kind and k not in _OPERANDS[kind]:
                raise self.fail(f"{path}.{_key(k)}", f"not an operand of {kind}")
        operators = [k for k in value if k != kind]
        at = f"{path}.{kind}"
        operand = value[kind]
        out: dict[str, Any] = {kind: getattr(self, "leaf_" + kind)(operand, at, depth)}
        for op in operators:
            out[op] = self.operand(kind, op, value[op], f"{path}.{op}")
        return out

    # combinators
    def leaf_all(self, value: object, path: str, depth: int) -> list[dict[str, Any]]:
        items = self.items(value, path, empty=True)
        return [self.node(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(items)]

    leaf_any = leaf_all

    def leaf_not(self, value: object, path: str, depth: int) -> dict[str, Any]:
        return self.node(value, path, depth + 1)

    # leaves
    def leaf_url(self, value: object, path: str, depth: int) -> str | list[str]:
        if isinstance(value, list):
            items = self.items(value, path)
            return [self.pattern(item, f"{path}[{i}]") for i, item in enumerate(items)]
        return self.pattern(value, path)

    leaf_referrer = leaf_url

    def leaf_param(self, value: object, path: str, depth: int) -> str:
        return self.string(value, path, minimum=1)

    def leaf_time_on_page(self, value: object, path: str, depth: int) -> int:
        return self.integer(value, path, _SECONDS)

    leaf_time_on_site = leaf_time_on_page

    def leaf_scroll(self, value: object, path: str, depth: int) -> int:
        return self.integer(value, path, 100)

    def leaf_pages_viewed(self, value: object, path: str, depth: int) -> int:
        return self.integer(value, path, _COUNT)

    def leaf_exit_intent(self, value: object, path: str, depth: int) -> bool:
        if value is not True:
            raise self.fail(path, "must be true")
        return True

    def leaf_agents_online(self, value: object, path: str, depth: int) -> bool:
        if not isinstance(value, bool):
            raise self.fail(path, "must be true or false")
        return value

    def leaf_visitor(self, value: object, path: str, depth: int) -> str:
        return self.choice(value, path, ("new", "returning"))

    def leaf_device(self, value: object, path: str, depth: int) -> str | list[str]:
        choices = ("desktop", "tablet", "mobile")
        if isinstance(value, list):
            items = self.items(value, path)
            return [self.choice(item, f"{path}[{i}]", choices) for i, item in enumerate(items)]
        return self.choice(value, path, choices)

    def leaf_language(self, value: object, path: str, depth: int) -> str | list[str]:
        def tag(item: object, at: str) -> str:
            if not isinstance(item, str) or len(item) > 35 or not _LANGUAGE.fullmatch(item):
                raise self.fail(at, "must be a language tag such as fr or fr-BE")
            return item

        if isinstance(value, list):
            return [tag(item, f"{path}[{i}]") for i, item in enumerate(self.items(value, path))]
        return tag(value, path)

    def leaf_attribute(self, value: object, path: str, depth: int) -> str:
        if not isinstance(value, str) or not _ATTRIBUTE.fullmatch(value):
            raise self.fail(path, "must be an attribute name (letters, digits, _ . -, ≤ 64)")
        return value

    def leaf_event(self, value: object, path: str, depth: int) -> str:
        return self.string(value, path, minimum=1, maximum=100)

    def leaf_dates(self, value: object, path: str, depth: int) -> dict[str, str]:
        bounds = self.mapping(value, path, ("from", "to"))
        if not bounds:
            raise self.fail(path, "needs from, to or both")
        for k, day in bounds.items():
            if not isinstance(day, str) or not _DATE.fullmatch(day):
                raise self.fail(f"{path}.{k}", "must be a date YYYY-MM-DD")
            try:
                date.fromisoformat(day)
            except ValueError:
                raise self.fail(f"{path}.{k}", "is not a date") from None
        if "from" in bounds and "to" in bounds and bounds["to"] < bounds["from"]:
            raise self.fail(f"{path}.to", "is before from")
        return {k: bounds[k] for k in ("from", "to") if k in bounds}

    def leaf_hours(self, value: object, path: str, depth: int) -> dict[str, Any]:
        hours = self.mapping(value, path, ("days", "from", "to"))
        out: dict[str, Any] = {}
        if "days" in hours:
            days = self.items(hours["days"], f"{path}.days")
            for i, day in enumerate(days):
                self.choice(day, f"{path}.days[{i}]", DAYS[1:] + DAYS[:1])
                if day in days[:i]:
                    raise self.fail(f"{path}.days[{i}]", "is given twice")
            out["days"] = list(days)
        for k in ("from", "to"):
            if k not in hours:
                raise self.fail(f"{path}.{k}", "is required")
            if not isinstance(hours[k], str) or not _HHMM.fullmatch(hours[k]):
                raise self.fail(f"{path}.{k}", "must be HH:MM")
            out[k] = hours[k]
        return out

    # operands of param, attribute and event
    def operand(self, kind: str, op: str, value: object, path: str) -> object:
        if op == "count":
            return self.integer(value, path, _COUNT)
        if kind == "param":
            if op == "in":
                items = self.items(value, path)
                return [self.string(v, f"{path}[{i}]") for i, v in enumerate(items)]
            return self.string(value, path)
        if op in ("gt", "gte", "lt", "lte"):
            if not _is_number(value):
                raise self.fail(path, "must be a number")
            return value
        if op == "contains":
            return self.string(value, path, minimum=1)
        if op == "in":
            items = self.items(value, path)
            return [self.scalar(v, f"{path}[{i}]") for i, v in enumerate(items)]
        return self.scalar(value, path)

    # shapes
    def items(self, value: object, path: str, empty: bool = False) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(path, "must be a list")
        if len(value) > MAX_LIST:
            raise self.fail(path, f"at most {MAX_LIST} items")
        if not value and not empty:
            raise self.fail(path, "must not be empty")
        return value

    def mapping(self, value: object, path: str, keys: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, "must be an object")
        for k in value:
            if k not in keys:
                raise self.fail(f"{path}.{_key(k)}", "unknown key")
        return value

    def string(self, value: object, path: str, minimum: int = 0, maximum: int = MAX_STRING) -> str:
        if not isinstance(value, str):
            raise self.fail(path, "must be a string")
        if not minimum <= len(value) <= maximum:
            raise self.fail(path, f"must have {minimum} to {maximum} characters")
        return value

    def pattern(self, value: object, path: str) -> str:
        pattern = self.string(value, path, maximum=MAX_PATTERN)
        if "#" in pattern:
            raise self.fail(path, "the fragment (#) is never matched")
        if pattern.count("*") > MAX_STARS:
            raise self.fail(path, f"a pattern has at most {MAX_STARS} *")
        return pattern

    def integer(self, value: object, path: str, maximum: int) -> int:
        if type(value) is not int or not 0 <= value <= maximum:
            raise self.fail(path, f"must be an integer from 0 to {maximum}")
        return value

    def choice(self, value: object, path: str, choices: tuple[str, ...]) -> str:
        if value not in choices or not isinstance(value, str):
            raise self.fail(path, "must be one of " + ", ".join(choices))
        return value

    def scalar(self, value: object, path: str) -> object:
        if isinstance(value, str):
            return self.string(value, path)
        if isinstance(value, bool) or _is_number(value):
            return value
        raise self.fail(path, "must be a string, a number or a boolean")


def parse_rules(value: object) -> dict[str, Any]:
    """Validate a campaign's rules; return their canonical JSON or raise InvalidRule."""
    return _Checker().node(value, "rules", 1)


# -- evaluation -----------------------------------------------------------------------------


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string" if isinstance(value, str) else "other"


def _same(a: object, b: object) -> bool:
    """JavaScript's ===: 1 is not true, 1 is 1.0."""
    return _kind(a) == _kind(b) != "other" and a == b


def _local(facts: Facts) -> datetime:
    try:
        zone = ZoneInfo(facts.time_zone or "UTC")
    except (KeyError, ValueError, OSError):  # not a zone of this tzdata: UTC, as in the widget
        zone = ZoneInfo("UTC")
    now = facts.now if facts.now.tzinfo else facts.now.replace(tzinfo=UTC)
    return now.astimezone(zone)


def _minutes(hhmm: str) -> int:
    return int(hhmm[:2]) * 60 + int(hhmm[3:])


def _hours(v: dict[str, Any], f: Facts) -> bool:
    local = _local(f)
    day, now = local.isoweekday() % 7, local.hour * 60 + local.minute
    start, end = _minutes(v["from"]), _minutes(v["to"])

    def on(d: int) -> bool:
        return "days" not in v or DAYS[d % 7] in v["days"]

    if start < end:
        return on(day) and start <= now < end
    return (on(day) and now >= start) or (on(day - 1) and now < end)


def _dates(v: dict[str, str], f: Facts) -> bool:
    today = _local(f).date().isoformat()
    return v.get("from", today) <= today <= v.get("to", today)


def _language(v: str | list[str], f: Facts) -> bool:
    mine = f.language.lower()
    return any(tag.lower() in (mine, mine.split("-")[0]) for tag in _listed(v))


def _param(v: str, f: Facts, rule: dict[str, Any]) -> bool:
    value = f.params.get(v)
    if value is None:
        return False
    if "equals" in rule:
        return bool(value == rule["equals"])
    return "in" not in rule or value in rule["in"]


def _attribute(v: str, f: Facts, rule: dict[str, Any]) -> bool:
    value = f.attributes.get(v)
    if value is None:
        return False
    if "equals" in rule:
        return _same(value, rule["equals"])
    if "not_equals" in rule:
        return not _same(value, rule["not_equals"])
    if "in" in rule:
        return any(_same(value, x) for x in rule["in"])
    if "contains" in rule:
        return isinstance(value, str) and rule["contains"] in value
    for op, test in _COMPARE.items():
        if op in rule:
            return _kind(value) == "number" and test(value, rule[op])
    return True


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


_TESTS: dict[str, Callable[[Any, Facts, dict[str, Any]], bool]] = {
    "all": lambda v, f, r: all(evaluate(x, f) for x in v),
    "any": lambda v, f, r: any(evaluate(x, f) for x in v),
    "not": lambda v, f, r: not evaluate(v, f),
    "url": lambda v, f, r: any(url_matches(p, f.url) for p in _listed(v)),
    "referrer": lambda v, f, r: any(url_matches(p, f.referrer) for p in _listed(v)),
    "param": lambda v, f, r: _param(v, f, r),
    "time_on_page": lambda v, f, r: f.time_on_page >= v,
    "time_on_site": lambda v, f, r: f.time_on_site >= v,
    "scroll": lambda v, f, r: f.scroll >= v,
    "exit_intent": lambda v, f, r: f.exit_intent is True,
    "pages_viewed": lambda v, f, r: f.pages_viewed >= v,
    "visitor": lambda v, f, r: f.returning is (v == "returning"),
    "language": lambda v, f, r: _language(v, f),
    "device": lambda v, f, r: f.device in _listed(v),
    "attribute": lambda v, f, r: _attribute(v, f, r),
    "event": lambda v, f, r: f.events.get(v, 0) >= r.get("count", 1),
    "dates": lambda v, f, r: _dates(v, f),
    "hours": lambda v, f, r: _hours(v, f),
    "agents_online": lambda v, f, r: f.agents_online is v,
}


def evaluate(rule: dict[str, Any], facts: Facts) -> bool:
    """Whether ``facts`` satisfy a valid ``rule`` (one of :func:`parse_rules`)."""
    for key, value in rule.items():
        test = _TESTS.get(key)
        if test is not None:
            return test(value, facts, rule)
    return False
