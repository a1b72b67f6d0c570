"""Privacy over REST, for admins: erasure and access requests, legal holds, each space's
retention (with its dry run), and the audit trail.

Everything here is an admin's, in the admin's own spaces: a visitor, a hold or a space of
another space is "not found", like one that does not exist. The deployment's own audit
entries (a retention run over every space) are shown to an admin of every space only.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import Field
from starlette.responses import Response, StreamingResponse

from agents.privacy import Privacy, actor_of
from agents.rest import Body, Call, Op, Param
from agents.scopes import SESSION_ONLY
from agents.teams import space_id_of
from chat import audit
from chat.clock import parse_iso
from chat.erasure import access_zip
from chat.errors import InvalidRequest, NotAllowed, NotFound
from chat.models import spaces, visitors
from chat.retention import KINDS, check_policy
from chat.spaces import set_retention

__all__ = ["OPS"]


def _admin(call: Call) -> None:
    if call.me.role != "admin":
        raise NotAllowed("Privacy tools are for admins.")


def _privacy(call: Call) -> Privacy:
    return call.console.privacy


def _time(value: str | None, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        return parse_iso(value)
    except ValueError:
        raise InvalidRequest(
            f"{name}: an ISO 8601 time with its zone (2026-12-01T00:00:00Z)"
        ) from None


async def _visitor_space(call: Call, visitor_id: str) -> tuple[str, str]:
    """(space id, key) of a visitor of one of the admin's spaces, else not found."""
    async with call.ctx.db.read() as conn:
        space_id = await conn.scalar(
            sa.select(visitors.c.space_id).where(
                visitors.c.id == visitor_id, visitors.c.space_id.in_(list(call.me.spaces))
            )
        )
    if space_id is None:
        raise NotFound("No such visitor.", code="visitor_not_found")
    return space_id, call.me.spaces[space_id]


# -- erasure and access ---------------------------------------------------------------------


class EraseVisitor(Body):
    reason: str | None = Field(default=None, max_length=2000)


async def erase_visitor(call: Call) -> dict[str, Any]:
    _admin(call)
    _, key = await _visitor_space(call, call.path("id"))
    result = await _privacy(call).erasure.erase(
        actor_of(call.request, call.me), key, visitor_id=call.path("id"), reason=call.body.reason
    )
    return result.public()


class Erasure(Body):
    space: str
    external_id: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, max_length=2000)


async def erase_by_identifier(call: Call) -> dict[str, Any]:
    _admin(call)
    body: Erasure = call.body
    space_id_of(call.me, body.space)
    result = await _privacy(call).erasure.erase(
        actor_of(call.request, call.me),
        body.space,
        external_id=body.external_id,
        email=body.email,
        phone=body.phone,
        reason=body.reason,
    )
    return result.public()


async def export_visitor(call: Call) -> Response:
    _admin(call)
    visitor_id = call.path("id")
    _, key = await _visitor_space(call, visitor_id)
    fmt = call.query("format", "json")
    if fmt not in ("json", "zip"):
        raise InvalidRequest("format: json or zip")
    doc = await _privacy(call).erasure.export(actor_of(call.request, call.me), key, visitor_id)
    name = f"visitor-{visitor_id}"
    if fmt == "zip":
        return Response(
            access_zip(doc),
            media_type="application/zip",
            headers={"content-disposition": f'attachment; filename="{name}.zip"'},
        )
    return Response(
        json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True),
        media_type="application/json",
        headers={"content-disposition": f'attachment; filename="{name}.json"'},
    )


# -- legal holds ----------------------------------------------------------------------------


class NewHold(Body):
    space: str
    scope: Literal["space", "visitor", "conversation", "range"]
    visitor_id: str | None = Field(default=None, max_length=36)
    conversation_id: str | None = Field(default=None, max_length=36)
    since: str | None = None
    until: str | None = None
    reason: str = Field(max_length=2000)


async def list_holds(call: Call) -> dict[str, Any]:
    _admin(call)
    key = call.query("space")
    ids = [space_id_of(call.me, key)] if key else list(call.me.spaces)
    holds = await _privacy(call).holds.list(ids)
    return {"holds": [h.public(call.me.spaces.get(h.space_id)) for h in holds]}


