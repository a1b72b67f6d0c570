"""What the lifespan opens and every endpoint uses, as one typed object."""

from __future__ import annotations

from dataclasses import dataclass

from agents.presence import Presence
from chat.db import Database
from chat.hub import Hub
from chat.relay import Relay
from chat.settings import Settings
from chat.store import Store
from chat.tokens import TokenSigner

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
