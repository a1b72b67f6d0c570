"""Webhooks over REST, for the admins of a space (and API keys with ``webhooks:manage``):
endpoints, their delivery log, a test event, redelivery.

A URL is checked when it is given (and again at every delivery): it must reach a public
address (agents/webhooks/client.py), else 400 ``url_not_allowed``. A secret is in the answer
that makes it (201) or rotates it, and nowhere else. Another space's webhook is "not found",
like one that does not exist.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, model_validator

from agents.privacy import actor_of
from agents.rest import Body, Call, Op, Param
from agents.scopes import Scope
from agents.teams import space_id_of
from agents.webhooks import Webhooks
from agents.webhooks.endpoints import Endpoint
from chat.clock import parse_iso
from chat.errors import InvalidRequest, NotAllowed
from chat.outbox import EVENT_TYPES, EventType

__all__ = ["OPS", "SCHEMAS"]

MAX_URL = 2048
STATUSES = ("pending", "sending", "waiting", "delivered", "failed")


def _admin(call: Call) -> None:
    if call.me.role != "admin":
        raise NotAllowed("Webhooks are for admins.")


def _hooks(call: Call) -> Webhooks:
    return call.console.webhooks


def _public(call: Call, endpoint: Endpoint, **more: Any) -> dict[str, Any]:
    return {**endpoint.public(call.me.spaces.get(endpoint.space_id)), **more}


def _time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_iso(value)
    except ValueError:
        raise InvalidRequest(f"{name}: an ISO 8601 time (2026-12-01T00:00:00Z)") from None


class NewWebhook(Body):
    space: str = Field(max_length=64)
    url: str = Field(min_length=1, max_length=MAX_URL)
    events: list[EventType] = Field(min_length=1, max_length=20)
    minimal: bool = False


class WebhookChange(Body):
    url: str | None = Field(default=None, min_length=1, max_length=MAX_URL)
    events: list[EventType] | None = Field(default=None, min_length=1, max_length=20)
    minimal: bool | None = None
    enabled: bool | None = None
    rotate_secret: bool = False


class Redeliver(Body):
    """One event by its id, or every event sent to the endpoint in a time range."""

    event_id: str | None = Field(default=None, max_length=40)
    since: str | None = None
    until: str | None = None

    @model_validator(mode="after")
    def one_choice(self) -> Redeliver:
        if (self.event_id is None) == (self.since is None):
            raise ValueError("name either an event_id or a since (and an until)")
        return self


async def create_webhook(call: Call) -> dict[str, Any]:
    _admin(call)
    body: NewWebhook = call.body
    space_id = space_id_of(call.me, body.space)
    await _hooks(call).guard.resolve(body.url)
    made = await _hooks(call).endpoints.create(
        actor_of(call.request, call.me), space_id, body.url, body.events, minimal=body.minimal
    )
    await _hooks(call).changed(space_id)
    return _public(call, made, secret=made.secret)


async def list_webhooks(call: Call) -> dict[str, Any]:
    _admin(call)
    key = call.query("space")
    ids = [space_id_of(call.me, key)] if key else list(call.me.spaces)
    found = await _hooks(call).endpoints.in_spaces(ids)
    return {"webhooks": [_public(call, e) for e in found]}


async def get_webhook(call: Call) -> dict[str, Any]:
    _admin(call)
    return _public(call, await _hooks(call).endpoints.get(call.me.spaces, call.path("id")))


async def update_webhook(call: Call) -> dict[str, Any]:
    _admin(call)
    body: WebhookChange = call.body
    hooks = _hooks(call)
    await hooks.endpoints.get(call.me.spaces, call.path("id"))  # not found before all else
    if body.url is not None:
        await hooks.guard.resolve(body.url)
    changed = await hooks.endpoints.update(
        actor_of(call.request, call.me),
        call.me.spaces,
        call.path("id"),
        url=body.url,
        events=body.events,
        minimal=body.minimal,
        enabled=body.enabled,
        rotate_secret=body.rotate_secret,
    )
    await hooks.changed(changed.space_id)
    return _public(call, changed, **({"secret": changed.secret} if body.rotate_secret else {}))


async def delete_webhook(call: Call) -> None:
    _admin(call)
    gone = await _hooks(call).endpoints.delete(
        actor_of(call.request, call.me), call.me.spaces, call.path("id")
    )
    await _hooks(call).changed(gone.space_id)


async def list_deliveries(call: Call) -> dict[str, Any]:
    _admin(call)
    endpoint = await _hooks(call).endpoints.get(call.me.spaces, call.path("id"))
    status = call.query("status")
    if status is not None and status not in STATUSES:
        raise InvalidRequest(f"status: one of {', '.join(STATUSES)}")
    try:
        limit = min(200, max(1, int(call.query("limit", "50") or 50)))
        before = int(call.query("before") or 0) or None
    except ValueError:
        raise InvalidRequest("limit and before: numbers") from None
    log = await _hooks(call).deliveries.log(endpoint.id, limit=limit, before=before, status=status)
    return {"deliveries": log}


async def test_webhook(call: Call) -> dict[str, Any]:
    _admin(call)
    hooks = _hooks(call)
    endpoint = await hooks.endpoints.get(call.me.spaces, call.path("id"))
    request_id = call.request.scope.get("state", {}).get("request_id")
    now = hooks.worker.clock()  # the worker's time: what it compares due times with
    made = await hooks.deliveries.test(endpoint.id, endpoint.space_id, now, request_id)
    hooks.worker.wake()
    return {"delivery": await hooks.deliveries.one(endpoint.id, made)}


async def redeliver(call: Call) -> dict[str, Any]:
    _admin(call)
    hooks = _hooks(call)
    endpoint = await hooks.endpoints.get(call.me.spaces, call.path("id"))
    body: Redeliver = call.body
    now = hooks.worker.clock()
    if body.event_id is not None:
        await hooks.deliveries.redeliver_event(endpoint.id, endpoint.space_id, body.event_id, now)
        queued = 1
    else:
        since = _time(body.since, "since")
        until = _time(body.until, "until")  # None: up to now
        assert since is not None
        if until is not None and until <= since:
            raise InvalidRequest("until comes after since")
        queued = await hooks.deliveries.redeliver_range(endpoint.id, since, until, now)
    hooks.worker.wake()
    return {"queued": queued}


# the shapes of the answers, for agents/openapi.py's components
_str = {"type": "string"}
_nstr = {"type": ["string", "null"]}
_int = {"type": "integer"}
_nint = {"type": ["integer", "null"]}
_stamp = {"type": "string", "format": "date-time"}
_ntime = {"type": ["string", "null"], "format": "date-time"}


def _obj(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": required or list(props)}


_WEBHOOK = {
    "id": _str,
    "space": _str,
    "url": _str,
    "events": {"type": "array", "items": {"type": "string", "enum": list(EVENT_TYPES)}},
    "minimal": {"type": "boolean", "description": "ids only: no bodies, names, emails"},
    "enabled": {"type": "boolean"},
    "disabled_reason": {**_nstr, "description": "410 Gone when the receiver said so"},
    "previous_secret_until": {**_ntime, "description": "the old secret signs too until then"},
    "created_at": _stamp,
    "created_by": _nstr,
    "updated_at": _stamp,
}
_DELIVERY = _obj(
    {
        "id": _str,
        "event_id": {**_str, "description": "the webhook-id header"},
        "type": _str,
        "event_at": _stamp,
        "origin": {"type": "string", "enum": ["event", "redelivery", "test"]},
        "status": {
            "type": "string",
            "enum": list(STATUSES),
            "description": "waiting: behind an earlier delivery of its conversation",
        },
        "attempts": _int,
        "next_at": {**_ntime, "description": "the next try, while pending"},
        "response_status": {**_nint, "description": "the last try's HTTP status"},
        "latency_ms": _nint,
        "response": {**_nstr, "description": "the first 4 KB of the last answer"},
        "error": {**_nstr, "description": "why the last try got no answer"},
        "created_at": _stamp,
        "updated_at": _stamp,
        "delivered_at": _ntime,
    }
)
SCHEMAS: dict[str, Any] = {
    "Webhook": _obj(_WEBHOOK),
    "WebhookList": _obj({"webhooks": {"type": "array", "items": _obj(_WEBHOOK)}}),
    "NewWebhook": _obj(
        {**_WEBHOOK, "secret": {**_str, "description": "whsec_..., in this answer only"}},
        list(_WEBHOOK),
    ),
    "Delivery": _DELIVERY,
    "DeliveryList": _obj({"deliveries": {"type": "array", "items": _DELIVERY}}),
    "DeliveryQueued": _obj({"delivery": _DELIVERY}),
    "Redelivered": _obj({"queued": {**_int, "description": "events queued again"}}),
}

_ONE = "/api/webhooks/{id}"
_SCOPE: tuple[Scope, ...] = ("webhooks:manage",)

OPS = [
    Op(
        "POST",
        "/api/webhooks",
        create_webhook,
        "Make a webhook: its whsec_ secret is in this answer only",
        "webhooks",
        body=NewWebhook,
        response="NewWebhook",
        status=201,
        errors=(400, 403, 404),
        scopes=_SCOPE,
    ),
    Op(
        "GET",
        "/api/webhooks",
        list_webhooks,
        "The webhooks of my spaces (or of one)",
        "webhooks",
        response="WebhookList",
        query=(Param("space", "a space's key (default: all of the admin's)"),),
        errors=(403, 404),
        scopes=_SCOPE,
    ),
    Op(
        "GET",
        _ONE,
        get_webhook,
        "A webhook",
        "webhooks",
        response="Webhook",
        errors=(403, 404),
        scopes=_SCOPE,
    ),
    Op(
        "PATCH",
        _ONE,
        update_webhook,
        "Change a webhook's URL, events, mode or state, or rotate its secret (the new one "
        "is in this answer only; the old one also signs for 24 hours)",
        "webhooks",
        body=WebhookChange,
        response="NewWebhook",
        errors=(400, 403, 404),
        scopes=_SCOPE,
    ),
    Op(
        "DELETE",
        _ONE,
        delete_webhook,
        "Delete a webhook and its delivery log",
        "webhooks",
        status=204,
        errors=(403, 404),
        scopes=_SCOPE,
    ),
    Op(
        "GET",
        f"{_ONE}/deliveries",
        list_deliveries,
        "The delivery log, newest first: status, tries, latency, the answer's first 4 KB",
        "webhooks",
        response="DeliveryList",
        query=(
            Param(
                "status",
                "only these",
                {"type": "string", "enum": list(STATUSES)},
            ),
            Param("before", "deliveries older than this id", {"type": "integer"}),
            Param("limit", "at most this many (1-200)", {"type": "integer", "default": 50}),
        ),
        errors=(400, 403, 404),
        scopes=_SCOPE,
    ),
    Op(
        "POST",
        f"{_ONE}/test",
        test_webhook,
        "Send a webhook.test event to this webhook (only)",
        "webhooks",
        response="DeliveryQueued",
        status=202,
        errors=(403, 404),
        scopes=_SCOPE,
    ),
    Op(
        "POST",
        f"{_ONE}/redeliver",
        redeliver,
        "Send again one event (event_id), or every event of a time range (since, until)",
        "webhooks",
        body=Redeliver,
        response="Redelivered",
        status=202,
        errors=(400, 403, 404),
        scopes=_SCOPE,
    ),
]