async def place_hold(call: Call) -> dict[str, Any]:
    _admin(call)
    body: NewHold = call.body
    space_id = space_id_of(call.me, body.space)
    if body.scope == "visitor" and not body.visitor_id:
        raise InvalidRequest("visitor_id: required for a visitor hold")
    if body.scope == "conversation" and not body.conversation_id:
        raise InvalidRequest("conversation_id: required for a conversation hold")
    hold = await _privacy(call).holds.place(
        actor_of(call.request, call.me),
        space_id,
        body.scope,
        reason=body.reason,
        visitor_id=body.visitor_id,
        conversation_id=body.conversation_id,
        since=_time(body.since, "since"),
        until=_time(body.until, "until"),
    )
    return hold.public(body.space)


async def release_hold(call: Call) -> dict[str, Any]:
    _admin(call)
    hold = await _privacy(call).holds.release(
        actor_of(call.request, call.me),
        call.path("id"),
        list(call.me.spaces),
        reason=call.query("reason"),
    )
    return hold.public(call.me.spaces.get(hold.space_id))


# -- retention ------------------------------------------------------------------------------


def _proposal(call: Call) -> dict[str, int] | None:
    """A policy to preview from the query (?messages=30&events=forever), else None."""
    given = {k: call.query(k) for k in KINDS if call.query(k) is not None}
    if not given:
        return None
    policy: dict[str, Any] = {}
    for kind, raw in given.items():
        if raw in ("forever", "", None):
            policy[kind] = None
            continue
        try:
            policy[kind] = int(str(raw).removesuffix("d"))
        except ValueError:
            raise InvalidRequest(f"{kind}: a number of days, or forever") from None
    return check_policy(policy)


async def _retention_of(call: Call, key: str, proposal: dict[str, int] | None) -> dict[str, Any]:
    async with call.ctx.db.read() as conn:
        stored = await conn.scalar(sa.select(spaces.c.retention).where(spaces.c.key == key))
    plan = (await _privacy(call).retention.plan(key, policy=proposal))[0]
    current = check_policy(stored) if isinstance(stored, dict) else {}
    return {
        "space": key,
        "policy": {k: current.get(k) for k in KINDS},
        "preview": {k: proposal.get(k) for k in KINDS} if proposal is not None else None,
        "dry_run": plan.public(),
    }


async def get_retention(call: Call) -> dict[str, Any]:
    _admin(call)
    key = call.path("key")
    space_id_of(call.me, key)
    return await _retention_of(call, key, _proposal(call))


class RetentionPolicy(Body):
    messages: int | None = Field(default=None, ge=1, le=36_500)
    profiles: int | None = Field(default=None, ge=1, le=36_500)
    events: int | None = Field(default=None, ge=1, le=36_500)
    audit: int | None = Field(default=None, ge=1, le=36_500)


async def put_retention(call: Call) -> dict[str, Any]:
    _admin(call)
    key = call.path("key")
    space_id_of(call.me, key)
    policy = check_policy(call.body.model_dump())
    await set_retention(call.ctx.db, key, policy, actor=actor_of(call.request, call.me))
    return await _retention_of(call, key, None)


# -- the audit trail ------------------------------------------------------------------------


async def _chains(call: Call) -> list[str | None]:
    key = call.query("space")
    if key:
        return [space_id_of(call.me, key)]
    chains: list[str | None] = list(call.me.spaces)
    async with call.ctx.db.read() as conn:
        every = set((await conn.execute(sa.select(spaces.c.id))).scalars())
    if set(call.me.spaces) >= every and call.me.kind == "agent":
        # the deployment's own entries: for an admin of every space, never an API key
        chains.append(None)
    return chains


async def get_audit(call: Call) -> Any:
    _admin(call)
    chains = await _chains(call)
    filters = audit.Filters(
        action=call.query("action") or None,
        actor=call.query("actor") or None,
        target=call.query("target") or None,
        outcome=call.query("outcome") or None,
        since=_time(call.query("since"), "since"),
        until=_time(call.query("until"), "until"),
    )
    keys = {**call.me.spaces}
    if call.query("format") == "jsonl":

        async def lines() -> AsyncIterator[bytes]:
            async for entry in audit.stream(call.ctx.db, chains, filters.since):
                if _matches(entry, filters):
                    yield (
                        json.dumps(entry.public(keys.get(entry.space_id or "")), ensure_ascii=False)
                        + "\n"
                    ).encode()

        return StreamingResponse(
            lines(),
            media_type="application/x-ndjson",
            headers={"content-disposition": 'attachment; filename="audit.jsonl"'},
        )
    try:
        limit = min(max(int(call.query("limit", "100") or 100), 1), 500)
        raw_before = call.query("before")
        before = int(raw_before) if raw_before else None
    except ValueError:
        raise InvalidRequest("limit and before: integers") from None
    found = await audit.entries(call.ctx.db, chains, filters, before_id=before, limit=limit)
    return {
        "entries": [e.public(keys.get(e.space_id or "")) for e in found],
        "next": found[-1].id if len(found) == limit else None,
    }


