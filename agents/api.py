"""The console's conversation endpoints: the inbox, one conversation, and what agents do to
it (claim, transfer, notes, tags, resolve, reopen).

Messages themselves go over the agent's WebSocket (acks, order, resume); everything here is
about the conversation around them. A conversation outside the agent's spaces is "not
found", whatever the call.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import StringConstraints, model_validator

from agents import annotation
from agents.csat import rating_of
from agents.inbox import VIEWS, Filters, Inbox
from agents.mail import Outbox
from agents.models import campaigns
from agents.rest import Body, Call, Op, Param
from agents.routing import Router
from agents.scopes import SESSION_ONLY
from agents.teams import space_id_of
from chat.clock import as_utc, iso
from chat.errors import InvalidRequest, NotFound
from chat.events import Event
from chat.frames import NoteFrame, TagsFrame, wire
from chat.principals import AgentPrincipal, space_channel
from chat.receipts import marks_for
from chat.store import Conversation

__all__ = ["OPS"]

TAG_RE = re.compile(r"^[\w][\w .:-]{0,39}$")
HISTORY = 200


class Transfer(Body):
    agent_id: str | None = None
    team_id: str | None = None

    @model_validator(mode="after")
    def one_target(self) -> Transfer:
        if (self.agent_id is None) == (self.team_id is None):
            raise ValueError("name either an agent_id or a team_id")
        return self


class NewNote(Body):
    body: Annotated[str, StringConstraints(min_length=1, max_length=4000)]


class NewTag(Body):
    tag: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]


def _router(call: Call) -> Router:
    return call.console.router


async def _entry(call: Call, conversation_id: str) -> dict[str, Any]:
    entry = await Inbox(call.ctx.db).one(call.me, conversation_id)
    if entry is None:
        raise NotFound("No such conversation.", code="conversation_not_found")
    return entry


def _publish_space(call: Call, conv: Conversation, frame: NoteFrame | TagsFrame) -> None:
    """To the agents of the conversation's space only: never on the visitor's channel."""
    event = Event.frame(frame, conv.id)
    call.ctx.hub.publish([space_channel(conv.space_id)], event)


# -- the inbox -----------------------------------------------------------------------------


async def inbox_counts(call: Call) -> dict[str, Any]:
    return {"counts": await Inbox(call.ctx.db).counts(call.me)}


async def list_conversations(call: Call) -> dict[str, Any]:
    view = call.query("view", "mine")
    status = call.query("status", "open")
    if view not in VIEWS:
        raise InvalidRequest(f"view: one of {', '.join(VIEWS)}")
    if status not in ("open", "resolved", "any"):
        raise InvalidRequest("status: open, resolved or any")
    space = call.query("space")
    try:
        limit = int(call.query("limit", "50") or 50)
    except ValueError:
        raise InvalidRequest("limit: a number") from None
    filters = Filters(
        view=view,
        status=status,  # type: ignore[arg-type]
        text=(call.query("q") or "").strip()[:200] or None,
        tag=(call.query("tag") or "").strip()[:40] or None,
        visitor=(call.query("visitor") or "").strip()[:320] or None,
        space_id=space_id_of(call.me, space) if space else None,
        limit=limit,
    )
    return {"conversations": await Inbox(call.ctx.db).entries(call.me, filters)}


# -- one conversation ----------------------------------------------------------------------


async def _campaign_of(call: Call, entry: dict[str, Any]) -> dict[str, Any] | None:
    """The campaign whose invitation opened the conversation, as its agents see it."""
    if entry["campaign"] is None:
        return None
    async with call.ctx.db.read() as conn:
        name = (
            await conn.execute(
                sa.select(campaigns.c.name).where(
                    campaigns.c.id == entry["campaign"]["id"],
                    campaigns.c.space_id == entry["space_id"],
                )
            )
        ).scalar()
    return {**entry["campaign"], "name": name}


async def get_conversation(call: Call) -> dict[str, Any]:
    me = call.me
    ctx = call.ctx
    entry = await _entry(call, call.path("conversation_id"))
    conv_id = entry["id"]
    history = await ctx.store.messages_before(conv_id, None, HISTORY)
    profile = await ctx.store.visitor_profile(me, entry["visitor"]["id"])
    marks = (await marks_for(ctx.db, [conv_id])).get(conv_id, [])
    return {
        "conversation": entry,
        "visitor": profile.public() if profile is not None else entry["visitor"],
        "messages": [wire(m.frame()) for m in history],
        "notes": await annotation.notes_of(ctx.db, me, conv_id),
        "csat": await rating_of(ctx.db, conv_id),
        "email": await Outbox(ctx.db).status_of(conv_id),
        "campaign": await _campaign_of(call, entry),
        "reads": [
            {
                "reader": {"kind": m.reader_kind, "id": m.reader_id},
                "seq": m.last_read_seq,
                "at": iso(as_utc(m.updated_at)),
            }
            for m in marks
        ],
    }


async def claim(call: Call) -> dict[str, Any]:
    await _router(call).claim(call.me, call.path("conversation_id"))
    return await _entry(call, call.path("conversation_id"))


async def transfer(call: Call) -> dict[str, Any]:
    body: Transfer = call.body
    await _router(call).transfer(
        call.me, call.path("conversation_id"), to_agent=body.agent_id, to_team=body.team_id
    )
    return await _entry(call, call.path("conversation_id"))


async def unassign(call: Call) -> dict[str, Any]:
    conv = await _router(call).unassign(call.me, call.path("conversation_id"))
    await _router(call).drain(conv.space_id)
    return await _entry(call, conv.id)


async def resolve(call: Call) -> dict[str, Any]:
    conv = await call.ctx.store.resolve(call.me, call.path("conversation_id"))
    await call.ctx.relay.resolved(conv)
    await _router(call).drain(conv.space_id)  # a seat came free
    return await _entry(call, conv.id)


async def reopen(call: Call) -> dict[str, Any]:
    conv = await call.ctx.store.reopen(call.me, call.path("conversation_id"))
    call.ctx.relay.publish_state(conv)
    return await _entry(call, conv.id)


async def add_note(call: Call) -> dict[str, Any]:
    me: AgentPrincipal = call.me
    conv = await call.ctx.store.conversation(me, call.path("conversation_id"))
    body: NewNote = call.body
    if not body.body.strip():
        raise InvalidRequest("The note is empty.", code="empty_body")
    note = await annotation.add_note(call.ctx.db, me, conv, body.body)
    _publish_space(call, conv, NoteFrame(conv.id, note))
    return note


async def _tags(call: Call, conv: Conversation) -> dict[str, Any]:
    tags = (await Inbox(call.ctx.db).tags_of([conv.id])).get(conv.id, [])
    frame = TagsFrame(conv.id, tags)
    _publish_space(call, conv, frame)
    return wire(frame)


async def add_tag(call: Call) -> dict[str, Any]:
    conv = await call.ctx.store.conversation(call.me, call.path("conversation_id"))
    body: NewTag = call.body
    tag = body.tag.lower()
    if not TAG_RE.match(tag):
        raise InvalidRequest(
            "A tag is letters, digits, spaces, '.', ':' or '-'.", code="invalid_tag"
        )
    await annotation.add_tag(call.ctx.db, conv, tag)
    return await _tags(call, conv)


async def remove_tag(call: Call) -> dict[str, Any]:
    conv = await call.ctx.store.conversation(call.me, call.path("conversation_id"))
    await annotation.remove_tag(call.ctx.db, conv, call.path("tag").lower())
    return await _tags(call, conv)


_CONV = "/api/conversations/{conversation_id}"
_Q = Param

OPS = [
    Op(
        "GET",
        "/api/inbox/counts",
        inbox_counts,
        "Open conversations per view",
        "inbox",
        response="Counts",
        scopes=("conversations:read",),
    ),
    Op(
        "GET",
        "/api/conversations",
        list_conversations,
        "The inbox: a view, filtered and searched",
        "inbox",
        response="ConversationList",
        query=(
            _Q(
                "view",
                "mine, unassigned, team or all (admin, marketing)",
                {"type": "string", "enum": list(VIEWS), "default": "mine"},
            ),
            _Q(
                "status",
                "open, resolved or any",
                {"type": "string", "enum": ["open", "resolved", "any"], "default": "open"},
            ),
            _Q("q", "text in messages, or the visitor's name or email"),
            _Q("tag", "a tag"),
            _Q("visitor", "a visitor id, external id, name or email"),
            _Q("space", "a space key"),
            _Q("limit", "at most this many (1-200)", {"type": "integer", "default": 50}),
        ),
        errors=(400, 403, 404),
        scopes=("conversations:read",),
    ),
    Op(
        "GET",
        _CONV,
        get_conversation,
        "A conversation: transcript, notes, visitor, receipts",
        "conversations",
        response="ConversationDetail",
        errors=(404,),
        scopes=("conversations:read",),
    ),
    Op(
        "POST",
        f"{_CONV}/claim",
        claim,
        "Take a queued conversation",
        "conversations",
        response="InboxEntry",
        errors=(403, 404, 409),
        scopes=SESSION_ONLY,
    ),
    Op(
        "POST",
        f"{_CONV}/transfer",
        transfer,
        "Give the conversation to an agent or a team of its space",
        "conversations",
        body=Transfer,
        response="InboxEntry",
        errors=(400, 403, 404, 409),
        scopes=("messages:write",),
    ),
    Op(
        "POST",
        f"{_CONV}/unassign",
        unassign,
        "Put the conversation back in the queue",
        "conversations",
        response="InboxEntry",
        errors=(403, 404, 409),
        scopes=("messages:write",),
    ),
    Op(
        "POST",
        f"{_CONV}/resolve",
        resolve,
        "Resolve",
        "conversations",
        response="InboxEntry",
        errors=(404,),
        scopes=("messages:write",),
    ),
    Op(
        "POST",
        f"{_CONV}/reopen",
        reopen,
        "Reopen a resolved conversation",
        "conversations",
        response="InboxEntry",
        errors=(404, 409),
        scopes=("messages:write",),
    ),
    Op(
        "POST",
        f"{_CONV}/notes",
        add_note,
        "Add a private note (never sent to the visitor)",
        "conversations",
        body=NewNote,
        response="Note",
        status=201,
        errors=(400, 404),
        scopes=("messages:write",),
    ),
    Op(
        "POST",
        f"{_CONV}/tags",
        add_tag,
        "Tag",
        "conversations",
        body=NewTag,
        response="Tags",
        errors=(400, 404),
        scopes=("messages:write",),
    ),
    Op(
        "DELETE",
        f"{_CONV}/tags/{{tag}}",
        remove_tag,
        "Remove a tag",
        "conversations",
        response="Tags",
        errors=(404,),
        scopes=("messages:write",),
    ),
]
