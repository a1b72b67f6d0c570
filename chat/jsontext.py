"""The one JSON reader for what clients send: HTTP bodies and WebSocket frames alike.

A client's JSON is an object nested at most ``MAX_DEPTH`` levels (deeper input would exhaust
the parser's recursion, and nothing causette accepts is nested beyond a few levels), whose
text is storable everywhere: no NUL (PostgreSQL refuses it in text; SQLite would store it and
match it in every search) and no lone surrogate (UTF-8 cannot encode one, so it would fail in
the database driver or in argon2). Anything else is refused here, at the edge, before any
handler sees it: ``InvalidJSON`` for the shape, ``InvalidText`` for the text.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from chat.errors import InvalidJSON, InvalidText

__all__ = ["MAX_DEPTH", "check_storable", "check_text", "load_object", "parse_object"]

MAX_DEPTH = 32
_TOO_DEEP = f"JSON may not be nested deeper than {MAX_DEPTH} levels."
_NOT_JSON = {"body": "The body is not valid JSON.", "frame": "The frame is not a JSON object."}
_NOT_OBJECT = {"body": "The body is a JSON object.", "frame": "A frame is a JSON object."}


def load_object(text: str | bytes, *, what: Literal["body", "frame"] = "body") -> dict[str, Any]:
    """The JSON object in ``text``, its shape and text checked."""
    value = parse_object(text, what=what)
    check_storable(value)
    return value


def parse_object(text: str | bytes, *, what: Literal["body", "frame"] = "body") -> dict[str, Any]:
    """The JSON object in ``text``, nested at most MAX_DEPTH levels; raises InvalidJSON."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise InvalidJSON(_TOO_DEEP) from None
    except (ValueError, UnicodeDecodeError):
        raise InvalidJSON(_NOT_JSON[what]) from None
    if not isinstance(value, dict):
        raise InvalidJSON(_NOT_OBJECT[what])
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise InvalidJSON(_TOO_DEEP)
            stack.extend(
                (v, depth + 1) for v in (item.values() if isinstance(item, dict) else item)
            )
    return value


def check_storable(value: Any) -> None:
    """Raise InvalidText if any key or string in ``value`` holds a NUL or a lone surrogate."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            check_text(item)
        elif isinstance(item, dict):
            for key, v in item.items():
                check_text(key)
                stack.append(v)
        elif isinstance(item, list):
            stack.extend(item)


def check_text(value: str) -> None:
    """Raise InvalidText unless ``value`` is storable text."""
    if "\x00" in value:
        raise InvalidText()
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidText() from None
