"""Wire protocol v1, the server's side: every frame the server sends, as a typed value, and
the one serializer that turns it into text.

chat/protocol.py holds the client's frames; docs/protocol.md describes both, and a test
parses every example there as the frame it illustrates (``parse_server_frame``). A frame is
built where its facts are known and serialized once, however many sockets receive it.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar

from chat.protocol import PROTOCOL_VERSION

__all__ = [
    "Ack",
    "AgentWelcome",
    "Author",
    "CampaignOffer",
    "CampaignWithdrawn",
    "ConversationState",
    "ConversationSummary",
    "CsatFrame",
    "ErrorFrame",
    "HistoryFrame",
    "MessageFrame",
    "NoteFrame",
    "PresenceEntry",
    "PresenceFrame",
    "ReadFrame",
    "ServerFrame",
    "TagsFrame",
    "TrackFrame",
    "TypingFrame",
    "VisitorFrame",
    "VisitorWelcome",
    "dump",
    "parse_server_frame",
    "wire",
]


@dataclass(frozen=True, slots=True)
class Author:
    kind: str  # visitor, agent or system
    id: str | None
    name: str | None


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    """A conversation as the welcome lists it (``space`` for agents only)."""

    id: str
    visitor_id: str
    status: str
    last_seq: int
    created_at: str
    updated_at: str
    assignee_id: str | None
    team_id: str | None
    space: str | None = None

    omit_none: ClassVar[tuple[str, ...]] = ("space",)


@dataclass(frozen=True, slots=True)
class PresenceEntry:
    """One agent's presence, as the agent's welcome lists it."""

    agent_id: str
    name: str
    status: str


@dataclass(frozen=True, slots=True)
class VisitorWelcome:
    type: ClassVar[str] = "welcome"
    visitor_id: str
    space: str
    conversation: ConversationSummary | None
    max_body: int
    heartbeat: float  # seconds: ping this often; no answer within as long, the link is dead
    protocol: int = PROTOCOL_VERSION
    role: str = "visitor"


@dataclass(frozen=True, slots=True)
class AgentWelcome:
    type: ClassVar[str] = "welcome"
    agent: dict[str, str]  # id, name, role
    spaces: list[dict[str, str]]  # id, key
    conversations: list[ConversationSummary]
    presence: list[PresenceEntry]
    max_body: int
    heartbeat: float
    protocol: int = PROTOCOL_VERSION
    role: str = "agent"


@dataclass(frozen=True, slots=True)
class Ack:
    """A message is stored: its place in the conversation."""

    type: ClassVar[str] = "ack"
    client_id: str  # as the client sent it: it matches acks by it
    conversation_id: str
    seq: int
    id: str


@dataclass(frozen=True, slots=True)
class MessageFrame:
    type: ClassVar[str] = "message"
    conversation_id: str
    seq: int
    id: str
    client_id: str
    author: Author
    body: str
    created_at: str


@dataclass(frozen=True, slots=True)
class HistoryFrame:
    type: ClassVar[str] = "history"
    conversation_id: str
    messages: list[MessageFrame]


@dataclass(frozen=True, slots=True)
class TypingFrame:
    type: ClassVar[str] = "typing"
    conversation_id: str
    author: Author


@dataclass(frozen=True, slots=True)
class ConversationState:
    """A conversation changed: status, assignee or team."""

    type: ClassVar[str] = "conversation"
    conversation_id: str
    status: str
    visitor_id: str
    last_seq: int
    updated_at: str
    assignee_id: str | None
    team_id: str | None


@dataclass(frozen=True, slots=True)
class PresenceFrame:
    type: ClassVar[str] = "presence"
    agent_id: str
    name: str
    status: str  # online, away or offline


@dataclass(frozen=True, slots=True)
class ReadFrame:
    type: ClassVar[str] = "read"
    conversation_id: str
    reader: Author
    seq: int
    at: str


@dataclass(frozen=True, slots=True)
class VisitorFrame:
    """A visitor's profile changed (to the agents of its space)."""

    type: ClassVar[str] = "visitor"
    conversation_id: str | None
    visitor: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TrackFrame:
    type: ClassVar[str] = "track"
    visitor_id: str
    conversation_id: str | None
    event: str
    props: dict[str, Any]
    at: str


@dataclass(frozen=True, slots=True)
class NoteFrame:
    type: ClassVar[str] = "note"
    conversation_id: str
    note: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TagsFrame:
    type: ClassVar[str] = "tags"
    conversation_id: str
    tags: list[str]


