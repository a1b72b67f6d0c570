"""Wire protocol v1: the frames, defined once and validated at the socket edge only.

docs/protocol.md describes the same frames for client authors; keep the two in step.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from chat.errors import BodyTooLong, EmptyBody, InvalidFrame, InvalidText, UnknownType
from chat.jsontext import check_storable, check_text, parse_object

__all__ = [
    "MAX_ATTRIBUTES",
    "PROTOCOL_VERSION",
    "Attributes",
    "CampaignFrame",
    "ClientFrame",
    "Contact",
    "Context",
    "Csat",
    "Exposure",
    "Hello",
    "History",
    "Identify",
    "MessageIn",
    "Ping",
    "Read",
    "Resolve",
    "SetPresence",
    "Track",
    "Typing",
    "VisitorFrame",
    "parse_client_frame",
]

PROTOCOL_VERSION = 1

_UUID = r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
ClientId = Annotated[str, StringConstraints(pattern=_UUID)]
ConversationId = Annotated[str, StringConstraints(min_length=1, max_length=36)]
Seq = Annotated[int, Field(ge=0, le=2**31 - 1)]  # the column's range on every backend


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
    # a visitor's first message in answer to a proactive invitation: the campaign it answers
    campaign_id: ConversationId | None = None


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


class Read(_Frame):
    """The reader has seen the conversation up to ``seq`` (a read receipt)."""

    type: Literal["read"]
    conversation_id: ConversationId
    seq: Seq


# -- what the widget tells about its visitor (visitors only; agents of the space hear of it) --

_NO_NUL = r"^[^\x00]*$"
MAX_ATTRIBUTES = 50
MAX_TRACK_PROPS = 20
PageText = Annotated[str, StringConstraints(max_length=2048, pattern=_NO_NUL)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200, pattern=_NO_NUL)]
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, max_length=320, pattern=r"^([^@\s\x00]+@[^@\s\x00]+)?$"
    ),
]
AttributeKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")]
AttributeValue = (
    Annotated[str, StringConstraints(max_length=500, pattern=_NO_NUL)]
    | bool
    | int
    | Annotated[float, Field(allow_inf_nan=False)]
    | None
)


class Context(_Frame):
    """Where the visitor is: sent after each hello and on every page change."""

    type: Literal["context"]
    url: PageText
    referrer: PageText = ""
    locale: Annotated[str, StringConstraints(max_length=35, pattern=r"^[A-Za-z0-9_-]*$")] = ""
    title: Annotated[str, StringConstraints(max_length=300, pattern=_NO_NUL)] = ""


class Identify(_Frame):
    """Who the site says the visitor is; ``signature`` is the hex HMAC-SHA256 of ``id`` keyed
    with the space's identity secret, computed on the site's server."""

    type: Literal["identify"]
    id: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=_NO_NUL)]
    name: Name | None = None
    email: Email | None = None
    signature: Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$")] | None = None


class Contact(_Frame):
    """What the visitor typed into the pre-chat or leave-a-message form."""

    type: Literal["contact"]
    name: Name | None = None
    email: Email | None = None


class Attributes(_Frame):
    """Custom attributes, merged into the visitor's; a null value removes one."""

    type: Literal["attributes"]
    attributes: dict[AttributeKey, AttributeValue] = Field(max_length=MAX_ATTRIBUTES)


class Track(_Frame):
    """Something the visitor did on the site, passed on to the agents of the space."""

    type: Literal["track"]
    event: Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=_NO_NUL)]
    props: dict[AttributeKey, AttributeValue] = Field(
        default_factory=dict, max_length=MAX_TRACK_PROPS
    )


class Exposure(_Frame):
    """The widget showed a campaign's invitation (or, for the holdout, would have)."""

    type: Literal["exposure"]
    campaign_id: ConversationId
    phase: Annotated[int, Field(ge=1, le=2**31 - 1)]


class Csat(_Frame):
    """The visitor's rating of a resolved conversation, 1 to 5, with an optional comment."""

    type: Literal["csat"]
    conversation_id: ConversationId
    score: Annotated[int, Field(ge=1, le=5)]
    comment: Annotated[str, StringConstraints(max_length=1000, pattern=_NO_NUL)] | None = None


VisitorFrame = Context | Identify | Contact | Attributes | Track
CampaignFrame = Exposure | Csat  # visitors only, handled by the relay's visitor listeners


ClientFrame = (
    Hello
    | MessageIn
    | Typing
    | Resolve
    | History
    | Ping
    | SetPresence
    | Read
    | VisitorFrame
    | CampaignFrame
)

_FRAMES: dict[str, type[_Frame]] = {
    "context": Context,
    "identify": Identify,
    "contact": Contact,
    "attributes": Attributes,
    "track": Track,
    "exposure": Exposure,
    "csat": Csat,
    "hello": Hello,
    "message": MessageIn,
    "typing": Typing,
    "resolve": Resolve,
    "history": History,
    "ping": Ping,
    "presence": SetPresence,
    "read": Read,
}


def frame_ref(raw: Any) -> str | None:
    """The client_id of a frame, to tie an error to what the client sent (echoed back only if
    it is short, storable text: a lone surrogate could not even be sent back)."""
    if isinstance(raw, dict):
        ref = raw.get("client_id")
        if isinstance(ref, str) and len(ref) <= 64:
            try:
                check_text(ref)
            except InvalidText:
                return None
            return ref
    return None


def parse_client_frame(text: str | bytes, *, max_body_chars: int) -> ClientFrame:
    """Turn one text frame into a typed frame, or raise a FrameError carrying its code."""
    raw = parse_object(text, what="frame")
    ref = frame_ref(raw)
    try:
        check_storable(raw)
    except InvalidText:
        raise InvalidText(ref=ref) from None
    kind = raw.get("type")
    model = _FRAMES.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise UnknownType(f"Unknown frame type: {str(kind)[:40]!r}.", ref=ref)
    try:
        frame = model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "frame"
        what = first["msg"]
        if first["type"] == "string_pattern_mismatch":
            what = "must be a UUID" if where == "client_id" else "is not in the expected format"
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
