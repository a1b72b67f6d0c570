"""What the console adds to the server: its sessions, its router, its routes."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from starlette.routing import BaseRoute, Route

from agents import api, canned, directory, signin, teams
from agents.openapi import openapi_endpoint
from agents.presence import Presence
from agents.rest import Op, routes_of
from agents.routing import Router
from agents.session import Sessions
from agents.web import web_routes
from chat.db import Database
from chat.hub import Hub
from chat.relay import Relay
from chat.settings import Settings
from chat.store import Store

__all__ = ["OPS", "Console", "console_routes"]

OPS: list[Op] = [*signin.OPS, *api.OPS, *directory.OPS, *teams.OPS, *canned.OPS]


@dataclass(slots=True)
class Console:
    sessions: Sessions
    router: Router

    @classmethod
    def build(
        cls,
        settings: Settings,
        secret: str,
        *,
        db: Database,
        store: Store,
        hub: Hub,
        relay: Relay,
        presence: Presence,
    ) -> Console:
        router = Router(db, store, relay, presence, grace=settings.agent_offline_grace_seconds)
        relay.listeners.append(router)
        return cls(sessions=Sessions(secret, ttl=settings.session_ttl), router=router)

    async def start(self) -> None:
        await self.router.start()

    async def stop(self) -> None:
        await self.router.stop()


def _version() -> str:
    try:
        return version("causette")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0"


def console_routes() -> list[BaseRoute]:
    return [
        Route("/api/openapi.json", openapi_endpoint(OPS, _version()), methods=["GET"]),
        *routes_of(OPS, lambda ctx: ctx.console.sessions),  # type: ignore[attr-defined]
        *web_routes(),
    ]
