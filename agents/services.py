"""The console's routes: its REST operations (one table, also the OpenAPI document), its
pages and its static files."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from starlette.routing import BaseRoute, Route

from agents import (
    api,
    apikeys_rest,
    canned,
    directory,
    exports_rest,
    privacy_rest,
    satisfaction,
    signin,
    teams,
)
from agents.campaigns import rest as campaigns
from agents.openapi import openapi_endpoint
from agents.reports import rest as reports
from agents.rest import Op, routes_of
from agents.web import web_routes
from agents.webhooks import rest as webhooks

__all__ = ["OPS", "console_routes"]

OPS: list[Op] = [
    *signin.OPS,
    *api.OPS,
    *directory.OPS,
    *teams.OPS,
    *canned.OPS,
    *campaigns.OPS,
    *satisfaction.OPS,
    *reports.OPS,
    *exports_rest.OPS,
    *privacy_rest.OPS,
    *apikeys_rest.OPS,
    *webhooks.OPS,
]


def _version() -> str:
    try:
        return version("causette")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0"


def console_routes() -> list[BaseRoute]:
    return [
        Route("/api/openapi.json", openapi_endpoint(OPS, _version()), methods=["GET"]),
        Route("/api/agents/login", signin.agent_login, methods=["POST"]),
        *routes_of(OPS),
        *web_routes(),
    ]
