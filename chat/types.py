"""Base types shared by every layer. Imports nothing from the rest of causette."""

from __future__ import annotations

from enum import IntEnum
from typing import Literal

__all__ = [
    "ROLES",
    "AuthorKind",
    "CloseCode",
    "ConversationStatus",
    "Role",
]

AuthorKind = Literal["visitor", "agent", "system"]
Role = Literal["admin", "marketing", "relation"]
ConversationStatus = Literal["open", "resolved"]

ROLES: tuple[Role, ...] = ("admin", "marketing", "relation")


class CloseCode(IntEnum):
    """WebSocket close codes the server uses, each with one meaning."""

    NORMAL = 1000
    GOING_AWAY = 1001
    NO_STATUS = 1005  # only ever received: the client closed without a code (logged as such)
    POLICY_VIOLATION = 1008  # missing, bad or expired token; forbidden origin
    TOO_BIG = 1009  # a frame over the hard size limit
    INTERNAL_ERROR = 1011
    TRY_AGAIN_LATER = 1013  # fell too far behind: reconnect and resume
    SIGNED_OUT = 4001  # the agent signed out or changed its password
    ERASED = 4002  # the visitor's data was erased on request: its token is refused
