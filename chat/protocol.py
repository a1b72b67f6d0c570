"""Wire protocol v1: the frames, defined once and validated at the socket edge only.

docs/protocol.md describes the same frames for client authors; keep the two in step.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from chat.errors import BodyTooLong, EmptyBody, InvalidFrame, InvalidJSON, UnknownType

__all__ = [
    "PROTOCOL_VERSION",
    "ClientFrame",
    "Hello",
    "History",
    "MessageIn",
    "Ping",
    "Resolve",
    "SetPresence",
    "Typing",
    "dump",
    "error_frame",
    "parse_client_frame",
]

PROTOCOL_VERSION = 1

_UUID = r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
ClientId = Annotated[str, StringConstraints(pattern=_UUID)]
ConversationId = Annotated[str, StringConstraints(min_length=1, max_length=36)]
Seq = Annotated[int, Field(ge=0)]


class _Frame(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class Hello(_Frame):
    type: Literal["hello"]
    token: Annotated[str, StringConstraints(min_length=1, max_length=4096)]
    resume: dict[ConversationId, Seq] = Field(default_factory=dict, max_length=1000)


class MessageIn(_Frame):
    type: Literal["message"]
    client_id: ClientId
    body: str
    conversation_id: ConversationId | None = None


class Typing(_Frame):
    type: Literal["typing"]
    conversation_id: ConversationId | None = None


class Resolve(_Frame):
    type: Literal["resolve"]
    conversation_id: ConversationId


class History(_Frame):
    type: Literal["history"]
    conversation_id: ConversationId
    before_seq: Seq | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 50


class Ping(_Frame):
    type: Literal["ping"]


class SetPresence(_Frame):
    """An agent sets its own status; offline is what closing every socket does."""

    type: Literal["presence"]
    status: Literal["online", "away"]


ClientFrame = Hello | MessageIn | Typing | Resolve | History | Ping | SetPresence

_FRAMES: dict[str, type[_Frame]] = {
    "hello": Hello,
    "message": MessageIn,
    "typing": Typing,
    "resolve": Resolve,
    "history": History,
    "ping": Ping,
    "presence": SetPresence,
}


def frame_ref(raw: Any) -> str | None:
    """The client_id of a frame, to tie an error to what the client sent."""
    if isinstance(raw, dict):
        ref = raw.get("client_id")
        if isinstance(ref, str) and len(ref) <= 64:
            return ref
    return None


def parse_client_frame(text: str | bytes, *, max_body_chars: int) -> ClientFrame:
    """Turn one text frame into a typed frame, or raise a FrameError carrying its code."""
    try:
        raw = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise InvalidJSON() from None
    if not isinstance(raw, dict):
        raise InvalidJSON("A frame is a JSON object.")
    ref = frame_ref(raw)
    kind = raw.get("type")
    model = _FRAMES.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise UnknownType(f"Unknown frame type: {str(kind)[:40]!r}.", ref=ref)
    try:
        frame = model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "frame"
        what = "must be a UUID" if first["type"] == "string_pattern_mismatch" else first["msg"]
        raise InvalidFrame(f"{where}: {what}", ref=ref) from None
    if isinstance(frame, MessageIn):
        if not frame.body.strip():
            raise EmptyBody(ref=ref)
        if len(frame.body) > max_body_chars:
            raise BodyTooLong(f"The body is longer than {max_body_chars} characters.", ref=ref)
    return frame  # type: ignore[return-value]


def normalize_client_id(client_id: str) -> str:
    """One spelling per UUID, so a retry in capitals is still the same message."""
    hex_ = client_id.replace("-", "").lower()
    return f"{hex_[:8]}-{hex_[8:12]}-{hex_[12:16]}-{hex_[16:20]}-{hex_[20:]}"


def dump(frame: dict[str, Any]) -> str:
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


def error_frame(code: str, message: str, ref: str | None = None) -> str:
    return dump({"type": "error", "code": code, "message": message, "ref": ref})
