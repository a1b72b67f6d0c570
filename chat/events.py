"""What one process tells the others through the broker, in a compact text form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Event", "decode", "encode"]

_SEP = "\x1f"


@dataclass(frozen=True, slots=True)
class Event:
    """``message`` events carry a seq and are delivered in order, once; ``frame`` events
    (typing, conversation state) are passed on as they come; ``control`` events are for the
    server, never passed on (``{"close": code, "below_version": n}``: close the socket with
    this code if its agent token is older than version n, or in any case without it;
    ``{"rename": name}``: the visitor's sockets author their next frames under this name)."""

    kind: Literal["message", "frame", "control"]
    conversation_id: str
    seq: int  # 0 for frame events
    origin: str  # the connection that caused it: it gets an ack, not a copy
    client_id: str
    text: str  # the frame, serialized once for every receiver


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
