"""A space's business hours: weekly opening intervals in its time zone, and holidays (whole
dates, closed). Pure: how many business seconds lie between two instants, whether an instant
is within them. Daylight-saving changes are the time zone's business: 09:00 is 09:00 local on
both sides of a change, and a day that lasts 23 or 25 hours is counted as it is.

Written as ``{"mon": [["09:00", "18:00"]], "tue": [...], ...}`` (days left out are closed); the
command line takes ``mon-fri 09:00-18:00, sat 10:00-13:00``. No business hours at all means
every hour counts (the ``_bh`` figures then equal the others).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from chat.errors import UsageError

__all__ = ["DAYS", "BusinessHours", "parse_holidays", "parse_hours"]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
_SPEC = re.compile(r"^\s*([a-z]{3})(?:\s*-\s*([a-z]{3}))?\s+(\d\d:\d\d)\s*-\s*(\d\d:\d\d)\s*$")


def _minutes(text: str) -> int:
    if not _HHMM.match(text):
        raise UsageError(f"{text!r} is not a time of day (HH:MM, 00:00 to 24:00).")
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


@dataclass(frozen=True, slots=True)
class BusinessHours:
    zone: str = "UTC"
    weekly: Mapping[int, Sequence[tuple[int, int]]] = field(default_factory=dict)  # minutes
    holidays: frozenset[date] = frozenset()

    @classmethod
    def of(
        cls,
        zone: str,
        hours: Mapping[str, Sequence[Sequence[str]]] | None,
        holidays: Iterable[str] | None,
    ) -> BusinessHours:
        weekly: dict[int, list[tuple[int, int]]] = {}
        for day, spans in (hours or {}).items():
            if day not in DAYS:
                raise UsageError(f"{day!r} is not a day: {', '.join(DAYS)}.")
            for start, end in spans:
                a, b = _minutes(start), _minutes(end)
                if b <= a:
                    raise UsageError(f"{day} {start}-{end}: the end comes after the start.")
                weekly.setdefault(DAYS.index(day), []).append((a, b))
        for intervals in weekly.values():
            intervals.sort()
            for (_, closes), (opens, _) in itertools.pairwise(intervals):
                if opens < closes:
                    raise UsageError("Business hours of one day may not overlap.")
        return cls(zone, weekly, frozenset(date.fromisoformat(d) for d in holidays or ()))

    @property
    def always(self) -> bool:
        return not self.weekly

    def _open_spans(self, day: date, tz: ZoneInfo) -> list[tuple[datetime, datetime]]:
        if day in self.holidays:
            return []
        out = []
        for a, b in self.weekly.get(day.weekday(), ()):
            start = datetime.combine(day, time(a // 60, a % 60), tzinfo=tz)
            end = (
                datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
                if b == 24 * 60
                else datetime.combine(day, time(b // 60, b % 60), tzinfo=tz)
            )
            out.append((start.astimezone(UTC), end.astimezone(UTC)))  # real, not wall, time
        return out

    def seconds(self, start: datetime, end: datetime) -> float:
        """Business seconds in [start, end) (aware datetimes); 0 when end <= start."""
        start, end = start.astimezone(UTC), end.astimezone(UTC)  # a difference of instants
        if end <= start:
            return 0.0
        if self.always:
            return (end - start).total_seconds()
        tz = ZoneInfo(self.zone)
        total = 0.0
        day = start.astimezone(tz).date()
        last = end.astimezone(tz).date()
        while day <= last:
            for a, b in self._open_spans(day, tz):
                lo, hi = max(a, start), min(b, end)
                if hi > lo:
                    total += (hi - lo).total_seconds()
            day += timedelta(days=1)
        return total

    def is_open(self, instant: datetime) -> bool:
        if self.always:
            return True
        tz = ZoneInfo(self.zone)
        local = instant.astimezone(tz)
        return any(a <= instant < b for a, b in self._open_spans(local.date(), tz))


def parse_hours(text: str) -> dict[str, list[list[str]]]:
    """``mon-fri 09:00-18:00, sat 10:00-13:00`` as stored; ``""`` or ``always``: none."""
    if text.strip().lower() in ("", "always", "none"):
        return {}
    out: dict[str, list[list[str]]] = {}
    for part in text.lower().split(","):
        m = _SPEC.match(part)
        if m is None:
            raise UsageError(
                f"{part.strip()!r}: business hours are like 'mon-fri 09:00-18:00, sat 10:00-13:00'."
            )
        first, last, start, end = m.groups()
        if first not in DAYS or (last is not None and last not in DAYS):
            raise UsageError(f"{part.strip()!r}: days are {', '.join(DAYS)}.")
        a, b = DAYS.index(first), DAYS.index(last or first)
        if b < a:
            raise UsageError(f"{part.strip()!r}: the days run from the first to the last.")
        for day in DAYS[a : b + 1]:
            out.setdefault(day, []).append([start, end])
    BusinessHours.of("UTC", out, None)  # checks the times and overlaps
    return out


def parse_holidays(values: Iterable[str]) -> list[str]:
    out = []
    for value in values:
        try:
            out.append(date.fromisoformat(value.strip()).isoformat())
        except ValueError:
            raise UsageError(f"{value!r} is not a date (YYYY-MM-DD).") from None
    return sorted(set(out))
