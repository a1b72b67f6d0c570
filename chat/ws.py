"""The two WebSocket endpoints, as one visible state machine:

    handshake (origin) → accept → hello (token; nothing is sent before it) → subscribe →
    welcome → replay (queued Syncs) → receive loop ∥ send pump → close → summary log line

The summary line, ``ws_closed``, is the one to read about a socket: its ids (request_id,
conn_id, kind, principal_id, and a visitor's space, bound to every line of the socket), how
it ended (``close_code``, ``closed_by`` client or server, ``reason``), how long it lived
(``seconds``) and what it carried (``frames_in``, ``frames_out``). The open sockets gauge and
the closes counter of the metrics move at the same two points: signed in, closed.

The first of the receive loop and the send pump to finish cancels the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Literal

import structlog
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from chat.connection import Connection, Peer
from chat.context import AppContext
from chat.db import is_outage
from chat.errors import AuthError, CausetteError, FrameError, StoreUnavailable
from chat.frames import AgentWelcome, ErrorFrame, PresenceEntry, VisitorWelcome, dump
from chat.logging import get_logger
from chat.origins import request_origin
from chat.principals import AgentPrincipal, Principal, VisitorPrincipal
from chat.protocol import ClientFrame, Hello, parse_client_frame
from chat.ratelimit import Rate, SocketLimits, TokenBucket
from chat.store import Conversation
from chat.types import CloseCode

__all__ = ["agent_socket", "visitor_socket"]

log = get_logger("causette.ws")

Kind = Literal["visitor", "agent"]
# close codes of the server's own making (None: the handler closed; 1007 and 1009: the
# WebSocket layer, for a frame that is not UTF-8 or over the size limit)
_SERVER_CLOSES = (None, 1007, CloseCode.TOO_BIG)


async def visitor_socket(websocket: WebSocket) -> None:
    await _serve(websocket, "visitor")


async def agent_socket(websocket: WebSocket) -> None:
    await _serve(websocket, "agent")


async def _origin_ok(ctx: AppContext, websocket: WebSocket, kind: Kind) -> bool:
    if kind == "agent":
        return ctx.origins.console(websocket.scope)
    return await ctx.origins.widget(websocket.scope, websocket.query_params.get("space"))


async def _serve(websocket: WebSocket, kind: Kind) -> None:
    ctx: AppContext = websocket.state.ctx
    started = time.monotonic()
    if not await _origin_ok(ctx, websocket, kind):
        log.info("ws_origin_refused", kind=kind, origin=request_origin(websocket.scope))
        await websocket.close(code=CloseCode.POLICY_VIOLATION)  # before accept: HTTP 403
        return
    await websocket.accept()
    signed_in = await _hello(ctx, websocket, kind)
    if signed_in is None:
        return
    principal, hello, expires_at = signed_in
    settings = ctx.settings
    messages = (
        settings.limit_messages_per_socket
        if kind == "visitor" and settings.rate_limits == "on"
        else Rate(0, 1, 1)
    )
    conn = Connection(
        principal,
        ctx.store,
        websocket.send_text,
        queue_size=ctx.settings.send_queue_size,
        stuck_after=ctx.settings.slow_client_seconds,
        page=ctx.settings.replay_page,
        on_resync=_resync_targets,
        limits=SocketLimits(
            hints=TokenBucket(settings.update_frames_per_second, settings.update_frames_burst),
            profile=TokenBucket(settings.update_frames_per_second, settings.update_frames_burst),
            messages=TokenBucket(messages.count / messages.seconds, messages.burst),
        ),
        peer=Peer(
            address=websocket.client.host if websocket.client else "unknown",
            user_agent=websocket.headers.get("user-agent", "")[:512],
        ),
        metrics=ctx.metrics,
    )
    ids: dict[str, str] = {"conn_id": conn.id, "kind": kind, "principal_id": principal.id}
    if isinstance(principal, VisitorPrincipal):
        ids["space"] = principal.space_key
    structlog.contextvars.bind_contextvars(**ids)
    received = 0
    close_code = CloseCode.NORMAL
    close_reason = ""
    peer_code: int | None = None  # the client's (or the server's frame limit's) close code
    ctx.metrics.socket_opened(kind)  # before the welcome: a client that has it is counted
    try:
        async with ctx.hub.subscription(conn, principal.channels), _present(ctx, principal):
            await _welcome(ctx, websocket, conn, hello)
            await ctx.relay.joined(conn)  # then what the listeners add (live campaigns...)
            pump = conn.start()
            receiver = asyncio.create_task(_receive(ctx, websocket, conn), name=f"recv-{conn.id}")
            # the token's lifetime is the socket's: past it, sign in (or get a token) again
            expiry = asyncio.create_task(asyncio.sleep(max(0.0, expires_at - time.time())))
            tasks = (pump, receiver, expiry)
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task
            if receiver in done and not receiver.cancelled():
                received, peer_code = receiver.result()
            if expiry in done and receiver not in done:
                close_code, close_reason = CloseCode.POLICY_VIOLATION, "token_expired"
                log.info("ws_token_expired")
            elif conn.overflowed:
                close_code = CloseCode.TRY_AGAIN_LATER
                log.warning("ws_queue_full")
            elif conn.close_code is not None:
                close_code = CloseCode(conn.close_code)
    except (WebSocketDisconnect, RuntimeError):
        close_code = peer_code = CloseCode.GOING_AWAY  # gone while being welcomed
    except Exception as exc:
        if not (isinstance(exc, StoreUnavailable) or is_outage(exc)):
            raise
        log.warning("ws_welcome_store_unavailable")
        close_code = CloseCode.TRY_AGAIN_LATER
    finally:
        ctx.relay.left(conn)
        if websocket.client_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close(code=close_code, reason=close_reason)
        code = int(close_code) if peer_code is None else peer_code
        ctx.metrics.socket_closed(kind, code, conn.slow)
        log.info(
            "ws_closed",
            close_code=code,
            closed_by="server" if peer_code in _SERVER_CLOSES else "client",
            reason=close_reason or conn.slow,
            frames_in=received,
            frames_out=conn.sent_frames,
            seconds=round(time.monotonic() - started, 3),
        )


@contextlib.asynccontextmanager
async def _present(ctx: AppContext, principal: Principal) -> AsyncIterator[None]:
    """An agent with a socket open is present; its last socket closing makes it offline."""
    if not isinstance(principal, AgentPrincipal):
        yield
        return
    ctx.presence.connected(principal)
    try:
        yield
    finally:
        ctx.presence.disconnected(principal)


async def _hello(
    ctx: AppContext, websocket: WebSocket, kind: Kind
) -> tuple[Principal, Hello, float] | None:
    """Read the hello: (who, the frame, when the token expires). On anything but a valid one
    close with 1008 and send nothing."""
    try:
        text = await asyncio.wait_for(
            websocket.receive_text(), timeout=ctx.settings.hello_timeout_seconds
        )
        frame = parse_client_frame(text, max_body_chars=ctx.settings.max_body_chars)
        if not isinstance(frame, Hello):
            raise FrameError("The first frame is a hello.")
        principal: Principal
        if kind == "visitor":
            claims = ctx.signer.read_visitor(frame.token)
            principal = await ctx.store.visitor_principal(claims.visitor_id, claims.space_id)
            space = websocket.query_params.get("space")
            if space is not None and space != principal.space_key:
                raise AuthError("The token is for another space.")
            expires_at = claims.expires_at
        else:
            agent = ctx.signer.read_agent(frame.token)
            principal = await ctx.store.agent_principal(agent.agent_id, agent.token_version)
            expires_at = agent.expires_at
    except (TimeoutError, KeyError) as exc:  # no hello in time, or a binary first frame
        code = "hello_timeout" if isinstance(exc, TimeoutError) else "invalid_hello"
        log.info("ws_hello_refused", kind=kind, code=code)
        with contextlib.suppress(Exception):
            await websocket.close(code=CloseCode.POLICY_VIOLATION, reason=code)
        return None
    except StoreUnavailable:
        _hello_store_down(kind)
        with contextlib.suppress(Exception):
            await websocket.close(code=CloseCode.TRY_AGAIN_LATER, reason="store_unavailable")
        return None
    except CausetteError as exc:
        code = exc.code
        log.info("ws_hello_refused", kind=kind, code=code)
        with contextlib.suppress(Exception):
            await websocket.close(code=CloseCode.POLICY_VIOLATION, reason=code)
        return None
    except (WebSocketDisconnect, RuntimeError):
        return None
    except Exception as exc:
        if is_outage(exc):  # the token may be fine: the database is not. Come back later
            _hello_store_down(kind)
            close, reason = CloseCode.TRY_AGAIN_LATER, "store_unavailable"
        else:
            log.exception("ws_hello_failed", kind=kind)
            close, reason = CloseCode.INTERNAL_ERROR, "internal_error"
        with contextlib.suppress(Exception):
            await websocket.close(code=close, reason=reason)
        return None
    return principal, frame, expires_at


def _hello_store_down(kind: Kind) -> None:
    log.warning("ws_hello_store_unavailable", kind=kind)


async def _welcome(ctx: AppContext, websocket: WebSocket, conn: Connection, hello: Hello) -> None:
    """Send the welcome, set the cursors, queue the replay. Subscribed already, so whatever
    happens from now on is either queued or in the store."""
    principal = conn.principal
    resume = hello.resume
    convs = await ctx.store.visible_conversations(principal, ids=list(resume))
    visible = {c.id: c for c in convs}
    frame: VisitorWelcome | AgentWelcome
    if isinstance(principal, VisitorPrincipal):
        open_conv = next((c for c in convs if c.status == "open"), None)
        frame = VisitorWelcome(
            visitor_id=principal.id,
            space=principal.space_key,
            conversation=open_conv.summary() if open_conv else None,
            max_body=ctx.settings.max_body_chars,
            heartbeat=ctx.settings.heartbeat_seconds,
        )
        replay = [c.id for c in convs if c.id in resume or c.status == "open"]
    else:
        assert isinstance(principal, AgentPrincipal)
        seen = {
            agent_id: seen
            for space_id in principal.spaces
            for agent_id, seen in ctx.presence.agents(space_id).items()
        }
        frame = AgentWelcome(
            agent={"id": principal.id, "name": principal.name, "role": principal.role},
            spaces=[{"id": sid, "key": key} for sid, key in sorted(principal.spaces.items())],
            conversations=[c.summary(principal.spaces[c.space_id]) for c in convs],
            presence=[
                PresenceEntry(agent_id, name, status)
                for agent_id, (name, status) in sorted(seen.items())
            ],
            max_body=ctx.settings.max_body_chars,
            heartbeat=ctx.settings.heartbeat_seconds,
        )
        for c in convs:  # agents replay what they resume; the rest is there for `history`
            if c.id not in resume:
                conn.follow(c.id, c.last_seq)
        replay = [c.id for c in convs if c.id in resume]
    await websocket.send_text(dump(frame))
    for conversation_id, seq in resume.items():
        if conversation_id not in visible:
            await websocket.send_text(
                dump(ErrorFrame("conversation_not_found", "No such conversation.", conversation_id))
            )
            continue
        # a cursor past the end would hide the next messages: never ahead of the store
        conn.follow(conversation_id, min(seq, visible[conversation_id].last_seq))
    for conversation_id in replay:
        conn.sync(conversation_id)


async def _receive(ctx: AppContext, websocket: WebSocket, conn: Connection) -> tuple[int, int]:
    """Read frames until the client leaves: (frames read, the close code). Bad input gets an
    error frame, never a close; a frame over the size limit is closed 1009 by the server."""
    received = 0
    max_body = ctx.settings.max_body_chars
    while True:
        message = await websocket.receive()
        arrived = time.monotonic()
        if message["type"] == "websocket.disconnect":
            return received, int(message.get("code") or CloseCode.NO_STATUS)
        received += 1
        text = message.get("text")
        if text is None:
            conn.send_frame(_error("invalid_frame", "Frames are JSON text, not binary."))
            continue
        frame = None
        try:
            frame = parse_client_frame(text, max_body_chars=max_body)
            # shielded: a socket that goes away mid-frame must not cancel a unit of work half
            # way (a transaction cut by cancellation can keep SQLite's write lock)
            work = asyncio.ensure_future(_handle(ctx, conn, frame, arrived))
            try:
                await asyncio.shield(work)
            except asyncio.CancelledError:
                work.add_done_callback(_finished_after_close)
                raise
        except FrameError as exc:
            ref = exc.ref or _ref(frame)
            conn.send_frame(_error(exc.code, exc.message, ref, retryable=exc.retryable))
        except Exception as exc:
            # a frame the database did not take, whatever it said, was not stored: the client
            # resends it with the same client_id (idempotent), so it is told to retry
            if isinstance(exc, StoreUnavailable) or _database_error(exc):
                if isinstance(exc, StoreUnavailable) or is_outage(exc):
                    log.warning("store_unavailable")
                else:
                    log.warning("store_refused", error=type(exc).__name__)
                down = StoreUnavailable("The database is unavailable; send the frame again later.")
                conn.send_frame(_error(down.code, down.message, _ref(frame), retryable=True))
            else:
                log.exception("frame_failed")
                conn.send_frame(
                    _error("internal_error", "Something went wrong; try again.", _ref(frame))
                )


async def _handle(ctx: AppContext, conn: Connection, frame: ClientFrame, arrived: float) -> None:
    await ctx.relay.handle(conn, frame, arrived)


def _finished_after_close(work: asyncio.Future[None]) -> None:
    """A frame's unit of work that outlived its socket: its answer has nowhere to go. A
    refusal (a FrameError) or an outage is the client's or the database's; anything else is
    a bug, logged once."""
    if work.cancelled():
        return
    exc = work.exception()
    if not isinstance(exc, Exception) or isinstance(exc, CausetteError) or _database_error(exc):
        return
    log.error("frame_failed_after_close", exc_info=exc)


def _database_error(exc: Exception) -> bool:
    """An error raised by the database or its driver (not by causette's own code)."""
    module = type(exc).__module__
    return is_outage(exc) or module.startswith(("sqlalchemy", "asyncpg", "sqlite3", "aiosqlite"))


def _ref(frame: object) -> str | None:
    ref = getattr(frame, "client_id", None)
    return ref if isinstance(ref, str) else None


def _error(
    code: str, message: str, ref: str | None = None, *, retryable: bool = False
) -> ErrorFrame:
    return ErrorFrame(code, message, ref, retryable)


async def _resync_targets(conn: Connection) -> list[str]:
    """After a broker outage: every conversation that may have moved, with its state."""
    principal = conn.principal
    convs: list[Conversation] = await conn.store.visible_conversations(
        principal, ids=conn.conversations
    )
    for conv in convs:
        conn.send_frame(conv.state())
    return [c.id for c in convs]
