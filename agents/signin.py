"""Signing in and out of the console, and changing one's own password."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from pydantic import StringConstraints
from starlette.responses import JSONResponse, Response

from agents.inbox import Inbox, views_for
from agents.passwords import MIN_PASSWORD_CHARS, check_new_password, hash_password
from agents.rest import Body, Call, Op
from agents.session import (
    ApiError,
    SessionClaims,
    Sessions,
    bump_token_version,
    close_agent_sockets,
    console_origins,
)
from chat.errors import BadCredentials, UsageError
from chat.http import client_address, sign_in_attempt
from chat.logging import get_logger
from chat.origins import origin_matches, request_origin
from chat.principals import AgentPrincipal
from chat.types import CloseCode

__all__ = ["OPS"]

log = get_logger("causette.console")


class SignIn(Body):
    email: Annotated[str, StringConstraints(min_length=1, max_length=320)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class PasswordChange(Body):
    current_password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    new_password: Annotated[str, StringConstraints(min_length=MIN_PASSWORD_CHARS, max_length=1024)]


def _sessions(call: Call) -> Sessions:
    return call.ctx.console.sessions  # type: ignore[no-any-return]


async def _payload(call: Call, agent: AgentPrincipal, claims: SessionClaims) -> dict[str, Any]:
    ctx = call.ctx
    return {
        "agent": {"id": agent.id, "name": agent.name, "email": agent.email, "role": agent.role},
        "spaces": [{"id": sid, "key": key} for sid, key in sorted(agent.spaces.items())],
        "teams": await Inbox(ctx.db).my_teams(agent),
        "views": list(views_for(agent)),
        "csrf_token": _sessions(call).csrf_token(claims),
        "ws_token": ctx.signer.agent_token(agent.id, agent.token_version),
        "max_body": ctx.settings.max_body_chars,
    }


async def sign_in(call: Call) -> Response:
    """No session yet, hence no CSRF token: the Origin must be the console's own, and the
    body JSON (which no other site's form can send)."""
    ctx = call.ctx
    request = call.request
    if not origin_matches(request_origin(request.scope), console_origins(request, ctx)):
        raise ApiError(403, "origin_not_allowed", "Sign in from the console's own site.")
    body: SignIn = call.body
    account = await sign_in_attempt(ctx, client_address(request), body.email, body.password)
    agent = await ctx.store.agent_principal(account.id, account.token_version)
    value, claims = _sessions(call).issue(agent.id, agent.token_version)
    log.info("console_sign_in", agent_id=agent.id)
    response = JSONResponse(await _payload(call, agent, claims))
    _sessions(call).set_cookie(response, request, value)
    return response


async def get_session(call: Call) -> dict[str, Any]:
    assert call.session is not None
    return await _payload(call, call.me, call.session)


async def sign_out(call: Call) -> Response:
    """Sign out everywhere: every session and token of the agent ends, its sockets close."""
    me = call.me
    version = await bump_token_version(call.ctx.db, me.id)
    close_agent_sockets(call.ctx.hub, me.id, CloseCode.SIGNED_OUT, below_version=version)
    log.info("console_sign_out", agent_id=me.id)
    response = Response(status_code=204)
    _sessions(call).clear_cookie(response, call.request)
    return response


async def change_password(call: Call) -> Response:
    """Other sessions end and every socket closes; this browser gets a new session."""
    ctx = call.ctx
    me = call.me
    body: PasswordChange = call.body
    try:  # the current password, with the same limits and lockout as signing in
        await sign_in_attempt(ctx, client_address(call.request), me.email, body.current_password)
    except BadCredentials:
        raise ApiError(403, "wrong_password", "The current password is wrong.") from None
    if body.new_password == body.current_password:
        raise UsageError("The new password is the current one: choose another.")
    await asyncio.to_thread(check_new_password, body.new_password, email=me.email, name=me.name)
    version = await bump_token_version(
        ctx.db, me.id, password_hash=await asyncio.to_thread(hash_password, body.new_password)
    )
    close_agent_sockets(ctx.hub, me.id, CloseCode.SIGNED_OUT, below_version=version)
    agent = await ctx.store.agent_principal(me.id, version)
    value, claims = _sessions(call).issue(agent.id, version)
    log.info("console_password_changed", agent_id=agent.id)
    response = JSONResponse(await _payload(call, agent, claims))
    _sessions(call).set_cookie(response, call.request, value)
    return response


OPS = [
    Op(
        "POST",
        "/api/session",
        sign_in,
        "Sign in with email and password",
        "session",
        body=SignIn,
        response="Session",
        signed_in=False,
        errors=(401, 403, 423, 429),
    ),
    Op("GET", "/api/session", get_session, "Who I am", "session", response="Session"),
    Op("DELETE", "/api/session", sign_out, "Sign out (everywhere)", "session", status=204),
    Op(
        "POST",
        "/api/session/password",
        change_password,
        "Change my password",
        "session",
        body=PasswordChange,
        response="Session",
        errors=(400, 403, 423, 429),
    ),
]
