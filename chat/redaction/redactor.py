"""The Redactor: one per export, asked to redact each text, JSON value and URL.

Work is bounded: a text longer than MAX_CHARS is cut (the partial word or number at the cut
goes too) and ends in ``[truncated]``, so that one call costs at most a fixed amount whatever
it is given.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, quote_plus, unquote, unquote_plus, urlsplit, urlunsplit

from chat.errors import InvalidRequest
from chat.redaction.detectors import DETECTORS, Detectors, Hit, resolve
from chat.redaction.patterns import Patterns

__all__ = ["MAX_CHARS", "MAX_DEPTH", "TRUNCATED", "Finding", "Mode", "Redactor"]

Mode = Literal["mask", "hash", "drop"]
MAX_CHARS = 100_000  # characters of one text looked at; the rest is cut off
MAX_DEPTH = 32  # levels of lists and dicts that redact_json goes into
TRUNCATED = "[truncated]"

_SURROGATE = re.compile("[\ud800-\udfff]")
_PATH_SAFE = "!$&'()*+,;=:@-._~"
_FRAGMENT_SAFE = _PATH_SAFE + "/?"
_QUERY_SAFE = "!$'()*,;:@/?-._~"


@dataclass(frozen=True, slots=True)
class Finding:
    detector: str
    start: int
    end: int
    text: str


class Redactor:
    """Finds personal data and replaces it: ``[email]`` (mask), ``[email:3f9a1c2b]`` (hash,
    the same value giving the same token under one key) or nothing (drop)."""

    def __init__(
        self,
        mode: Mode = "mask",
        *,
        key: bytes | None = None,
        extra: Sequence[tuple[str, str]] = (),
        detectors: Collection[str] | None = None,
    ) -> None:
        if mode not in ("mask", "hash", "drop"):
            raise InvalidRequest(f"Redaction mode {mode!r}: mask, hash or drop.")
        if key is not None and (not isinstance(key, bytes) or len(key) < 16):
            raise InvalidRequest("The redaction key is bytes, at least 16 of them.")
        if mode == "hash" and key is None:
            raise InvalidRequest("Hash mode needs a key (one per export).")
        chosen = set(DETECTORS if detectors is None else detectors)
        unknown = sorted(chosen - set(DETECTORS))
        if unknown:
            raise InvalidRequest(f"Unknown detectors {unknown}: {', '.join(DETECTORS)}.")
        self.mode: Mode = mode
        self._key = key if key is not None else secrets.token_bytes(32)  # pseudonyms only
        self._detectors = Detectors(chosen)
        self._patterns = Patterns(extra, rank=len(DETECTORS))
        self._counts: Counter[str] = Counter()

    def find(self, text: str) -> list[Finding]:
        """Findings in the first MAX_CHARS characters, left to right, none overlapping."""
        text = _valid(_cut(text) if len(text) > MAX_CHARS else text)
        return [
            Finding(h.detector, h.start, h.end, text[h.start : h.end]) for h in self._hits(text)
        ]

    def redact(self, text: str) -> str:
        truncated = len(text) > MAX_CHARS
        text = _valid(_cut(text) if truncated else text)
        out: list[str] = []
        pos = 0
        last = ""  # the last character written
        for hit in self._hits(text):
            piece = text[pos : hit.start]
            out.append(piece)
            last = piece[-1:] or last
            pos = hit.end
            self._counts[hit.detector] += 1
            token = self._token(hit)
            out.append(token)
            last = token[-1:] or last
            if not token and text[pos : pos + 1] == " " and (not last or last.isspace()):
                pos += 1  # drop: "call 06 12 34 56 78 now" is "call now", not "call  now"
        out.append(text[pos:])
        result = "".join(out)
        if self.mode == "drop" and pos == len(text) and result[-1:] == " ":
            result = result[:-1]  # "call me at" rather than "call me at "
        return f"{result} {TRUNCATED}" if truncated else result

    def redact_json(self, value: Any) -> Any:
        """Strings anywhere in dicts and lists redacted, keys untouched; a long integer that
        reads as a value (a card, a NIR) becomes its redacted text. Deeper than MAX_DEPTH, a
        list or dict is replaced by ``[truncated]``."""
        return self._json(value, 0)

    def redact_url(self, url: str) -> str:
        """Path segments, query values and the fragment redacted, each decoded first and
        encoded again only when changed; the user name too, and any password dropped."""
        try:
            parts = urlsplit(url)
        except ValueError:  # not a URL: plain text then
            return self.redact(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, host = netloc.rpartition("@")
            user = self._component(userinfo.partition(":")[0], _PATH_SAFE)
            netloc = f"{user}@{host}" if user else host
        path = "/".join(self._component(s, _PATH_SAFE) for s in parts.path.split("/"))
        query = "&".join(self._query_pair(p) for p in parts.query.split("&")) if parts.query else ""
        fragment = self._component(parts.fragment, _FRAGMENT_SAFE)
        return urlunsplit((parts.scheme, netloc, path, query, fragment))

    def pseudonym(self, name: str | None, visitor_id: str) -> str | None:
        """A display name that says nothing: "Visitor 4f2a91c0", the same for one visitor
        under one key (32 bits: even odds of one clash only past some 77,000 visitors). No
        name stays no name; visitor_id, not this, is what to join on."""
        if name is None or not name.strip():
            return None
        return f"Visitor {self._digest('visitor', visitor_id)[:8]}"

    def counts(self) -> dict[str, int]:
        """How many values each detector replaced so far (find() counts nothing)."""
        return dict(self._counts)

    def _hits(self, text: str) -> list[Hit]:
        return resolve(self._detectors.hits(text) + self._patterns.hits(text))

    def _json(self, value: Any, depth: int) -> Any:
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict | list | tuple) and depth >= MAX_DEPTH:
            return TRUNCATED
        if isinstance(value, dict):
            return {k: self._json(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._json(v, depth + 1) for v in value]
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 1_000_000:
            text = str(value)
            redacted = self.redact(text)
            return value if redacted == text else redacted
        return value

    def _token(self, hit: Hit) -> str:
        if self.mode == "drop":
            return ""
        if self.mode == "hash":
            # 48 bits: one clash is an even bet only past some 20 million values of one kind
            return f"[{hit.detector}:{self._digest(hit.detector, hit.normal)[:12]}]"
        if hit.detector == "card":
            return f"[card ••••{hit.normal[-4:]}]"
        return f"[{hit.detector}]"

    def _digest(self, kind: str, value: str) -> str:
        message = f"{kind}\0{value}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def _component(self, raw: str, safe: str) -> str:
        plain = unquote(raw)
        redacted = self.redact(plain)
        return raw if redacted == plain else quote(redacted, safe=safe)

    def _query_pair(self, pair: str) -> str:
        name, equals, raw = pair.partition("=")
        if not equals:
            name, raw = "", pair
        plain = unquote_plus(raw)
        redacted = self.redact(plain)
        if redacted == plain:
            return pair
        return f"{name}{equals}{quote_plus(redacted, safe=_QUERY_SAFE)}"


def _cut(text: str) -> str:
    """The first MAX_CHARS characters, less the partial word or number the cut went through:
    half a card number is still half a card number."""
    head = text[:MAX_CHARS]
    end = len(head)
    floor = max(0, end - 64)
    while end > floor and (head[end - 1].isalnum() or head[end - 1] in "@.+()-_ \t\u00a0"):
        end -= 1
    return head[:end]


def _valid(text: str) -> str:
    """The text with any lone surrogate (no character, and no UTF-8) made U+FFFD: the
    positions stay the same and RE2 can read it."""
    if text.isascii():
        return text
    try:
        text.encode()
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text
