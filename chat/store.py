"""Persistence: every read and write of conversations and messages, one unit of work each.

Visibility lives here too: a visitor sees its own conversations, an agent those of its spaces,
and every query says so in its WHERE clause.

Each change a space's webhooks want is written to the events outbox (chat/outbox.py) in its
own unit of work: a message and the conversation it opens, an assignment, a status change.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from chat.clock import as_utc, iso, utcnow
from chat.db import Database, is_outage
from chat.errors import (
    BadToken,
    ClientIdTaken,
    ConversationNotFound,
    ConversationResolved,
    StoreUnavailable,
    VisitorHasOpenConversation,
)
from chat.frames import Author, ConversationState, ConversationSummary, MessageFrame
from chat.models import (
    agent_spaces,
    agents,
    conversations,
    messages,
    spaces,
    visitors,
)
from chat.outbox import Outbox, conversation_data, current_request_id, message_data
from chat.principals import AgentPrincipal, Principal, VisitorPrincipal
from chat.profiles import Profiles, VisitorProfile
from chat.types import AuthorKind, ConversationStatus
from chat.writer import BatchWriter, Pending

__all__ = [
    "Conversation",
    "Store",
    "StoredMessage",
    "WouldOpen",
    "conversation_of",
    "delete_space_conversations",
    "open_load",
]


class WouldOpen(Exception):
    """The message would open a new conversation, and the caller asked to be told first."""


@dataclass(frozen=True, slots=True)
class StoredMessage:
    id: int
    conversation_id: str
    space_id: str
    visitor_id: str
    seq: int
    client_id: str
    author_kind: AuthorKind
    author_id: str | None
    author_name: str | None
    body: str
    created_at: datetime

    def frame(self) -> MessageFrame:
        return MessageFrame(
            conversation_id=self.conversation_id,
            seq=self.seq,
            id=str(self.id),
            client_id=self.client_id,
            author=Author(self.author_kind, self.author_id, self.author_name),
            body=self.body,
            created_at=iso(self.created_at),
        )


@dataclass(frozen=True, slots=True)
class Conversation:
    id: str
    space_id: str
    visitor_id: str
    status: ConversationStatus
    last_seq: int
    created_at: datetime
    updated_at: datetime
    assignee_id: str | None = None  # None: waiting in the queue (see agents/routing.py)
    team_id: str | None = None

    def summary(self, space_key: str | None = None) -> ConversationSummary:
        return ConversationSummary(
            id=self.id,
            visitor_id=self.visitor_id,
            status=self.status,
            last_seq=self.last_seq,
            created_at=iso(self.created_at),
            updated_at=iso(self.updated_at),
            assignee_id=self.assignee_id,
            team_id=self.team_id,
            space=space_key,
        )

    def state(self) -> ConversationState:
        """The ``conversation`` frame: what changed, for every socket that shows it."""
        return ConversationState(
            conversation_id=self.id,
            status=self.status,
            visitor_id=self.visitor_id,
            last_seq=self.last_seq,
            updated_at=iso(self.updated_at),
            assignee_id=self.assignee_id,
            team_id=self.team_id,
        )


@dataclass(frozen=True, slots=True)
class AppendResult:
    message: StoredMessage
    duplicate: bool


def _new_id() -> str:
    return str(uuid.uuid4())


def conversation_of(row: Any) -> Conversation:
    return Conversation(
        id=row.id,
        space_id=row.space_id,
        visitor_id=row.visitor_id,
        status=row.status,
        last_seq=row.last_seq,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
        assignee_id=row.assignee_id,
        team_id=row.team_id,
    )


_author_name = sa.case(
    (messages.c.author_kind == "agent", agents.c.name),
    (messages.c.author_kind == "visitor", visitors.c.name),
    else_=sa.null(),
)

_MESSAGE_COLUMNS = (
    messages.c.id,
    messages.c.conversation_id,
    messages.c.space_id,
    conversations.c.visitor_id,
    messages.c.seq,
    messages.c.client_id,
    messages.c.author_kind,
    messages.c.author_id,
    _author_name.label("author_name"),
    messages.c.body,
    messages.c.created_at,
)

_MESSAGE_FROM = (
    messages.join(conversations, conversations.c.id == messages.c.conversation_id)
    .outerjoin(
        agents, sa.and_(messages.c.author_kind == "agent", agents.c.id == messages.c.author_id)
    )
    .outerjoin(
        visitors,
        sa.and_(messages.c.author_kind == "visitor", visitors.c.id == messages.c.author_id),
    )
)


def _message(row: Any) -> StoredMessage:
    return StoredMessage(
        id=row.id,
        conversation_id=row.conversation_id,
        space_id=row.space_id,
        visitor_id=row.visitor_id,
        seq=row.seq,
        client_id=row.client_id,
        author_kind=row.author_kind,
        author_id=row.author_id,
        author_name=row.author_name,
        body=row.body,
        created_at=as_utc(row.created_at),
    )


class Store:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.outbox = Outbox()  # agents/webhooks/ keeps its interest (who wants which events)
        self.writer = BatchWriter(db, outbox=self.outbox)

    async def close(self) -> None:
        await self.writer.close()

    # -- spaces and principals -------------------------------------------------------------

    async def space_by_key(self, key: str) -> tuple[str, str] | None:
        """(id, name) of a space, or None."""
        async with self.db.read() as conn:
            row = (
                await conn.execute(sa.select(spaces.c.id, spaces.c.name).where(spaces.c.key == key))
            ).first()
        return (row.id, row.name) if row else None

    async def create_visitor(self, space_id: str) -> str:
        return await Profiles(self.db).create(space_id)

    async def visitor_principal(self, visitor_id: str, space_id: str) -> VisitorPrincipal:
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    sa.select(
                        visitors.c.id, visitors.c.name, spaces.c.id.label("sid"), spaces.c.key
                    )
                    .select_from(visitors.join(spaces, spaces.c.id == visitors.c.space_id))
                    .where(visitors.c.id == visitor_id, visitors.c.space_id == space_id)
                )
            ).first()
        if row is None:
            raise BadToken()
        return VisitorPrincipal(id=row.id, space_id=row.sid, space_key=row.key, name=row.name)

    async def agent_principal(self, agent_id: str, token_version: int) -> AgentPrincipal:
        async with self.db.read() as conn:
            row = (await conn.execute(sa.select(agents).where(agents.c.id == agent_id))).first()
            if row is None or row.token_version != token_version or row.disabled:
                raise BadToken()
            member = await conn.execute(
                sa.select(spaces.c.id, spaces.c.key)
                .select_from(agent_spaces.join(spaces, spaces.c.id == agent_spaces.c.space_id))
                .where(agent_spaces.c.agent_id == agent_id)
            )
            space_map = {r.id: r.key for r in member}
        if not space_map:  # removed from its last space: its sessions and tokens end
            raise BadToken()
        return AgentPrincipal(
            id=row.id,
            name=row.name,
            email=row.email,
            role=row.role,
            token_version=row.token_version,
            spaces=space_map,
        )

    async def visitor_profile(self, principal: Principal, visitor_id: str) -> VisitorProfile | None:
        """A visitor's identity, attributes and context, if the principal may see them: an
        agent, the visitors of its spaces; a visitor, itself. None otherwise."""
        if isinstance(principal, VisitorPrincipal):
            if visitor_id != principal.id:
                return None
            return await Profiles(self.db).get(visitor_id, [principal.space_id])
        return await Profiles(self.db).get(visitor_id, list(principal.spaces))

    # -- conversations ---------------------------------------------------------------------

    @staticmethod
    def visible(principal: Principal) -> sa.ColumnElement[bool]:
        if isinstance(principal, VisitorPrincipal):
            return sa.and_(
                conversations.c.visitor_id == principal.id,
                conversations.c.space_id == principal.space_id,
            )
        return conversations.c.space_id.in_(list(principal.spaces))

    async def conversation(self, principal: Principal, conversation_id: str) -> Conversation:
        """A conversation the principal may see; anything else is 'not found'."""
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    sa.select(conversations).where(
                        conversations.c.id == conversation_id, self.visible(principal)
                    )
                )
            ).first()
        if row is None:
            raise ConversationNotFound()
        return conversation_of(row)

    async def visible_conversations(
        self, principal: Principal, ids: Sequence[str] = (), limit: int = 500
    ) -> list[Conversation]:
        """The ``limit`` most recently active open conversations the principal sees, plus
        every one of ``ids`` it may see (those always, however many are open)."""
        async with _Unit(self.db.read()) as conn:
            rows = list(
                await conn.execute(
                    sa.select(conversations)
                    .where(self.visible(principal), conversations.c.status == "open")
                    .order_by(conversations.c.updated_at.desc())
                    .limit(limit)
                )
            )
            missing = set(ids) - {r.id for r in rows}
            if missing:
                rows += await conn.execute(
                    sa.select(conversations).where(
                        self.visible(principal), conversations.c.id.in_(sorted(missing))
                    )
                )
            return [conversation_of(r) for r in rows]

    async def messages_after(
        self, conversation_id: str, after_seq: int, limit: int
    ) -> list[StoredMessage]:
        async with _Unit(self.db.read()) as conn:  # catch-up: a failure means "resume later"
            rows = await conn.execute(
                sa.select(*_MESSAGE_COLUMNS)
                .select_from(_MESSAGE_FROM)
                .where(messages.c.conversation_id == conversation_id, messages.c.seq > after_seq)
                .order_by(messages.c.seq)
                .limit(limit)
            )
            return [_message(r) for r in rows]

    async def messages_before(
        self, conversation_id: str, before_seq: int | None, limit: int
    ) -> list[StoredMessage]:
        query = sa.select(*_MESSAGE_COLUMNS).select_from(_MESSAGE_FROM)
        query = query.where(messages.c.conversation_id == conversation_id)
        if before_seq is not None:
            query = query.where(messages.c.seq < before_seq)
        async with self.db.read() as conn:
            rows = await conn.execute(query.order_by(messages.c.seq.desc()).limit(limit))
            return [_message(r) for r in reversed(list(rows))]

    async def resolve(self, agent: AgentPrincipal, conversation_id: str) -> Conversation:
        now = utcnow()
        return await self._set_state(
            agent, conversation_id, status="resolved", resolved_at=now, updated_at=now
        )

    async def reopen(self, agent: AgentPrincipal, conversation_id: str) -> Conversation:
        """Open a resolved conversation again, keeping its assignee. A visitor has one open
        conversation at most: if it has started another, this raises VisitorHasOpenConversation."""
        try:
            return await self._set_state(
                agent,
                conversation_id,
                status="open",
                resolved_at=None,
                updated_at=utcnow(),
                reopened=conversations.c.reopened + 1,
            )
        except IntegrityError:
            raise VisitorHasOpenConversation() from None

    async def _set_state(
        self, agent: AgentPrincipal, conversation_id: str, **values: Any
    ) -> Conversation:
        """Update a conversation the agent may see; anything else is 'not found'."""
        async with self._unit() as conn:
            before = None
            if self.outbox.interest.spaces("conversation.status_changed"):
                before = await conn.scalar(
                    sa.select(conversations.c.status).where(conversations.c.id == conversation_id)
                )
            row = (
                await conn.execute(
                    conversations.update()
                    .where(conversations.c.id == conversation_id, self.visible(agent))
                    .values(**values)
                    .returning(*conversations.c)
                )
            ).first()
            if row is not None and before is not None and before != row.status:
                await self._changed(conn, "conversation.status_changed", row)
        if row is None:
            raise ConversationNotFound()
        return conversation_of(row)

    async def _changed(self, conn: AsyncConnection, type: str, row: Any) -> None:
        """The event of a change to a conversation, in the change's unit, if wanted."""
        if await self.outbox.wanted(conn, row.space_id, type):
            await self.outbox.emit(
                conn,
                row.space_id,
                type,
                conversation_data(conversation_of(row)),
                conversation_id=row.id,
                visitor_id=row.visitor_id,
            )

    # -- assignment (agents/routing.py decides; this is where it is written) -----------------

    async def update_conversation(
        self, conversation_id: str, where: sa.ColumnElement[bool], **values: Any
    ) -> Conversation | None:
        """Change a conversation if it still matches ``where`` (one conditional UPDATE: of
        two concurrent changes one wins, the other gets None)."""
        assigns = "assignee_id" in values or "team_id" in values
        if values.get("assignee_id") is not None:
            values = {**values, **_first_assignment()}
        async with self._unit() as conn:
            row = (
                await conn.execute(
                    conversations.update()
                    .where(conversations.c.id == conversation_id, where)
                    .values(**values)
                    .returning(*conversations.c)
                )
            ).first()
            if row is not None and assigns:
                await self._changed(conn, "conversation.assigned", row)
        return conversation_of(row) if row is not None else None

    async def assign_within_capacity(
        self, conversation_id: str, agent_id: str, max_chats: int
    ) -> Conversation | Literal[False] | None:
        """Give a queued conversation to the agent if it has a free seat: the conversation;
        None if someone took the conversation first; False if the agent is full. On
        PostgreSQL the agent's row is locked while its load is counted, so two nodes never
        both fill its last seat (on SQLite the write lock serializes this)."""
        async with self._unit() as conn:
            if not self.db.sqlite:
                await conn.execute(
                    sa.select(agents.c.id).where(agents.c.id == agent_id).with_for_update()
                )
            load = (await conn.execute(sa.select(open_load(sa.literal(agent_id))))).scalar_one()
            if load >= max_chats:
                return False
            row = (
                await conn.execute(
                    conversations.update()
                    .where(
                        conversations.c.id == conversation_id,
                        conversations.c.assignee_id.is_(None),
                        conversations.c.status == "open",
                    )
                    .values(assignee_id=agent_id, assigned_at=utcnow(), **_first_assignment())
                    .returning(*conversations.c)
                )
            ).first()
            if row is not None:
                await self._changed(conn, "conversation.assigned", row)
        return conversation_of(row) if row is not None else None

    async def release(
        self, agent_id: str, space_ids: Collection[str] | None = None
    ) -> list[Conversation]:
        """Put the agent's open conversations (of these spaces, or all) back in the queue."""
        where = [conversations.c.assignee_id == agent_id, conversations.c.status == "open"]
        if space_ids is not None:
            where.append(conversations.c.space_id.in_(sorted(space_ids)))
        async with self._unit() as conn:
            rows = (
                await conn.execute(
                    conversations.update()
                    .where(*where)
                    .values(assignee_id=None, assigned_at=None)
                    .returning(*conversations.c)
                )
            ).all()
            for r in rows:
                await self._changed(conn, "conversation.assigned", r)
        return [conversation_of(r) for r in rows]

    async def clear_team(self, team_id: str) -> None:
        """A team is going: its queued conversations wait in their space's queue."""
        async with self._unit() as conn:
            await conn.execute(
                conversations.update()
                .where(conversations.c.team_id == team_id)
                .values(team_id=None)
            )

    # -- messages --------------------------------------------------------------------------

    async def append(
        self,
        principal: Principal,
        conversation_id: str | None,
        client_id: str,
        body: str,
        hint: str | None = None,
        *,
        may_open: bool = True,
    ) -> AppendResult:
        """Store one message, or find the one already stored under this client_id (see
        ``_append_once``); with ``may_open`` false, raise WouldOpen rather than open a new
        conversation (the caller checks its limits, then calls again).

        A pooled connection to a database server that has restarted since fails once: the
        pool is then emptied and, appending being idempotent on client_id, the message retried
        once on a fresh connection rather than refused to its sender."""
        try:
            return await self._append_once(
                principal, conversation_id, client_id, body, hint, may_open
            )
        except StoreUnavailable as exc:
            if not _lost_connection(exc):
                raise
        await self.db.forget_connections()
        return await self._append_once(principal, conversation_id, client_id, body, hint, may_open)

    async def _append_once(
        self,
        principal: Principal,
        conversation_id: str | None,
        client_id: str,
        body: str,
        hint: str | None = None,
        may_open: bool = True,
    ) -> AppendResult:
        """Store one message, or find the one already stored under this client_id.

        The common case takes one statement on PostgreSQL, two on SQLite (``_append_fast``):
        an open conversation the sender may write to, named by the frame or, for a visitor,
        by ``hint`` (the conversation its connection last wrote to), and a client_id not seen
        before. Everything else (a first message, a duplicate, a resolved or foreign
        conversation) takes the general path below, which also says what went wrong.

        The seq comes from the conversation row, incremented in the same transaction as the
        insert: on PostgreSQL the row lock orders concurrent writers, on SQLite the single
        writer does. A duplicate client_id racing on two connections meets the unique
        constraint, and the loser reads back the winner's message.
        """
        target = conversation_id or hint
        if target is not None:
            wanted = self.outbox.interest.spaces("message.created")
            fast = await self.writer.append(
                Pending(
                    target,
                    client_id,
                    principal.kind,
                    principal.id,
                    body,
                    author_name=principal.name,
                    request_id=current_request_id() if wanted else None,
                )
            )
            if fast is not None:
                return AppendResult(
                    StoredMessage(
                        id=fast.id,
                        conversation_id=target,
                        space_id=fast.space_id,
                        visitor_id=fast.visitor_id,
                        seq=fast.seq,
                        client_id=client_id,
                        author_kind=principal.kind,  # type: ignore[arg-type]
                        author_id=principal.id,
                        author_name=principal.name,
                        body=body,
                        created_at=fast.created_at,
                    ),
                    duplicate=False,
                )
        for _attempt in range(3):
            try:
                async with self._unit() as conn:
                    existing = await self._existing(conn, principal, conversation_id, client_id)
                    if existing is not None:
                        return AppendResult(existing, duplicate=True)
                    conv = await self._target(conn, principal, conversation_id, may_open)
                    stored = await self._insert(conn, principal, conv, client_id, body)
                    # a conversation is opened by its first message, in this unit of work
                    await self._announce(conn, conv, stored, opened=conv.last_seq == 0)
                    return AppendResult(stored, duplicate=False)
            except IntegrityError:
                continue  # a concurrent duplicate or a concurrent first conversation: look again
        raise StoreUnavailable("The message could not be stored; resend it.")

    async def _existing(
        self,
        conn: AsyncConnection,
        principal: Principal,
        conversation_id: str | None,
        client_id: str,
    ) -> StoredMessage | None:
        query = (
            sa.select(*_MESSAGE_COLUMNS)
            .select_from(_MESSAGE_FROM)
            .where(messages.c.client_id == client_id, self.visible(principal))
        )
        if conversation_id is not None and isinstance(principal, AgentPrincipal):
            query = query.where(messages.c.conversation_id == conversation_id)
        row = (await conn.execute(query.limit(1))).first()
        if row is None:
            return None
        if row.author_id != principal.id:
            raise ClientIdTaken(ref=client_id)
        return _message(row)

    async def _target(
        self,
        conn: AsyncConnection,
        principal: Principal,
        conversation_id: str | None,
        may_open: bool = True,
    ) -> Conversation:
        if isinstance(principal, AgentPrincipal):
            if conversation_id is None:
                raise ConversationNotFound("Agents name the conversation they write to.")
            row = (
                await conn.execute(
                    sa.select(conversations).where(
                        conversations.c.id == conversation_id, self.visible(principal)
                    )
                )
            ).first()
            if row is None:
                raise ConversationNotFound()
            if row.status != "open":
                raise ConversationResolved()
            return conversation_of(row)
        # a visitor writes to the conversation it names if it is still open, else to its open
        # conversation, else to a new one
        if conversation_id is not None:
            row = (
                await conn.execute(
                    sa.select(conversations).where(
                        conversations.c.id == conversation_id, self.visible(principal)
                    )
                )
            ).first()
            if row is None:
                raise ConversationNotFound()
            if row.status == "open":
                return conversation_of(row)
        row = (
            await conn.execute(
                sa.select(conversations).where(
                    self.visible(principal), conversations.c.status == "open"
                )
            )
        ).first()
        if row is not None:
            return conversation_of(row)
        if not may_open:
            raise WouldOpen()
        now = utcnow()
        conv = Conversation(
            id=_new_id(),
            space_id=principal.space_id,
            visitor_id=principal.id,
            status="open",
            last_seq=0,
            created_at=now,
            updated_at=now,
        )
        context = (
            await conn.execute(sa.select(visitors.c.context).where(visitors.c.id == principal.id))
        ).scalar() or {}
        await conn.execute(
            conversations.insert().values(
                id=conv.id,
                space_id=conv.space_id,
                visitor_id=conv.visitor_id,
                status="open",
                last_seq=0,
                created_at=now,
                updated_at=now,
                # where it started, as the widget last said (reports break down by page)
                entry_url=_text(context.get("url"), 2048),
                entry_referrer=_text(context.get("referrer"), 2048),
                entry_locale=_text(context.get("locale"), 35),
                entry_user_agent=_text(context.get("user_agent"), 512),
            )
        )
        return conv

    async def _insert(
        self,
        conn: AsyncConnection,
        principal: Principal,
        conv: Conversation,
        client_id: str,
        body: str,
    ) -> StoredMessage:
        now = utcnow()
        seq = (
            await conn.execute(
                conversations.update()
                .where(conversations.c.id == conv.id)
                .values(
                    last_seq=conversations.c.last_seq + 1,
                    updated_at=now,
                    **_tally(principal.kind, now),
                )
                .returning(conversations.c.last_seq)
            )
        ).scalar_one()
        message_id = (
            await conn.execute(
                messages.insert()
                .values(
                    conversation_id=conv.id,
                    space_id=conv.space_id,
                    seq=seq,
                    client_id=client_id,
                    author_kind=principal.kind,
                    author_id=principal.id,
                    body=body,
                    created_at=now,
                )
                .returning(messages.c.id)
            )
        ).scalar_one()
        return StoredMessage(
            id=message_id,
            conversation_id=conv.id,
            space_id=conv.space_id,
            visitor_id=conv.visitor_id,
            seq=seq,
            client_id=client_id,
            author_kind=principal.kind,  # type: ignore[arg-type]
            author_id=principal.id,
            author_name=principal.name,
            body=body,
            created_at=now,
        )

    async def _announce(
        self, conn: AsyncConnection, conv: Conversation, stored: StoredMessage, opened: bool
    ) -> None:
        """The events of a message stored by the general path (and of the conversation it
        opened), if the space wants them."""
        space_id = conv.space_id
        if opened and await self.outbox.wanted(conn, space_id, "conversation.created"):
            data = conversation_data(conv)
            who = (
                await conn.execute(
                    sa.select(visitors.c.name, visitors.c.email).where(
                        visitors.c.id == conv.visitor_id
                    )
                )
            ).first()
            data["visitor"] = {
                "id": conv.visitor_id,
                "name": who.name if who else None,
                "email": who.email if who else None,
            }
            await self.outbox.emit(
                conn,
                space_id,
                "conversation.created",
                data,
                conversation_id=conv.id,
                visitor_id=conv.visitor_id,
                at=conv.created_at,
            )
        if await self.outbox.wanted(conn, space_id, "message.created"):
            data = message_data(
                conversation_id=conv.id,
                visitor_id=conv.visitor_id,
                message_id=stored.id,
                seq=stored.seq,
                client_id=stored.client_id,
                author_kind=stored.author_kind,
                author_id=stored.author_id,
                author_name=stored.author_name,
                body=stored.body,
                created_at=stored.created_at,
            )
            await self.outbox.emit(
                conn,
                space_id,
                "message.created",
                data,
                conversation_id=conv.id,
                visitor_id=conv.visitor_id,
                at=stored.created_at,
            )

    def _unit(self) -> _Unit:
        return _Unit(self.db.write())


