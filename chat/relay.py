"""The relay: what each client frame does, who may do it, and who hears about it.

Store first, then ack, then publish: an ack means the message is committed, and the broker
only rings the doorbell for receivers that read the truth from the store when in doubt.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Protocol

from chat.clock import iso, utcnow
from chat.connection import Connection
from chat.errors import ConversationNotFound, NotAllowed, RateLimited
from chat.events import Event, Rename
from chat.frames import Ack, Author, HistoryFrame, Pong, TrackFrame, TypingFrame
from chat.hub import Hub
from chat.logging import get_logger
from chat.presence import Presence
from chat.principals import (
    AgentPrincipal,
    Principal,
    VisitorPrincipal,
    space_channel,
    visitor_channel,
)
from chat.profiles import Profiles, VisitorProfile
from chat.protocol import (
    CampaignFrame,
    ClientFrame,
    Context,
    History,
    MessageIn,
    Ping,
    Read,
    Resolve,
    SetPresence,
    Track,
    Typing,
    VisitorFrame,
    normalize_client_id,
)
from chat.ratelimit import Limits
from chat.receipts import mark_read, read_frame
from chat.store import Conversation, Store, StoredMessage, WouldOpen

if TYPE_CHECKING:
    from chat.metrics import Metrics

__all__ = ["MessageListener", "Relay", "VisitorListener"]

log = get_logger("causette.relay")


class MessageListener(Protocol):
    """Told of every new message once it is stored and published (routing, read marks)."""

    async def message_stored(self, principal: Principal, message: StoredMessage) -> None: ...


class VisitorListener:
    """Told what visitors do besides writing messages (campaigns and ratings, which live in
    agents/, listen here). Every method does nothing unless overridden; none may block a
    socket for long, and a listener's failure never fails the visitor's frame."""

    async def joined(self, conn: Connection) -> None:
        """A visitor's socket is welcomed: what it should know beyond its conversation."""

    def left(self, conn: Connection) -> None:
        """That socket is closed."""

    async def frame(self, conn: Connection, frame: CampaignFrame) -> bool:
        """A frame for the listeners (an exposure, a rating): True when this one took it."""
        return False

    async def tracked(self, visitor: VisitorPrincipal, frame: Track) -> None:
        """The site told of something the visitor did."""

    async def viewed(self, visitor: VisitorPrincipal, frame: Context) -> None:
        """The visitor is on a page (after each hello and on every page change)."""

    async def opened(
        self, visitor: VisitorPrincipal, message: StoredMessage, campaign_id: str | None
    ) -> None:
        """The visitor's message opened a new conversation (in answer to ``campaign_id``)."""

    async def resolved(self, conv: Conversation) -> None:
        """An agent resolved a conversation."""

    async def wants_every_visitor(self, space_id: str) -> bool:
        """Whether every visitor of the space should hold a socket, even one that never
        wrote (a live campaign is for them); the widget asks through the space's status."""
        return False


def _channels(space_id: str, visitor_id: str) -> tuple[str, str]:
    return (visitor_channel(visitor_id), space_channel(space_id))


