"""Business hours: parsing what the command line takes, and business seconds across nights,
weekends, holidays and both daylight-saving changes (counted by hand)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from agents.reports.hours import BusinessHours, parse_holidays, parse_hours
from chat.errors import UsageError

PARIS = ZoneInfo("Europe/Paris")
WEEK = parse_hours("mon-fri 09:00-18:00, sat 10:00-13:00")
HOURS = BusinessHours.of("Europe/Paris", WEEK, ["2026-12-25"])


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=PARIS)


def test_parse_hours() -> None:
    assert WEEK["mon"] == [["09:00", "18:00"]] and WEEK["sat"] == [["10:00", "13:00"]]
    assert "sun" not in WEEK
    assert parse_hours("always") == {}
    assert parse_hours("tue 08:00-12:00, tue 14:00-18:00")["tue"] == [
        ["08:00", "12:00"],
        ["14:00", "18:00"],
    ]
    for bad in ("mon-fri 9-18", "fri-mon 09:00-18:00", "mon 18:00-09:00", "xyz 09:00-10:00",
                "mon 09:00-12:00, mon 11:00-13:00", "mon 09:00-25:00"):  # fmt: skip
        with pytest.raises(UsageError):
            parse_hours(bad)
    assert parse_holidays(["2026-12-25", "2026-01-01", "2026-12-25"]) == [
        "2026-01-01",
        "2026-12-25",
    ]
    with pytest.raises(UsageError):
        parse_holidays(["25/12/2026"])


@pytest.mark.parametrize(
    ("start", "end", "seconds"),
    [
        ("2026-10-21T10:00", "2026-10-21T10:05", 300),  # within a Wednesday
        ("2026-10-21T17:55", "2026-10-22T09:05", 600),  # over a night
        ("2026-10-23T17:50", "2026-10-26T09:10", 600 + 3 * 3600 + 600),  # Fri, Sat 10-13, Mon
        ("2026-10-24T17:50", "2026-10-26T09:10", 600),  # from Saturday evening (DST ends 25th)
        ("2026-03-27T17:00", "2026-03-30T10:00", 3600 + 3 * 3600 + 3600),  # DST starts 29 March
        ("2026-12-24T17:00", "2026-12-28T09:30", 3600 + 3 * 3600 + 1800),  # the 25th is closed
        ("2026-10-25T12:00", "2026-10-25T15:00", 0),  # a Sunday
        ("2026-10-21T10:05", "2026-10-21T10:00", 0),  # backwards
    ],
)
def test_business_seconds(start: str, end: str, seconds: int) -> None:
    assert HOURS.seconds(at(start), at(end)) == seconds


def test_without_business_hours_every_second_counts() -> None:
    always = BusinessHours.of("Europe/Paris", None, None)
    start, end = at("2026-10-24T17:50"), at("2026-10-26T09:10")
    assert (
        always.seconds(start, end) == (end.astimezone(UTC) - start.astimezone(UTC)).total_seconds()
    )
    assert always.is_open(start)
    assert HOURS.is_open(at("2026-10-23T17:59")) and not HOURS.is_open(at("2026-10-23T18:00"))
    assert not HOURS.is_open(at("2026-12-25T10:00"))
