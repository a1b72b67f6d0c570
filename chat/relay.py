"""The relay: what each client frame does, who may do it, and who hears about it.

Store first, then ack, then publish: an ack means the message is committed, and the broker
only rings the doorbell for receivers that read the truth from the store when in doubt.
"""

from __future__ import annotations

from typing import Any

from agents.presence import Presence
from chat.clock import iso, utcnow
from chat.connection import Connection
from chat.errors import ConversationNotFound, NotAllowed
from chat.events import Event
from chat.hub import Hub
from chat.principals import AgentPrincipal, VisitorPrincipal, space_channel, visitor_channel
from chat.protocol import (
    ClientFrame,
    History,
    MessageIn,
    Ping,
    Resolve,
    SetPresence,
    Typing,
    dump,
    normalize_client_id,
)
from chat.store import Conversation, Store, StoredMessage

__all__ = ["Relay"]


def _channels(space_id: str, visitor_id: str) -> tuple[str, str]:
    return (visitor_channel(visitor_id), space_channel(space_id))


class Relay:
    def __init__(self, store: Store, hub: Hub, presence: Presence) -> None:
        self.store = store
        self.hub = hub
        self.presence = presence

    async def handle(self, conn: Connection, frame: ClientFrame) -> None:
        if isinstance(frame, MessageIn):
            await self.message(conn, frame)
        elif isinstance(frame, Typing):
            await self.typing(conn, frame)
        elif isinstance(frame, Resolve):
            await self.resolve(conn, frame)
        elif isinstance(frame, History):
            await self.history(conn, frame)
        elif isinstance(frame, Ping):
            conn.send_frame({"type": "pong"})
        elif isinstance(frame, SetPresence):
            if not isinstance(conn.principal, AgentPrincipal):
                raise NotAllowed("Only agents have a presence.")
            self.presence.set_status(conn.principal.id, frame.status)
        else:  # a second hello
            raise NotAllowed("Already signed in on this connection.")

    async def message(self, conn: Connection, frame: MessageIn) -> None:
        client_id = normalize_client_id(frame.client_id)
        result = await self.store.append(
            conn.principal, frame.conversation_id, client_id, frame.body
        )
        msg = result.message
        conn.acked(msg.conversation_id, msg.seq)
        conn.send_frame(
            {
                "type": "ack",
                "client_id": client_id,
                "conversation_id": msg.conversation_id,
                "seq": msg.seq,
                "id": str(msg.id),
            }
        )
        if not result.duplicate:
            self.publish_message(conn.id, msg)

    def publish_message(self, origin: str, msg: StoredMessage) -> None:
        event = Event(
            "message", msg.conversation_id, msg.seq, origin, msg.client_id, dump(msg.frame())
        )
        self.hub.publish(_channels(msg.space_id, msg.visitor_id), event)

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
        text = dump(
            {
                "type": "typing",
                "conversation_id": conv.id,
                "author": {"kind": principal.kind, "id": principal.id, "name": principal.name},
            }
        )
        channels: tuple[str, ...]
        if isinstance(principal, VisitorPrincipal):
            channels = (space_channel(conv.space_id),)
        else:
            channels = _channels(conv.space_id, conv.visitor_id)
        self.hub.publish(channels, Event("frame", conv.id, 0, conn.id, "", text))

    async def resolve(self, conn: Connection, frame: Resolve) -> None:
        principal = conn.principal
        if not isinstance(principal, AgentPrincipal):
            raise NotAllowed("Only agents resolve conversations.")
        conv = await self.store.resolve(principal, frame.conversation_id)
        self.publish_state(conv)

    def publish_state(self, conv: Conversation) -> None:
        text = dump(conversation_frame(conv))
        event = Event("frame", conv.id, 0, "", "", text)
        self.hub.publish(_channels(conv.space_id, conv.visitor_id), event)

    async def history(self, conn: Connection, frame: History) -> None:
        await self._known(conn, frame.conversation_id)
        rows = await self.store.messages_before(
            frame.conversation_id, frame.before_seq, frame.limit
        )
        conn.send_frame(
            {
                "type": "history",
                "conversation_id": frame.conversation_id,
                "messages": [m.frame() for m in rows],
            }
        )

    async def _known(self, conn: Connection, conversation_id: str) -> Conversation:
        return await self.store.conversation(conn.principal, conversation_id)


def conversation_frame(conv: Conversation) -> dict[str, Any]:
    return {
        "type": "conversation",
        "conversation_id": conv.id,
        "status": conv.status,
        "visitor_id": conv.visitor_id,
        "last_seq": conv.last_seq,
        "updated_at": iso(conv.updated_at or utcnow()),
    }