def _matches(entry: audit.AuditEntry, f: audit.Filters) -> bool:
    if f.action and not (
        entry.action.startswith(f.action) if f.action.endswith(".") else entry.action == f.action
    ):
        return False
    if f.actor and f.actor not in (entry.actor.id, entry.actor.name):
        return False
    if f.target and entry.target_id != f.target:
        return False
    if f.outcome and entry.outcome != f.outcome:
        return False
    return not (f.until and entry.at >= f.until)


_AUDIT_QUERY = (
    Param("space", "A space's key (default: all of the admin's)"),
    Param("action", "An action (visitor.erase), or a prefix ending in a dot (campaign.)"),
    Param("actor", "An actor's id or name"),
    Param("target", "A target's id"),
    Param("outcome", "ok, denied or failed"),
    Param("since", "From this time, ISO 8601"),
    Param("until", "Up to this time, ISO 8601 (exclusive)"),
    Param("before", "Entries older than this id (the previous page's next)"),
    Param("limit", "At most this many (1 to 500, default 100)"),
    Param("format", "jsonl: every matching entry as JSON lines, oldest first"),
)

OPS = [
    Op(
        "POST",
        "/api/visitors/{id}/erase",
        erase_visitor,
        "Erase a visitor (GDPR art. 17): the counts deleted per table, and what is held",
        "privacy",
        body=EraseVisitor,
        errors=(403, 404),
        scopes=("visitors:erase",),
    ),
    Op(
        "POST",
        "/api/erasures",
        erase_by_identifier,
        "Erase the visitors of a space with this external id, email or phone number",
        "privacy",
        body=Erasure,
        errors=(403, 404),
        scopes=("visitors:erase",),
    ),
    Op(
        "GET",
        "/api/visitors/{id}/export",
        export_visitor,
        "Everything held about a visitor (GDPR art. 15), as JSON or a zip with a manifest",
        "privacy",
        query=(Param("format", "json (default) or zip"),),
        errors=(400, 403, 404),
        scopes=("exports:read",),
    ),
    Op(
        "GET",
        "/api/holds",
        list_holds,
        "Legal holds, active and released",
        "privacy",
        query=(Param("space", "A space's key (default: all of the admin's)"),),
        errors=(403, 404),
        scopes=("audit:read",),
    ),
    Op(
        "POST",
        "/api/holds",
        place_hold,
        "Place a legal hold on a space, a visitor, a conversation or a date range",
        "privacy",
        body=NewHold,
        status=201,
        errors=(403, 404),
        scopes=SESSION_ONLY,
    ),
    Op(
        "DELETE",
        "/api/holds/{id}",
        release_hold,
        "Release a hold: its data returns to the normal retention schedule",
        "privacy",
        query=(Param("reason", "Why it is released (kept in the audit trail)"),),
        errors=(403, 404),
        scopes=SESSION_ONLY,
    ),
    Op(
        "GET",
        "/api/spaces/{key}/retention",
        get_retention,
        "A space's retention policy and its dry run (or that of a proposal in the query)",
        "privacy",
        query=tuple(Param(k, f"Preview {k} kept this many days (or forever)") for k in KINDS),
        errors=(400, 403, 404),
        scopes=("audit:read",),
    ),
    Op(
        "PUT",
        "/api/spaces/{key}/retention",
        put_retention,
        "Set a space's retention policy: days per kind, null for forever",
        "privacy",
        body=RetentionPolicy,
        errors=(403, 404),
        scopes=SESSION_ONLY,
    ),
    Op(
        "GET",
        "/api/audit",
        get_audit,
        "The audit trail, newest first, filtered; or all of it as JSON lines",
        "privacy",
        query=_AUDIT_QUERY,
        errors=(400, 403, 404),
        scopes=("audit:read",),
    ),
]
