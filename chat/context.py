"""What the lifespan opens and every endpoint uses, as one typed object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from agents.presence import Presence
from chat.db import Database
from chat.hub import Hub
from chat.ratelimit import Limits
from chat.relay import Relay
from chat.settings import Settings
from chat.store import Store
from chat.tokens import TokenSigner

if TYPE_CHECKING:  # agents.services imports endpoints that import this module
    from agents.services import Console

__all__ = ["AppContext"]


@dataclass(slots=True)
class AppContext:
    settings: Settings
    db: Database
    store: Store
    hub: Hub
    relay: Relay
    signer: TokenSigner
    presence: Presence
    console: Console
    limits: Limits