def _tally(kind: str, now: datetime) -> dict[str, Any]:
    """The conversation's counters a message of this author kind moves (see chat/writer.py,
    which does the same in SQL)."""
    if kind == "visitor":
        return {"visitor_messages": conversations.c.visitor_messages + 1}
    if kind == "agent":
        return {
            "agent_messages": conversations.c.agent_messages + 1,
            "first_agent_at": sa.func.coalesce(conversations.c.first_agent_at, now),
        }
    return {}


def _first_assignment() -> dict[str, Any]:
    """When a conversation first left the queue (kept through later transfers)."""
    return {"first_assigned_at": sa.func.coalesce(conversations.c.first_assigned_at, utcnow())}


def _text(value: object, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def open_load(agent_id: sa.ColumnElement[str]) -> sa.ScalarSelect[int]:
    """How many open conversations an agent has, in every space."""
    return (
        sa.select(sa.func.count())
        .select_from(conversations)
        .where(conversations.c.assignee_id == agent_id, conversations.c.status == "open")
        .scalar_subquery()
    )


async def delete_space_conversations(conn: AsyncConnection, space_id: str) -> int:
    """Delete a space's conversations and their messages, inside the transaction that deletes
    the space (chat/spaces.py ``delete_space``); what hangs on a conversation by a cascading
    key (read marks, tags, ratings, reviews) goes with it. The number of conversations."""
    await conn.execute(messages.delete().where(messages.c.space_id == space_id))
    deleted = await conn.execute(conversations.delete().where(conversations.c.space_id == space_id))
    return int(deleted.rowcount)


def _lost_connection(exc: StoreUnavailable) -> bool:
    """Whether the store failed on a connection that had been working (its server went away
    since), rather than on a server that refuses connections or does not answer."""
    cause = exc.__cause__
    if isinstance(cause, DBAPIError):
        return bool(cause.connection_invalidated)
    return cause is not None and not isinstance(cause, OSError)  # the driver's "closed"


class _Unit:
    """A read (``db.read()``) or write transaction (``db.write()``) whose connection failures
    surface as StoreUnavailable; a constraint violation stays what it is, for the caller."""

    def __init__(self, cm: contextlib.AbstractAsyncContextManager[AsyncConnection]) -> None:
        self._cm = cm

    async def __aenter__(self) -> AsyncConnection:
        try:
            return await self._cm.__aenter__()
        except (DBAPIError, OSError) as exc:
            raise StoreUnavailable() from exc

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        try:
            await self._cm.__aexit__(exc_type, exc, tb)
        except (DBAPIError, OSError) as failure:  # the commit (or release) itself failed
            if not is_outage(failure):
                raise
            raise StoreUnavailable() from failure
        if exc is not None and is_outage(exc):
            raise StoreUnavailable() from exc  # raised by a query inside the unit
