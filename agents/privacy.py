"""Privacy for the console: the keepers of agents/'s tables, handed to the core's retention
job and erasure, and the actor of an agent's request for the audit trail."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from agents.annotation import AnnotationKeeper
from agents.campaigns.reviews import ReviewKeeper
from agents.campaigns.tracking import TrackingKeeper
from agents.csat import CsatKeeper
from agents.mail.outbox import OutboxKeeper
from chat.audit import Actor
from chat.db import Database
from chat.erasure import Erasure, closer
from chat.holds import Holds
from chat.http import client_address
from chat.hub import Hub
from chat.keeper import Keeper
from chat.principals import AgentPrincipal
from chat.retention import Retention, RetentionJob
from chat.settings import Settings

__all__ = ["Privacy", "actor_of", "keepers"]


def keepers() -> list[Keeper]:
    """Every table of agents/ that holds a visitor's data or hangs on a conversation."""
    return [AnnotationKeeper(), CsatKeeper(), TrackingKeeper(), ReviewKeeper(), OutboxKeeper()]


@dataclass(slots=True)
class Privacy:
    retention: Retention
    erasure: Erasure
    holds: Holds
    job: RetentionJob

    @classmethod
    def build(cls, db: Database, hub: Hub | None, settings: Settings) -> Privacy:
        kept = keepers()
        retention = Retention(
            db,
            kept,
            batch=settings.retention_batch_rows,
            pause=settings.retention_pause_seconds,
        )
        erasure = Erasure(db, kept)
        if hub is not None:
            erasure.after.append(closer(hub))
        return cls(
            retention=retention,
            erasure=erasure,
            holds=Holds(db),
            job=RetentionJob(retention, settings.retention_interval_seconds),
        )


def actor_of(request: Request, agent: AgentPrincipal | None) -> Actor:
    """The agent behind a request, with its address, browser and request id."""
    return Actor(
        "agent",
        id=agent.id if agent else None,
        name=agent.name if agent else None,
        ip=client_address(request),
        user_agent=request.headers.get("user-agent"),
        request_id=request.scope.get("state", {}).get("request_id"),
    )