class Relay:
    def __init__(
        self,
        store: Store,
        hub: Hub,
        presence: Presence,
        limits: Limits | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.hub = hub
        self.presence = presence
        self.limits = limits
        self.profiles = Profiles(store.db)
        self.listeners: list[MessageListener] = []
        self.visitor_listeners: list[VisitorListener] = []

    async def handle(
        self, conn: Connection, frame: ClientFrame, received: float | None = None
    ) -> None:
        """Act on one frame of ``conn``, received at ``received`` (``time.monotonic``)."""
        if isinstance(frame, MessageIn):
            await self.message(conn, frame, received)
        elif isinstance(frame, Typing):
            if conn.limits.hints.take():  # beyond the allowance a hint is dropped, not refused
                await self.typing(conn, frame)
        elif isinstance(frame, Resolve):
            await self.resolve(conn, frame)
        elif isinstance(frame, History):
            await self.history(conn, frame)
        elif isinstance(frame, Ping):
            conn.send_frame(Pong())
        elif isinstance(frame, SetPresence):
            if not isinstance(conn.principal, AgentPrincipal):
                raise NotAllowed("Only agents have a presence.")
            self.presence.set_status(conn.principal.id, frame.status)
        elif isinstance(frame, Read):
            await self.read(conn, frame)  # fans out only when it moves: one per message at most
        elif isinstance(frame, VisitorFrame):
            # a page tracking every scroll must not use up what a contact form needs
            limits = conn.limits
            if not (limits.hints if isinstance(frame, Track) else limits.profile).take():
                raise RateLimited()
            await self.visitor_update(conn, frame)
        elif isinstance(frame, CampaignFrame):
            if not isinstance(conn.principal, VisitorPrincipal):
                raise NotAllowed("Only visitors send this frame.")
            if not conn.limits.hints.take():
                raise RateLimited()
            for visitor_listener in self.visitor_listeners:
                if await visitor_listener.frame(conn, frame):
                    break
            else:
                raise NotAllowed("This server does not take that frame.")
        else:  # a second hello
            raise NotAllowed("Already signed in on this connection.")

    async def message(
        self, conn: Connection, frame: MessageIn, received: float | None = None
    ) -> None:
        received = time.monotonic() if received is None else received
        principal = conn.principal
        visitor = isinstance(principal, VisitorPrincipal)
        if visitor and not conn.limits.messages.take():
            raise RateLimited(ref=frame.client_id, retry_after=conn.limits.messages.wait())
        client_id = normalize_client_id(frame.client_id)
        with conn.storing(client_id):
            try:
                result = await self.store.append(
                    principal,
                    frame.conversation_id,
                    client_id,
                    frame.body,
                    hint=conn.last_written,
                    may_open=not visitor,
                )
            except WouldOpen:  # a visitor's new conversation: within its limits only
                await self._may_open(conn, frame.client_id)
                result = await self.store.append(
                    principal, frame.conversation_id, client_id, frame.body, may_open=True
                )
        msg = result.message
        if msg.seq == 1 and not result.duplicate and isinstance(principal, VisitorPrincipal):
            # before anyone hears of it: an agent who opens it sees the campaign it answers
            await self._tell_visitor_listeners("opened", principal, msg, frame.campaign_id)
        if not result.duplicate and self.metrics is not None:
            self.metrics.message_stored(principal.kind)
        conn.acked(msg.conversation_id, msg.seq)
        conn.send_ack(Ack(frame.client_id, msg.conversation_id, msg.seq, str(msg.id)), received)
        # a resend is published again: the node that stored it may have died before it could
        # publish; receivers that have it drop the repeat by seq
        self.publish_message(conn.id, msg)
        if not result.duplicate:
            for listener in self.listeners:
                try:
                    await listener.message_stored(conn.principal, msg)
                except Exception:  # the message is stored and acked: never fail the sender
                    log.exception("message_listener_failed")

    async def _tell_visitor_listeners(self, method: str, *args: object) -> None:
        for listener in self.visitor_listeners:
            try:
                await getattr(listener, method)(*args)
            except Exception:  # what the visitor did is done: a listener never undoes it
                log.exception("visitor_listener_failed", hook=method)

    async def joined(self, conn: Connection) -> None:
        if isinstance(conn.principal, VisitorPrincipal):
            await self._tell_visitor_listeners("joined", conn)

    async def wants_every_visitor(self, space_id: str) -> bool:
        for listener in self.visitor_listeners:
            try:
                if await listener.wants_every_visitor(space_id):
                    return True
            except Exception:  # the status answers anyway, without this
                log.exception("visitor_listener_failed", hook="wants_every_visitor")
        return False

    def left(self, conn: Connection) -> None:
        if isinstance(conn.principal, VisitorPrincipal):
            for listener in self.visitor_listeners:
                listener.left(conn)

    async def _may_open(self, conn: Connection, ref: str) -> None:
        """New conversations are limited per visitor and per address: each queues work for
        the agents of the space."""
        if self.limits is None:
            return
        try:
            await self.limits.check("conversations_per_visitor", conn.principal.id)
            await self.limits.check("conversations_per_ip", conn.peer.address)
        except RateLimited as exc:
            log.info("conversation_rate_limited")
            raise RateLimited(exc.message, ref=ref, retry_after=exc.retry_after) from None

    def publish_message(self, origin: str, msg: StoredMessage) -> None:
        self.hub.publish(_channels(msg.space_id, msg.visitor_id), Event.message(msg, origin))

    async def typing(self, conn: Connection, frame: Typing) -> None:
        principal = conn.principal
        if frame.conversation_id is None:
            if isinstance(principal, AgentPrincipal):
                raise ConversationNotFound("Agents name the conversation they type in.")
            open_ = [c for c in await self.store.visible_conversations(principal)]
            if not open_:
                return  # nothing to type into yet
            conv = open_[0]
        else:
            conv = await self._known(conn, frame.conversation_id)
        typing = TypingFrame(conv.id, Author(principal.kind, principal.id, principal.name))
        channels: tuple[str, ...]
        if isinstance(principal, VisitorPrincipal):
            channels = (space_channel(conv.space_id),)
        else:
            channels = _channels(conv.space_id, conv.visitor_id)
        self.hub.publish(channels, Event.frame(typing, conv.id, origin=conn.id))

    async def resolve(self, conn: Connection, frame: Resolve) -> None:
        principal = conn.principal
        if not isinstance(principal, AgentPrincipal):
            raise NotAllowed("Only agents resolve conversations.")
        conv = await self.store.resolve(principal, frame.conversation_id)
        await self.resolved(conv)

    async def resolved(self, conv: Conversation) -> None:
        """Tell everyone a conversation is resolved (from a socket or from the console)."""
        self.publish_state(conv)
        await self._tell_visitor_listeners("resolved", conv)

    def publish_state(self, conv: Conversation) -> None:
        event = Event.frame(conv.state(), conv.id)
        self.hub.publish(_channels(conv.space_id, conv.visitor_id), event)

    async def history(self, conn: Connection, frame: History) -> None:
        await self._known(conn, frame.conversation_id)
        rows = await self.store.messages_before(
            frame.conversation_id, frame.before_seq, frame.limit
        )
        conn.send_frame(HistoryFrame(frame.conversation_id, [m.frame() for m in rows]))

    async def read(self, conn: Connection, frame: Read) -> None:
        """A read receipt: stored per reader, told to the agents of the space (and, for an
        agent's, to the visitor)."""
        conv = await self._known(conn, frame.conversation_id)
        seq = min(frame.seq, conv.last_seq)
        if seq <= 0 or not await mark_read(self.store.db, conn.principal, conv.id, seq):
            return
        receipt = read_frame(conn.principal, conv.id, seq)
        channels: tuple[str, ...] = (space_channel(conv.space_id),)
        if isinstance(conn.principal, AgentPrincipal):
            channels = _channels(conv.space_id, conv.visitor_id)
        self.hub.publish(channels, Event.frame(receipt, conv.id, origin=conn.id))

    async def visitor_update(self, conn: Connection, frame: VisitorFrame) -> None:
        """Context, identity, contact, attributes, events: from a visitor, to the agents of its
        space only, as one ``visitor`` frame with the whole profile when it changed."""
        visitor = conn.principal
        if not isinstance(visitor, VisitorPrincipal):
            raise NotAllowed("Only visitors describe themselves.")
        if isinstance(frame, Track):  # passed on live; stored by listeners when it is a goal
            track = TrackFrame(
                visitor.id, conn.last_written, frame.event, dict(frame.props), iso(utcnow())
            )
            event = Event.frame(track, conn.last_written or "", origin=conn.id)
            self.hub.publish((space_channel(visitor.space_id),), event)
            await self._tell_visitor_listeners("tracked", visitor, frame)
            return
        if isinstance(frame, Context):
            await self._tell_visitor_listeners("viewed", visitor, frame)
        profile = await self.profiles.apply(visitor, frame, user_agent=conn.peer.user_agent)
        if profile is not None:
            if profile.name != visitor.name:  # this socket's next messages and typing say so,
                conn.rename(profile.name)
                event = Event.control(Rename(profile.name), origin=conn.id)  # and its other tabs'
                self.hub.publish((visitor_channel(visitor.id),), event)
            self.publish_visitor(conn.id, profile)

    def publish_visitor(self, origin: str, profile: VisitorProfile) -> None:
        event = Event.frame(profile.frame(), profile.conversation_id or "", origin=origin)
        self.hub.publish((space_channel(profile.space_id),), event)

    async def _known(self, conn: Connection, conversation_id: str) -> Conversation:
        return await self.store.conversation(conn.principal, conversation_id)
