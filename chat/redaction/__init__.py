"""Finding and replacing personal data in free text, for exports and reports.

Pure: no I/O, no clock, no server state. A ``Redactor`` is made for one export (its key makes
the hash tokens and pseudonyms of that export, and only of that one) and is then asked to
``redact`` each text, JSON value or URL. docs/redaction.md says what each detector finds, how,
and how well it does on tests/chat/redaction_corpus.jsonl.

Detectors, each a name in the findings and in ``counts()``:

    email   local@domain.tld (unicode letters allowed, a dot-TLD required)
    phone   phonenumbers' PhoneNumberMatcher, leniency VALID, default region FR
    card    13-19 digits in a card layout, issuer digit 2-6, Luhn (stdnum.luhn)
    iban    any country, spaced or not, country format and mod 97 (stdnum.iban)
    nir     French social security number, Corsica 2A/2B, key checked (stdnum.fr.nir)
    <name>  an operator's (name, pattern), compiled with RE2: linear time, no backreferences

    detectors.py   where each built-in detector looks and what decides
    patterns.py    the operator's patterns (RE2) and their limits
    redactor.py    the Redactor: modes, tokens, JSON, URLs, pseudonyms, counts
"""

from chat.redaction.detectors import DETECTORS
from chat.redaction.patterns import MAX_PATTERN_CHARS, MAX_PATTERNS, InvalidPattern, check_patterns
from chat.redaction.redactor import MAX_CHARS, MAX_DEPTH, TRUNCATED, Finding, Mode, Redactor

__all__ = [
    "DETECTORS",
    "MAX_CHARS",
    "MAX_DEPTH",
    "MAX_PATTERNS",
    "MAX_PATTERN_CHARS",
    "TRUNCATED",
    "Finding",
    "InvalidPattern",
    "Mode",
    "Redactor",
    "check_patterns",
]
