"""What one process tells the others through the broker, in a compact text form.

An event is made by one of three constructors, each for one kind: ``Event.message`` (a
stored message: a seq, delivered in order, once), ``Event.frame`` (any other server frame,
passed on as it comes) and ``Event.control`` (for the server itself, never passed on: a
``Rename``, a ``CloseSockets`` or a ``Changed``). The frame is serialized once, here, for
every receiver.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from chat.frames import ServerFrame, dump

if TYPE_CHECKING:
    from chat.store import StoredMessage

__all__ = ["Changed", "CloseSockets", "Control", "Event", "Rename", "decode", "encode"]

_SEP = "\x1f"


@dataclass(frozen=True, slots=True)
class Rename:
    """The visitor gave its name on one socket: its other sockets author their next frames
    under it."""

    name: str | None


@dataclass(frozen=True, slots=True)
class CloseSockets:
    """Close the agent's sockets with ``code``: those whose token is older than
    ``below_version``, or all of them when it is None."""

    code: int
    below_version: int | None = None


@dataclass(frozen=True, slots=True)
class Changed:
    """Something nodes keep in memory changed (``topic``, say campaigns, of the space
    ``key``): each node that holds it reads it again from the store."""

    topic: str
    key: str


Control = Rename | CloseSockets | Changed


@dataclass(frozen=True, slots=True)
class Event:
    kind: Literal["message", "frame", "control"]
    conversation_id: str
    seq: int  # 0 for frame and control events
    origin: str  # the connection that caused it: it gets an ack, not a copy
    client_id: str
    text: str  # the frame (or the control), serialized once for every receiver

    @classmethod
    def message(cls, msg: StoredMessage, origin: str) -> Event:
        text = dump(msg.frame())
        return cls("message", msg.conversation_id, msg.seq, origin, msg.client_id, text)

    @classmethod
    def frame(cls, frame: ServerFrame, conversation_id: str = "", *, origin: str = "") -> Event:
        return cls("frame", conversation_id, 0, origin, "", dump(frame))

    @classmethod
    def control(cls, control: Control, *, origin: str = "") -> Event:
        if isinstance(control, Rename):
            text = json.dumps({"rename": control.name}, ensure_ascii=False)
        elif isinstance(control, Changed):
            text = json.dumps({"changed": control.topic, "key": control.key})
        else:
            text = json.dumps({"close": control.code, "below_version": control.below_version})
        return cls("control", "", 0, origin, "", text)

    def control_value(self) -> Control | None:
        """The control this event carries (None for another kind, or one not understood:
        a newer node's)."""
        if self.kind != "control":
            return None
        try:
            data = json.loads(self.text)
        except ValueError:
            return None
        if isinstance(data, dict) and "rename" in data:
            name = data["rename"]
            return Rename(name if isinstance(name, str) else None)
        if isinstance(data, dict) and isinstance(data.get("changed"), str):
            key = data.get("key")
            return Changed(data["changed"], key if isinstance(key, str) else "")
        if isinstance(data, dict) and isinstance(data.get("close"), int):
            below = data.get("below_version")
            return CloseSockets(data["close"], below if isinstance(below, int) else None)
        return None


def encode(event: Event) -> str:
    return _SEP.join(
        (
            event.kind,
            event.conversation_id,
            str(event.seq),
            event.origin,
            event.client_id,
            event.text,
        )
    )


def decode(payload: str) -> Event:
    kind, conversation_id, seq, origin, client_id, text = payload.split(_SEP, 5)
    if kind not in ("message", "frame", "control"):
        raise ValueError(f"unknown event kind {kind!r}")
    return Event(kind, conversation_id, int(seq), origin, client_id, text)  # type: ignore[arg-type]
