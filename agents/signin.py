"""Signing in and out of the console, and changing one's own password."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from pydantic import StringConstraints
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from agents.accounts import AgentAccount, any_agent, authenticate, bump_token_version
from agents.inbox import Inbox, views_for
from agents.passwords import MIN_PASSWORD_CHARS, check_new_password, hash_password
from agents.privacy import actor_of
from agents.rest import Body, Call, Op
from agents.scopes import SESSION_ONLY
from agents.session import (
    SessionClaims,
    Sessions,
    close_agent_sockets,
)
from chat.audit import Actor
from chat.context import AppContext
from chat.errors import AuthError, BadCredentials, InvalidRequest, NotAllowed, RateLimited
from chat.http import client_address, ctx_of, error, json_body, string_field
from chat.logging import get_logger
from chat.principals import AgentPrincipal
from chat.responses import response_for
from chat.types import CloseCode

__all__ = ["OPS", "agent_login", "sign_in_attempt"]

log = get_logger("causette.console")


class SignIn(Body):
    email: Annotated[str, StringConstraints(min_length=1, max_length=320)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class PasswordChange(Body):
    current_password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    new_password: Annotated[str, StringConstraints(min_length=MIN_PASSWORD_CHARS, max_length=1024)]


def _sessions(call: Call) -> Sessions:
    return call.console.sessions


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
    if not ctx.origins.console(request.scope):
        raise NotAllowed("Sign in from the console's own site.", code="origin_not_allowed")
    body: SignIn = call.body
    account = await sign_in_attempt(
        ctx,
        client_address(request),
        body.email,
        body.password,
        actor=actor_of(request, None),
    )
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
        raise NotAllowed("The current password is wrong.", code="wrong_password") from None
    if body.new_password == body.current_password:
        raise InvalidRequest(
            "The new password is the current one: choose another.", code="same_password"
        )
    await asyncio.to_thread(check_new_password, body.new_password, email=me.email, name=me.name)
    version = await bump_token_version(
        ctx.db,
        me.id,
        password_hash=await asyncio.to_thread(hash_password, body.new_password),
        actor=actor_of(call.request, me),
        action="agent.password_change",
    )
    close_agent_sockets(ctx.hub, me.id, CloseCode.SIGNED_OUT, below_version=version)
    agent = await ctx.store.agent_principal(me.id, version)
    value, claims = _sessions(call).issue(agent.id, version)
    log.info("console_password_changed", agent_id=agent.id)
    response = JSONResponse(await _payload(call, agent, claims))
    _sessions(call).set_cookie(response, call.request, value)
    return response


async def setup_state(call: Call) -> dict[str, Any]:
    """Whether an agent exists yet: on a first run the sign-in page says how to create one.
    Nothing else is told (no count, no name) to whoever asks."""
    return {"has_agents": await any_agent(call.ctx.db)}


OPS = [
    Op(
        "GET",
        "/api/setup",
        setup_state,
        "Whether an agent exists yet (the sign-in page's first-run hint)",
        "session",
        response="Setup",
        signed_in=False,
    ),
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
    Op(
        "GET",
        "/api/session",
        get_session,
        "Who I am",
        "session",
        response="Session",
        scopes=SESSION_ONLY,
    ),
    Op(
        "DELETE",
        "/api/session",
        sign_out,
        "Sign out (everywhere)",
        "session",
        status=204,
        scopes=SESSION_ONLY,
    ),
    Op(
        "POST",
        "/api/session/password",
        change_password,
        "Change my password",
        "session",
        body=PasswordChange,
        response="Session",
        errors=(400, 403, 423, 429),
        scopes=SESSION_ONLY,
    ),
]


async def sign_in_attempt(
    ctx: AppContext, client: str, email: str, password: str, *, actor: Actor | None = None
) -> AgentAccount:
    """One sign-in, counted against the client address's allowance first (RateLimited), then
    checked with the (email, address) lockout (agents/accounts.py); audited when ``actor``
    (who asks, from where) is given."""
    await ctx.limits.check("sign_ins", client)
    return await authenticate(
        ctx.db,
        email,
        password,
        client=client,
        secret=ctx.signer.derived_key("login-throttle"),
        max_failures=ctx.settings.login_max_failures,
        lock_seconds=ctx.settings.login_lock_seconds,
        actor=actor,
    )


async def agent_login(request: Request) -> JSONResponse:
    """A token for the agent socket, for clients other than the console (the console signs in
    with a cookie: ``POST /api/session``)."""
    ctx = ctx_of(request)
    if not ctx.origins.console(request.scope):
        return error(403, "origin_not_allowed", "Sign in from the console's own site.")
    body = await json_body(request)
    if isinstance(body, JSONResponse):
        return body
    email = string_field(body, "email", 320)
    if isinstance(email, JSONResponse):
        return email
    password = string_field(body, "password", 1024)
    if isinstance(password, JSONResponse):
        return password
    try:
        account = await sign_in_attempt(
            ctx, client_address(request), email, password, actor=actor_of(request, None)
        )
    except (AuthError, RateLimited) as exc:
        log.info("agent_login_refused", code=exc.code)
        return response_for(exc)
    log.info("agent_login", agent_id=account.id)
    token = ctx.signer.agent_token(account.id, account.token_version)
    return JSONResponse(
        {"token": token, "agent": {"id": account.id, "name": account.name, "role": account.role}}
    )
