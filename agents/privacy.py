"""Privacy for the console: the keepers of agents/'s tables, handed to the core's retention
job and erasure, and the actor of an agent's (or an API key's) request for the audit trail."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from agents.annotation import AnnotationKeeper
from agents.apikeys import KeyPrincipal
from agents.campaigns.reviews import ReviewKeeper
from agents.campaigns.tracking import TrackingKeeper
from agents.csat import CsatKeeper
from agents.mail.outbox import OutboxKeeper
from agents.webhooks import DeliveryKeeper, cli_outbox
from chat.audit import Actor
from chat.db import Database
from chat.erasure import Erasure, closer
from chat.holds import Holds
from chat.http import client_address
from chat.hub import Hub
from chat.keeper import Keeper
from chat.metrics import Metrics
from chat.outbox import Outbox
from chat.principals import AgentPrincipal
from chat.retention import Retention, RetentionJob
from chat.settings import Settings

__all__ = ["Privacy", "actor_of", "keepers"]


def keepers() -> list[Keeper]:
    """Every table of agents/ that holds a visitor's data or hangs on a conversation."""
    return [
        AnnotationKeeper(),
        CsatKeeper(),
        TrackingKeeper(),
        ReviewKeeper(),
        OutboxKeeper(),
        DeliveryKeeper(),  # before the core's events outbox: its rows hang on those
    ]


@dataclass(slots=True)
class Privacy:
    retention: Retention
    erasure: Erasure
    holds: Holds
    job: RetentionJob

    @classmethod
    def build(
        cls,
        db: Database,
        hub: Hub | None,
        settings: Settings,
        metrics: Metrics | None = None,
        outbox: Outbox | None = None,
    ) -> Privacy:
        """``outbox``: the server's (its interest kept up to date); the command line's
        reads which events the webhooks want when it first writes one."""
        kept = keepers()
        events = outbox or cli_outbox()
        retention = Retention(
            db,
            kept,
            batch=settings.retention_batch_rows,
            pause=settings.retention_pause_seconds,
            outbox=events,
        )
        erasure = Erasure(db, kept, outbox=events)
        if hub is not None:
            erasure.after.append(closer(hub))
        return cls(
            retention=retention,
            erasure=erasure,
            holds=Holds(db),
            job=RetentionJob(retention, settings.retention_interval_seconds, metrics=metrics),
        )


def actor_of(request: Request, agent: AgentPrincipal | None) -> Actor:
    """The agent behind a request, or the API key it was made with (its name as it is now),
    with its address, browser and request id."""
    return Actor(
        "api_key" if isinstance(agent, KeyPrincipal) else "agent",
        id=agent.id if agent else None,
        name=agent.name if agent else None,
        ip=client_address(request),
        user_agent=request.headers.get("user-agent"),
        request_id=request.scope.get("state", {}).get("request_id"),
    )
