"""UTC time, and its one text form on the wire and in exports: ISO 8601 with a Z."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["iso", "parse_iso", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes: everything stored is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso(value: datetime) -> str:
    return as_utc(value).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """Parse ISO 8601; a value without an offset is taken as UTC."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    return as_utc(value)
