"""A space's own patterns, compiled with RE2 so that none can take the server down.

RE2 runs in time linear in the text whatever the pattern (no backtracking, hence no
backreferences and no lookaround); each pattern is at most MAX_PATTERN_CHARS long, a space has
at most MAX_PATTERNS, and each compiled program is held to 2 MiB. One RE2 set tells which
patterns match at all, so a text that matches none costs one pass.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import re2

from chat.errors import InvalidRequest
from chat.redaction.detectors import DETECTORS, Hit

__all__ = ["MAX_PATTERNS", "MAX_PATTERN_CHARS", "InvalidPattern", "Patterns", "check_patterns"]

MAX_PATTERNS = 20
MAX_PATTERN_CHARS = 500
_MAX_MEM = 2 << 20
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")


class InvalidPattern(InvalidRequest):
    """An extra pattern is refused: RE2 cannot compile it, or it is too long, or too many."""

    code = "invalid_pattern"


def check_patterns(extra: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The (name, pattern) pairs as given, once each is known to compile with RE2 and fit."""
    return [(name, compiled.pattern) for name, compiled in _compiled(extra)]


class Patterns:
    """An operator's (name, pattern) pairs, each a detector of that name."""

    def __init__(self, extra: Sequence[tuple[str, str]], *, rank: int) -> None:
        self._patterns = _compiled(extra)
        self._rank = rank  # below every built-in detector's: on a tie the built-in one wins
        self._set: Any = None
        if self._patterns:
            try:
                self._set = re2.Set.SearchSet(_options())
                for _, compiled in self._patterns:
                    self._set.Add(compiled.pattern)
                self._set.Compile()
            except re2.error:
                raise InvalidPattern("The patterns together are too large for RE2.") from None

    def hits(self, text: str) -> list[Hit]:
        if self._set is None or not (matched := self._set.Match(text)):
            return []
        hits = []
        for index in matched:
            name, compiled = self._patterns[index]
            for m in compiled.finditer(text):
                if m.end() > m.start():
                    hits.append(Hit(m.start(), m.end(), self._rank + index, name, m.group()))
        return hits


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # a refused pattern is an InvalidPattern, not a line on stderr
    options.max_mem = _MAX_MEM  # a bigger program is refused at compile time
    return options


def _compiled(extra: Sequence[tuple[str, str]]) -> list[tuple[str, Any]]:
    pairs = list(extra)
    if len(pairs) > MAX_PATTERNS:
        raise InvalidPattern(f"At most {MAX_PATTERNS} patterns, not {len(pairs)}.")
    seen: set[str] = set()
    for name, pattern in pairs:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise InvalidPattern(
                f"Pattern name {name!r}: a letter then up to 31 letters, digits, _ or -."
            )
        if name in DETECTORS or name in seen:
            raise InvalidPattern(f"Pattern name {name!r} is already taken.")
        seen.add(name)
        if not isinstance(pattern, str) or not pattern:
            raise InvalidPattern(f"Pattern {name!r} is empty.")
        if len(pattern) > MAX_PATTERN_CHARS:
            raise InvalidPattern(
                f"Pattern {name!r} is {len(pattern)} characters long: at most {MAX_PATTERN_CHARS}."
            )
    return [(name, _compile(name, pattern)) for name, pattern in pairs]


def _compile(name: str, pattern: str) -> Any:
    try:
        compiled = re2.compile(pattern, _options())
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "not RE2 syntax"
        if isinstance(reason, bytes):
            reason = reason.decode(errors="replace")
        raise InvalidPattern(
            f"Pattern {name!r} is refused: {reason} (RE2 syntax: no backreferences, no lookaround)."
        ) from None
    if compiled.fullmatch("") is not None:
        raise InvalidPattern(f"Pattern {name!r} matches the empty text: it would match anywhere.")
    return compiled
