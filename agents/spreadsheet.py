"""CSV cells that a spreadsheet opens safely: text it would run as a formula (user input such
as a goal's event name, a tag, a page) is quoted; numbers are left as they are."""

from __future__ import annotations

from typing import Any

__all__ = ["safe_cell"]

_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in _FORMULA:
        return "'" + value
    return value
