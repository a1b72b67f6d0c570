"""What an API key may do: its scopes, and the markers a REST operation declares them with.

Every signed-in operation of agents/rest.py's table says which scopes let a key call it
(``Op.scopes``): any one of them is enough. ``SESSION_ONLY`` (no scope at all) keeps an
operation to the console's cookie session: sessions and passwords, agents and teams, API
keys themselves, and what only a person decides (taking a conversation, a legal hold, a
retention policy, a blind review). ``ANY_KEY`` lets every key in. An operation that says
nothing is refused to keys, and tests/agents/test_api_keys.py fails until it says.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["ANY_KEY", "SCOPES", "SESSION_ONLY", "Scope", "describe"]

Scope = Literal[
    "conversations:read",
    "messages:write",
    "visitors:erase",
    "exports:read",
    "campaigns:write",
    "webhooks:manage",
    "audit:read",
    "metrics:read",
]
SCOPES: tuple[Scope, ...] = get_args(Scope)

# what each scope opens (docs/integrations.md has the table of routes)
_OPENS: dict[str, str] = {
    "conversations:read": "the inbox, conversations with their transcript, notes and visitor; "
    "teams and canned responses",
    "messages:write": "what is done to a conversation: notes, tags, resolve, reopen, "
    "transfer, unassign",
    "visitors:erase": "erasure of visitors (GDPR art. 17)",
    "exports:read": "the analytics exports, and a visitor's access export (GDPR art. 15)",
    "campaigns:write": "campaigns: create, change, launch, pause, kill, and read them",
    "webhooks:manage": "webhooks: make, change, delete, test and redeliver them, read their "
    "delivery log",
    "audit:read": "the audit trail, legal holds and retention policies, read only",
    "metrics:read": "figures: reports, CSAT, campaigns and their results; /metrics",
}

SESSION_ONLY: tuple[Scope, ...] = ()  # no key reaches it: the console's cookie session only
ANY_KEY: tuple[Scope, ...] = SCOPES  # every key, whatever its scopes


def describe(scope: str) -> str:
    """What a scope opens, in a few words."""
    return _OPENS[scope]
