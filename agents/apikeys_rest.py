"""API keys over REST, for admins: make one (shown once), list them (never the secret), revoke
one. These routes are for the console's session only: no key manages keys.

A key of another space is "not found", like one that does not exist.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints
from starlette.responses import JSONResponse

from agents.apikeys import DEFAULT_DAYS, MAX_DAYS, ApiKeys
from agents.privacy import actor_of
from agents.rest import Body, Call, Op, Param
from agents.scopes import SESSION_ONLY, Scope
from agents.teams import require_admin, space_id_of

__all__ = ["OPS"]


class NewKey(Body):
    space: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=20)]
    expires_days: int = Field(default=DEFAULT_DAYS, ge=1, le=MAX_DAYS)


def _keys(call: Call) -> ApiKeys:
    return call.console.keys


async def create_key(call: Call) -> JSONResponse:
    require_admin(call.me)
    body: NewKey = call.body
    space_id = space_id_of(call.me, body.space)
    key, secret = await _keys(call).create(
        actor_of(call.request, call.me),
        space_id,
        name=body.name,
        scopes=body.scopes,
        expires_days=body.expires_days,
    )
    return JSONResponse(
        {**key.public(), "key": secret},
        status_code=201,
        headers={"cache-control": "no-store"},  # the one time the key is shown
    )


async def list_keys(call: Call) -> dict[str, Any]:
    require_admin(call.me)
    key = call.query("space")
    ids = [space_id_of(call.me, key)] if key else list(call.me.spaces)
    return {"keys": [k.public() for k in await _keys(call).list(ids)]}


async def revoke_key(call: Call) -> dict[str, Any]:
    require_admin(call.me)
    revoked = await _keys(call).revoke(
        actor_of(call.request, call.me), call.path("id"), list(call.me.spaces)
    )
    return revoked.public()


OPS = [
    Op(
        "POST",
        "/api/keys",
        create_key,
        "Make an API key of a space: the key is in this answer only",
        "keys",
        body=NewKey,
        response="NewApiKey",
        status=201,
        errors=(403, 404),
        scopes=SESSION_ONLY,
    ),
    Op(
        "GET",
        "/api/keys",
        list_keys,
        "The API keys of my spaces (never their secret)",
        "keys",
        response="ApiKeyList",
        query=(Param("space", "A space's key (default: all of the admin's)"),),
        errors=(403, 404),
        scopes=SESSION_ONLY,
    ),
    Op(
        "DELETE",
        "/api/keys/{id}",
        revoke_key,
        "Revoke an API key: it stops working at once, on every node",
        "keys",
        response="ApiKey",
        errors=(403, 404),
        scopes=SESSION_ONLY,
    ),
]
