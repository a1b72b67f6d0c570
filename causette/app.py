"""The composition root: settings in, a Starlette app out, built from the core's routes and
the console's. No module-level state."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.exc import DBAPIError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute

from agents.context import ConsoleContext
from agents.services import console_routes
from chat.broker import broker_from_url
from chat.context import AppContext
from chat.cors import WidgetCorsMiddleware
from chat.db import Database, is_outage
from chat.errors import StoreUnavailable
from chat.http import create_visitor, healthz, metrics, readyz
from chat.hub import Hub
from chat.logging import configure_logging, get_logger
from chat.metrics import Metrics
from chat.middleware import (
    AllowedHostsMiddleware,
    BodyLimitMiddleware,
    ClientErrorsMiddleware,
    RequestContextMiddleware,
    SecurityHeadersMiddleware,
    default_allowed_hosts,
)
from chat.origins import OriginPolicy
from chat.presence import Presence
from chat.ratelimit import LIMITS, Limits, MemoryLimiter, RedisLimiter
from chat.relay import Relay
from chat.responses import error_response
from chat.settings import Settings, load_secret_key
from chat.store import Store
from chat.tokens import TokenSigner
from chat.widget_routes import widget_routes
from chat.ws import agent_socket, visitor_socket

__all__ = ["create_app"]

log = get_logger("causette.app")


def routes() -> list[BaseRoute]:
    return [
        Route("/", home, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/api/visitors", create_visitor, methods=["POST"]),
        *widget_routes(),
        WebSocketRoute("/ws/visitor", visitor_socket),
        WebSocketRoute("/ws/agent", agent_socket),
        *console_routes(),
    ]


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_format)
    secret = load_secret_key(settings)
    # one per app: in a process of `causette serve`, its files in the directory every process
    # of the server shares (chat/metrics.py)
    recorder = Metrics(settings.metrics_dir)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, object]]:
        db = Database(
            settings.database_url,
            query_timeout=settings.database_timeout_seconds,
            metrics=recorder,
        )
        broker = broker_from_url(
            settings.redis_url, prefix=settings.redis_channel_prefix, metrics=recorder
        )
        hub = Hub(broker, metrics=recorder)
        await hub.start()
        presence = Presence(hub)
        await presence.start()
        store = Store(db)
        limits = Limits(
            RedisLimiter(settings.redis_url, prefix=_redis_prefix(settings), secret=secret)
            if settings.redis_url
            else MemoryLimiter(),
            {name: getattr(settings, f"limit_{name}") for name in LIMITS},
            enabled=settings.rate_limits == "on",
        )
        relay = Relay(store, hub, presence, limits, metrics=recorder)
        ctx = AppContext(
            settings=settings,
            db=db,
            store=store,
            hub=hub,
            relay=relay,
            signer=TokenSigner(
                secret,
                visitor_ttl=settings.visitor_token_ttl,
                agent_ttl=settings.agent_token_ttl,
            ),
            presence=presence,
            limits=limits,
            origins=OriginPolicy(
                db, public_url=settings.public_url, console_origins=settings.console_origins
            ),
            metrics=recorder,  # metrics_guard: denies, until the console plugs API keys in
        )
        console = ConsoleContext.build(ctx, secret)
        await console.start()
        log.info(
            "server_started",
            broker="redis" if settings.redis_url else "memory",
            database=db.engine.dialect.name,
        )
        try:
            yield {"ctx": ctx, "console": console}
        finally:
            await console.stop()
            await presence.stop()
            await hub.stop()
            await limits.close()
            await store.close()
            await db.dispose()
            recorder.close()
            log.info("server_stopped")

    return Starlette(
        routes=routes(),
        middleware=[
            Middleware(RequestContextMiddleware, metrics=recorder),
            Middleware(SecurityHeadersMiddleware),
            Middleware(
                AllowedHostsMiddleware,
                hosts=settings.allowed_hosts or default_allowed_hosts(settings.public_url),
            ),
            Middleware(ClientErrorsMiddleware),
            Middleware(WidgetCorsMiddleware),
            Middleware(
                BodyLimitMiddleware,
                max_bytes=settings.max_http_body_bytes,
                timeout=settings.http_body_timeout_seconds,
            ),
        ],
        exception_handlers={
            HTTPException: http_error,
            StoreUnavailable: store_down,
            DBAPIError: store_down,
        },
        lifespan=lifespan,
    )


def _redis_prefix(settings: Settings) -> str:
    from chat.broker.redis import default_prefix
    from chat.broker.resp import RedisAddress

    if settings.redis_channel_prefix is not None:
        return settings.redis_channel_prefix
    return default_prefix(RedisAddress.from_url(settings.redis_url or ""))


async def home(request: Request) -> RedirectResponse:
    """``/`` is the console (whose sign-in page says what to do on a first run)."""
    return RedirectResponse("/console", status_code=302)


async def store_down(request: Request, exc: Exception) -> JSONResponse:
    """The database is away: a JSON 503 that says to retry, not a bare 500. A database
    error that is no outage (a bug: bad data past the edge's checks) is re-raised, and
    answered 500 by ClientErrorsMiddleware."""
    if not isinstance(exc, StoreUnavailable) and not is_outage(exc):
        raise exc
    log.warning("http_store_unavailable", path=request.url.path)
    return error_response(
        503, "store_unavailable", "The database is unavailable.", {"retry-after": "5"}
    )


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    """404, 405 and friends in the same JSON shape as every other error."""
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, exc.detail, exc.headers)
