"""The reports, computed from conversation facts (agents/reports/facts.py): pure functions,
each figure as docs/reports.md defines it. Durations are seconds, as a median, a 90th
percentile and a mean, over all hours and (``_bh``) within the space's business hours."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from agents.reports.facts import Fact, entry_page
from agents.reports.hours import BusinessHours

__all__ = ["BY", "GROUPS", "REPORTS", "compute", "spread"]

REPORTS = ("overview", "first_response", "resolution", "volume", "csat", "missed")
GROUPS = ("day", "week")
BY = ("agent", "team", "campaign", "arm", "tag", "page")
Group = Literal["day", "week"]


def spread(values: Sequence[float], prefix: str = "", suffix: str = "") -> dict[str, float | None]:
    """median, p90 and mean of durations (p90 interpolated between ranks, as numpy's
    default and Hyndman and Fan's type 7); None for none."""
    if not values:
        return {f"{prefix}{k}_s{suffix}": None for k in ("median", "p90", "mean")}
    ordered = sorted(values)
    p90 = (
        ordered[0]
        if len(ordered) == 1
        else statistics.quantiles(ordered, n=10, method="inclusive")[8]
    )
    return {
        f"{prefix}median_s{suffix}": round(statistics.median(ordered), 3),
        f"{prefix}p90_s{suffix}": round(p90, 3),
        f"{prefix}mean_s{suffix}": round(statistics.fmean(ordered), 3),
    }


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _first_response(facts: Sequence[Fact], hours: BusinessHours) -> dict[str, Any]:
    answered = [f for f in facts if f.first_response_at is not None]
    spans = [(f.created_at, f.first_response_at) for f in answered]
    return {
        "conversations": len(facts),
        "answered": len(answered),
        **spread([(b - a).total_seconds() for a, b in spans if b is not None]),
        **spread([hours.seconds(a, b) for a, b in spans if b is not None], suffix="_bh"),
    }


def _resolution(facts: Sequence[Fact], hours: BusinessHours) -> dict[str, Any]:
    done = [f for f in facts if f.status == "resolved" and f.resolved_at is not None]
    spans = [(f.created_at, f.resolved_at) for f in done]
    return {
        "conversations": len(facts),
        "resolved": len(done),
        "reopened": sum(1 for f in facts if f.reopened),
        "reopens": sum(f.reopened for f in facts),
        **spread([(b - a).total_seconds() for a, b in spans if b is not None]),
        **spread([hours.seconds(a, b) for a, b in spans if b is not None], suffix="_bh"),
    }


def _volume(facts: Sequence[Fact], hours: BusinessHours) -> dict[str, Any]:
    per = [f.messages for f in facts]
    waits = [
        (f.first_assigned_at - f.created_at).total_seconds()
        for f in facts
        if f.first_assigned_at is not None
    ]
    return {
        "conversations": len(facts),
        "messages": sum(per),
        "visitor_messages": sum(f.visitor_messages for f in facts),
        "agent_messages": sum(f.agent_messages for f in facts),
        "messages_per_conversation_mean": round(statistics.fmean(per), 3) if per else None,
        "messages_per_conversation_median": statistics.median(per) if per else None,
        "in_business_hours": sum(1 for f in facts if hours.is_open(f.created_at)),
        **spread([max(0.0, w) for w in waits], prefix="wait_"),
    }


def _csat(facts: Sequence[Fact], hours: BusinessHours) -> dict[str, Any]:
    asked = [f for f in facts if f.status == "resolved" and f.agent_messages > 0]
    scores = [f.csat_score for f in facts if f.csat_score is not None]
    return {
        "asked": len(asked),
        "ratings": len(scores),
        "response_rate": _rate(len(scores), len(asked)),
        "score": _rate(sum(1 for s in scores if s >= 4), len(scores)),
        "mean": round(statistics.fmean(scores), 3) if scores else None,
    }


def _missed_of(missed_after: int, now: datetime) -> Callable[[Fact], bool | None]:
    def missed(f: Fact) -> bool | None:
        """True: no agent answered within the threshold; None: too early to say."""
        limit = f.created_at + timedelta(seconds=missed_after)
        if f.first_response_at is not None:
            return f.first_response_at > limit
        return True if now >= limit else None

    return missed


def compute(
    report: str,
    facts: Sequence[Fact],
    *,
    hours: BusinessHours,
    missed_after: int,
    now: datetime,
    group: Group | None = None,
    by: str | None = None,
    names: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    """``{"total": {...}, "rows": [{"period", "key", ...}]}`` of one report."""
    names = names or {}
    is_missed = _missed_of(missed_after, now)

    def missed(fs: Sequence[Fact]) -> dict[str, Any]:
        flags = [is_missed(f) for f in fs]
        decided = [x for x in flags if x is not None]
        return {
            "conversations": len(fs),
            "missed": sum(decided),
            "missed_rate": _rate(sum(decided), len(decided)),
            "missed_after_s": missed_after,
        }

    def overview(fs: Sequence[Fact]) -> dict[str, Any]:
        fr, res, vol, cs, mi = (
            _first_response(fs, hours),
            _resolution(fs, hours),
            _volume(fs, hours),
            _csat(fs, hours),
            missed(fs),
        )
        return {
            "conversations": len(fs),
            "resolved": res["resolved"],
            "reopened": res["reopened"],
            "missed": mi["missed"],
            "missed_rate": mi["missed_rate"],
            "first_response_median_s": fr["median_s"],
            "first_response_p90_s": fr["p90_s"],
            "first_response_median_s_bh": fr["median_s_bh"],
            "resolution_median_s": res["median_s"],
            "messages_per_conversation_mean": vol["messages_per_conversation_mean"],
            "csat_score": cs["score"],
            "csat_response_rate": cs["response_rate"],
        }

    figures: dict[str, Callable[[Sequence[Fact]], dict[str, Any]]] = {
        "overview": overview,
        "first_response": lambda fs: _first_response(fs, hours),
        "resolution": lambda fs: _resolution(fs, hours),
        "volume": lambda fs: _volume(fs, hours),
        "csat": lambda fs: _csat(fs, hours),
        "missed": missed,
    }
    of = figures[report]
    zone = ZoneInfo(hours.zone)
    buckets: dict[tuple[str | None, str | None], list[Fact]] = {}
    for f in facts:
        period = _period(f.created_at, zone, group) if group else None
        for key in _keys(f, by) if by else [None]:
            buckets.setdefault((period, key), []).append(f)
    rows = []
    for (period, key), fs in sorted(
        buckets.items(), key=lambda kv: (kv[0][0] or "", kv[0][1] or "")
    ):
        row: dict[str, Any] = {"period": period, "key": key}
        if by is not None:
            row["label"] = _label(by, key, names)
        rows.append({**row, **of(fs)})
    return {"total": of(facts), "rows": rows}


def _period(at: datetime, zone: ZoneInfo, group: Group) -> str:
    day = at.astimezone(zone).date()
    if group == "week":
        day = day - timedelta(days=day.weekday())
    return day.isoformat()


def _keys(f: Fact, by: str) -> Iterable[str | None]:
    if by == "agent":
        return [f.assignee_id]
    if by == "team":
        return [f.team_id]
    if by == "campaign":
        return [f.campaign_id]
    if by == "arm":
        return [f"{f.campaign_id}:{f.campaign_arm}" if f.campaign_id else None]
    if by == "tag":
        return list(f.tags) or [None]
    return [entry_page(f.entry_url)]


def _label(by: str, key: str | None, names: Mapping[str, Mapping[str, str]]) -> str | None:
    if key is None:
        return None
    if by == "arm":
        campaign, _, arm = key.partition(":")
        return f"{names.get('campaign', {}).get(campaign, campaign)} / {arm}"
    return names.get(by, {}).get(key, key)


def days(since: date, until: date) -> int:
    return (until - since).days + 1
