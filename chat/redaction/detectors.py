"""The built-in detectors: where each finds its values, and the checksum that decides.

Each yields ``Hit``s: a span, its detector and the value normalized (what a hash token is made
of: an email lower-cased, a phone in E.164, a card's digits, an IBAN or NIR compact). The
digit detectors run only on a text with at least 7 digits: none of their values has fewer.
"""

from __future__ import annotations

import itertools
import re
from bisect import bisect_left
from collections.abc import Callable, Collection, Generator, Iterator, Sequence
from typing import NamedTuple

from phonenumbers import Leniency, PhoneNumberFormat, PhoneNumberMatcher, format_number
from stdnum import iban as stdnum_iban
from stdnum import luhn
from stdnum.fr import nir as stdnum_nir
from stdnum.iso7064 import mod_97_10

__all__ = ["DETECTORS", "Detectors", "Hit", "resolve"]

DETECTORS = ("email", "phone", "card", "iban", "nir")


class Hit(NamedTuple):
    start: int
    end: int
    rank: int  # on overlap the longer wins, then the lower rank (the more specific detector)
    detector: str
    normal: str  # the same value written otherwise gives the same hash token


_RANK = {name: rank for rank, name in enumerate(("iban", "nir", "card", "email", "phone"))}

# ---- email: a local part, "@", at least one dot and a TLD of letters (or punycode) --------
_EMAIL = re.compile(
    r"(?<![\w.+%-])[\w+%-]{1,64}(?:\.[\w+%-]{1,64}){0,16}"
    r"@(?:[^\W_][\w-]{0,62}\.){1,8}(?:[^\W\d_]{2,63}|xn--[a-z0-9-]{1,59})(?![\w-])"
)


def _emails(text: str) -> Iterator[Hit]:
    if "@" not in text:
        return
    for m in _EMAIL.finditer(text):
        yield Hit(m.start(), m.end(), _RANK["email"], "email", m.group().lower())


# ---- phone: the library decides, on each run of digits and phone punctuation --------------
# The matcher is slow (~60 us a number), so it only reads the runs where a number can start:
# with region FR and leniency VALID that is a "+" then 7 digits, or a 0 not right after a digit
# (trunk prefix, or the 00 of an international call) then 9 more: dates, prices, order and
# tracking numbers mostly never get there. It reads the whole run (and a character either
# side), as it would in the whole text, so that "10.0.19045.3803" stays a version string.
_SEP = r"[ \t\u00a0\u202f().\-/]{0,3}"
_PHONE_RUN = re.compile(rf"[+(]{{0,2}}\d(?:{_SEP}\d){{6,}}")
_PHONE_START = re.compile(rf"\+\(?\d(?:{_SEP}\d){{6}}|(?<!\d)0(?:{_SEP}\d){{9}}")
_WINDOW, _STRIDE = 96, 64  # a long run is read in windows that overlap by 32 characters
# (no number with its punctuation is longer): the matcher slows down on a long text


def _phones(text: str) -> Iterator[Hit]:
    for m in _PHONE_RUN.finditer(text):
        start, end = m.span()
        starts = [s.start() for s in _PHONE_START.finditer(text, start, end)]
        if not starts:
            continue
        found = yield from _matches(text, _windows(max(0, start - 1), min(len(text), end + 1)))
        cuts = [a for a in starts if a > start and text[a - 1].isspace()]
        if not found and cuts:
            # "06 12 34 56 78 07 81 23 45 67" or "CMD-12 06 12 34 56 78" read as one number, an
            # invalid one: read again from each space where a number can start (only then:
            # "+39 06 6988 4857" is one number; and not after a "-": "978-0-306-40615-7")
            bounds = [start, *cuts, end]
            pieces = itertools.pairwise(bounds)
            yield from _matches(text, [w for a, b in pieces for w in _windows(max(0, a - 1), b)])


def _windows(lo: int, hi: int) -> list[tuple[int, int]]:
    return [
        (a, min(hi, a + _WINDOW)) for a in range(lo, max(lo + 1, hi - _WINDOW + _STRIDE), _STRIDE)
    ]


def _matches(text: str, windows: list[tuple[int, int]]) -> Generator[Hit, None, bool]:
    found = False
    for lo, hi in windows:
        for pm in PhoneNumberMatcher(text[lo:hi], "FR", leniency=Leniency.VALID):
            found = True
            e164 = format_number(pm.number, PhoneNumberFormat.E164)
            yield Hit(lo + pm.start, lo + pm.end, _RANK["phone"], "phone", e164)
    return found


# ---- card: groups of digits; a card is a layout of consecutive groups that passes Luhn ------
_DIGIT_GROUPS = re.compile(r"(?<!\d)\d(?:[ \-\u00a0]?\d){12,}")  # 13 digits or more
_GROUP = re.compile(r"\d+")
_ISSUERS = frozenset("23456")  # ISO/IEC 7812 major industry: 2 and 5 Mastercard, 4 Visa ...


def _card_layout(sizes: Sequence[int]) -> bool:
    total = sum(sizes)
    if not 13 <= total <= 19:
        return False
    if len(sizes) == 1:
        return True
    if all(n == 4 for n in sizes[:-1]) and 1 <= sizes[-1] <= 4:
        return True  # 4-4-4-4, 4-4-4-1, 4-4-4-4-3 ...
    return list(sizes) in ([4, 6, 5], [4, 6, 4])  # American Express, Diners Club