@dataclass(frozen=True, slots=True)
class CampaignOffer:
    """A live campaign, as this visitor is to see it: its arm (``message`` None for the
    holdout, which shows nothing and reports that it would have), the rules the widget
    evaluates, and the fatigue caps."""

    type: ClassVar[str] = "campaign"
    campaign_id: str
    phase: int
    arm: str
    rules: dict[str, Any]
    message: str | None
    buttons: list[str]
    sender: str | None
    priority: int
    caps: dict[str, Any]
    time_zone: str


@dataclass(frozen=True, slots=True)
class CampaignWithdrawn:
    """The campaign is paused, ended or killed: an invitation of it on screen goes away."""

    type: ClassVar[str] = "campaign"
    campaign_id: str
    withdrawn: bool = True


@dataclass(frozen=True, slots=True)
class CsatFrame:
    """The rating of a resolved conversation: asked (``score`` None, answerable until
    ``until``) or given (to every tab of the visitor, and to the agents of the space)."""

    type: ClassVar[str] = "csat"
    conversation_id: str
    until: str
    score: int | None
    comment: str | None = None

    omit_none: ClassVar[tuple[str, ...]] = ("comment",)


@dataclass(frozen=True, slots=True)
class Pong:
    type: ClassVar[str] = "pong"


@dataclass(frozen=True, slots=True)
class ErrorFrame:
    type: ClassVar[str] = "error"
    code: str
    message: str
    ref: str | None = None
    retryable: bool = False  # on the wire only when true

    omit_false: ClassVar[tuple[str, ...]] = ("retryable",)


ServerFrame = (
    VisitorWelcome
    | AgentWelcome
    | Ack
    | MessageFrame
    | HistoryFrame
    | TypingFrame
    | ConversationState
    | PresenceFrame
    | ReadFrame
    | VisitorFrame
    | TrackFrame
    | NoteFrame
    | TagsFrame
    | CampaignOffer
    | CampaignWithdrawn
    | CsatFrame
    | Pong
    | ErrorFrame
)

_FRAME_TYPES: tuple[type, ...] = typing.get_args(ServerFrame)


@cache
def _names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


@cache
def _shape(cls: type) -> tuple[str | None, tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(type, field names, omitted when None, omitted when false) of a dataclass."""
    kind = getattr(cls, "type", None)
    return (
        kind if isinstance(kind, str) else None,
        _names(cls),
        getattr(cls, "omit_none", ()),
        getattr(cls, "omit_false", ()),
    )


_PLAIN = (str, int, float, bool, type(None), dict)


def wire(value: Any) -> Any:
    """The JSON value of a frame (``type`` first), of a part of one, or of plain data."""
    cls: type = type(value)
    if cls in _PLAIN:
        return value
    if cls is list:
        return [wire(v) for v in value]
    kind, names, skip_none, skip_false = _shape(cls)
    out: dict[str, Any] = {} if kind is None else {"type": kind}
    for name in names:
        item = getattr(value, name)
        if (item is None and name in skip_none) or (item is False and name in skip_false):
            continue
        out[name] = wire(item)
    return out


def dump(frame: ServerFrame) -> str:
    """The frame's text, as every socket receives it."""
    return json.dumps(wire(frame), ensure_ascii=False, separators=(",", ":"))


def parse_server_frame(data: dict[str, Any]) -> ServerFrame:
    """The frame a JSON object is, checked field by field (for clients and the docs' examples):
    every field of the frame and no other, at every level. ValueError otherwise."""
    kind = data.get("type")
    candidates = [c for c in _FRAME_TYPES if c.type == kind]  # type: ignore[attr-defined]
    if kind == "welcome":
        candidates = [VisitorWelcome if data.get("role") == "visitor" else AgentWelcome]
    elif kind == "campaign":
        candidates = [CampaignWithdrawn if "withdrawn" in data else CampaignOffer]
    if not candidates:
        raise ValueError(f"no server frame has type {kind!r}")
    return _build(candidates[0], {k: v for k, v in data.items() if k != "type"})


def _build(cls: type, data: Any) -> Any:
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__}: an object is expected, not {data!r}")
    hints = typing.get_type_hints(cls)
    names = set(_names(cls))
    required = {
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    unknown = set(data) - names
    missing = required - set(data)
    if unknown or missing:
        raise ValueError(f"{cls.__name__}: unknown {sorted(unknown)}, missing {sorted(missing)}")
    return cls(**{name: _value(hints[name], data[name]) for name in data})


def _value(hint: Any, value: Any) -> Any:
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, _UnionType) else ()
    if value is None and type(None) in options:
        return None
    for option in options or (hint,):
        if dataclasses.is_dataclass(option):
            return _build(option, value)  # type: ignore[arg-type]
        if typing.get_origin(option) is list:
            (item,) = typing.get_args(option)
            if not isinstance(value, list):
                raise ValueError(f"a list is expected, not {value!r}")
            return [_value(item, v) for v in value]
    return value


_UnionType = type(int | None)
