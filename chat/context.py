"""What the lifespan opens and every endpoint of the core uses, as one typed object."""

from __future__ import annotations

from dataclasses import dataclass

from chat.db import Database
from chat.hub import Hub
from chat.metrics import Metrics, MetricsGuard, deny_metrics
from chat.origins import OriginPolicy
from chat.presence import Presence
from chat.ratelimit import Limits
from chat.relay import Relay
from chat.settings import Settings
from chat.store import Store
from chat.tokens import TokenSigner

__all__ = ["AppContext"]


@dataclass(slots=True)
class AppContext:
    """``metrics_guard`` decides who reads ``/metrics`` on the main port (chat/metrics.py
    ``MetricsGuard``): nobody by default; the console plugs its check of an API key's
    ``metrics:read`` scope in (agents/context.py). ``CAUSETTE_METRICS_ADDRESS`` serves them
    unguarded, on an address of their own."""

    settings: Settings
    db: Database
    store: Store
    hub: Hub
    relay: Relay
    signer: TokenSigner
    presence: Presence
    limits: Limits
    origins: OriginPolicy
    metrics: Metrics
    metrics_guard: MetricsGuard = deny_metrics