def _glued(text: str, i: int, beyond: int) -> bool:
    """Whether the character at i, beside a run of digits, makes the run part of a word
    (``ref4242...``) or of a decimal (``0.4242...``); beyond is the index past it."""
    if not 0 <= i < len(text):
        return False
    c = text[i]
    return (
        c.isalpha()
        or c == "_"
        or (c in ".," and 0 <= beyond < len(text) and text[beyond].isdigit())
    )


def _cards(text: str) -> Iterator[Hit]:
    for run in _DIGIT_GROUPS.finditer(text):
        if _glued(text, run.start() - 1, run.start() - 2) or _glued(text, run.end(), run.end() + 1):
            continue  # the digits of an identifier (DE89 3704 ..., SN4242 ...), not a card
        groups = [g.span() for g in _GROUP.finditer(text, run.start(), run.end())]
        i = 0
        while i < len(groups):
            for j in range(min(len(groups), i + 5) - 1, i - 1, -1):
                sizes = [b - a for a, b in groups[i : j + 1]]
                if not _card_layout(sizes) or text[groups[i][0]] not in _ISSUERS:
                    continue
                start, end = groups[i][0], groups[j][1]
                digits = "".join(text[a:b] for a, b in groups[i : j + 1])
                if luhn.is_valid(digits):
                    yield Hit(start, end, _RANK["card"], "card", digits)
                    i = j
                    break
            i += 1


# ---- iban: country, check digits, 11 to 30 more; the longest prefix ending a word that checks -
_IBAN = re.compile(r"(?<!\w)[A-Za-z]{2}\d{2}(?:[ \-]?[A-Za-z0-9]){11,30}")
_IBAN_SEPARATORS = str.maketrans("", "", " -")


def _ibans(text: str) -> Iterator[Hit]:
    pos = 0
    while m := _IBAN.search(text, pos):
        found = m.end()
        raw = m.group()
        ends = [k for k in range(len(raw), 14, -1) if raw[k - 1].isalnum()]
        for k in ends:
            if (k < len(raw) and raw[k] not in " -") or (k == len(raw) and _word_at(text, m.end())):
                continue
            compact = raw[:k].translate(_IBAN_SEPARATORS).upper()
            if 15 <= len(compact) <= 34 and mod_97_10.is_valid(compact[4:] + compact[:4]):
                if stdnum_iban.is_valid(compact):
                    yield Hit(m.start(), m.start() + k, _RANK["iban"], "iban", compact)
                    found = m.start() + k
                    break
        else:
            found = m.start() + 1  # not one: an IBAN may start at a later word of this run
        pos = found


def _word_at(text: str, i: int) -> bool:
    return i < len(text) and (text[i].isalnum() or text[i] == "_")


# ---- nir: sex, year, month, department (2A, 2B), commune, order, key ------------------------
_NIR = re.compile(
    r"(?<!\w)[1-478](?:[ .]?\d\d){2}[ .]?(?:\d\d|2[ABab])[ .]?\d{3}[ .]?\d{3}[ .]?\d\d(?!\w)"
)
_NIR_SEPARATORS = str.maketrans("", "", " .")


def _nirs(text: str) -> Iterator[Hit]:
    for m in _NIR.finditer(text):
        compact = m.group().translate(_NIR_SEPARATORS).upper()
        if stdnum_nir.is_valid(compact):
            yield Hit(m.start(), m.end(), _RANK["nir"], "nir", compact)


_FINDERS: dict[str, Callable[[str], Iterator[Hit]]] = {
    "email": _emails,
    "phone": _phones,
    "card": _cards,
    "iban": _ibans,
    "nir": _nirs,
}
_OF_DIGITS = frozenset({"phone", "card", "iban", "nir"})  # none of them without 7 digits
_SEVEN_DIGITS = re.compile(r"\D*+(?:\d\D*+){7}")  # used with match(): one linear pass


class Detectors:
    """The chosen built-in detectors, run over one text at a time."""

    def __init__(self, names: Collection[str]) -> None:
        self._plain = [_FINDERS[n] for n in DETECTORS if n in names and n not in _OF_DIGITS]
        self._digits = [_FINDERS[n] for n in DETECTORS if n in names and n in _OF_DIGITS]

    def hits(self, text: str) -> list[Hit]:
        hits = [h for finder in self._plain for h in finder(text)]
        if self._digits and _SEVEN_DIGITS.match(text):
            hits.extend(h for finder in self._digits for h in finder(text))
        return hits


def resolve(hits: list[Hit]) -> list[Hit]:
    """Non-overlapping, left to right: the longest first, then the most specific detector."""
    hits.sort(key=lambda h: (h.start - h.end, h.rank, h.start))
    starts: list[int] = []
    kept: list[Hit] = []  # sorted by start, as starts is
    for hit in hits:
        i = bisect_left(starts, hit.start)
        if i > 0 and kept[i - 1].end > hit.start:
            continue
        if i < len(kept) and kept[i].start < hit.end:
            continue
        starts.insert(i, hit.start)
        kept.insert(i, hit)
    return kept
