"""Routing: who answers which conversation.

A conversation enters its space's queue with its first message (no assignee; a team when it
was transferred to one). It is given to an online agent of the space (of the team) with free
capacity, least busy first. Agents also claim from the queue and transfer within the space,
never across. An agent offline for longer than the grace period has its open conversations
put back in the queue.

Every assignment is one conditional UPDATE (``... WHERE assignee_id IS NULL``): of two
agents claiming at once, or two nodes routing at once, one wins and the other sees it lost.
On PostgreSQL the chosen agent's row is locked while its load is counted, so two nodes never
both fill its last free seat. Each change is announced with the ``conversation`` frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable

import sqlalchemy as sa

from agents.models import team_members, teams
from chat.clock import utcnow
from chat.db import Database
from chat.errors import Conflict, ConversationResolved, InvalidRequest, NotAllowed, NotFound
from chat.logging import get_logger
from chat.models import agent_spaces, agents, conversations
from chat.presence import Presence, Status
from chat.principals import AgentPrincipal, Principal, VisitorPrincipal
from chat.receipts import mark_read
from chat.relay import Relay
from chat.store import Conversation, Store, StoredMessage, open_load

__all__ = ["Router"]

log = get_logger("causette.routing")

QUEUE_PASS = 100  # conversations looked at per space and pass
RESTART_WARMUP = 35.0  # seconds for presence to hear every node before trusting "offline"


class Router:
    def __init__(
        self, db: Database, store: Store, relay: Relay, presence: Presence, *, grace: float
    ) -> None:
        self.db = db
        self.store = store
        self.relay = relay
        self.presence = presence
        self.grace = grace
        self._offline_since: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._started = time.monotonic()

    async def start(self) -> None:
        self._started = time.monotonic()
        self.presence.add_listener(self._presence_changed)
        self._sweeper = asyncio.create_task(self._sweep(), name="routing-sweep")

    async def stop(self) -> None:
        tasks = [*self._tasks, *([self._sweeper] if self._sweeper else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

    # -- triggers --------------------------------------------------------------------------

    async def message_stored(self, principal: Principal, message: StoredMessage) -> None:
        """A visitor's first message queues a new conversation; an agent's reply marks the
        conversation read for it and, if nobody had it and the agent may claim it (no team, or
        one of its teams, or an admin), makes it the agent's: a reply never takes a
        conversation out of another team's queue."""
        if isinstance(principal, VisitorPrincipal):
            if message.seq == 1:
                await self.drain(message.space_id)
            return
        await mark_read(self.db, principal, message.conversation_id, message.seq)
        claimable = sa.and_(conversations.c.assignee_id.is_(None), conversations.c.status == "open")
        if principal.role != "admin":
            mine = sa.select(team_members.c.team_id).where(team_members.c.agent_id == principal.id)
            claimable = sa.and_(
                claimable,
                sa.or_(conversations.c.team_id.is_(None), conversations.c.team_id.in_(mine)),
            )
        conv = await self._update(
            message.conversation_id, claimable, assignee_id=principal.id, assigned_at=utcnow()
        )
        if conv is not None:
            self.relay.publish_state(conv)

    def _presence_changed(
        self, agent_id: str, old: Status, new: Status, space_ids: tuple[str, ...]
    ) -> None:
        if new == "offline":
            self._offline_since[agent_id] = time.monotonic()
            return
        self._offline_since.pop(agent_id, None)
        if new == "online":
            self._spawn(self._drain_all(space_ids))

    def _spawn(self, coro: object) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the queue -------------------------------------------------------------------------

    async def _drain_all(self, space_ids: Iterable[str]) -> None:
        for space_id in space_ids:
            try:
                await self.drain(space_id)
            except Exception:
                log.exception("drain_failed", space_id=space_id)

    async def drain(self, space_id: str) -> None:
        """Give queued conversations of the space to online agents with free capacity."""
        lock = self._locks.setdefault(space_id, asyncio.Lock())
        async with lock:
            async with self.db.read() as conn:
                queued = (
                    await conn.execute(
                        sa.select(conversations.c.id, conversations.c.team_id)
                        .where(
                            conversations.c.space_id == space_id,
                            conversations.c.status == "open",
                            conversations.c.assignee_id.is_(None),
                        )
                        .order_by(conversations.c.created_at)
                        .limit(QUEUE_PASS)
                    )
                ).all()
            full: set[str | None] = set()  # teams (None: the whole space) with no free seat
            for row in queued:
                if row.team_id in full:
                    continue
                conv = await self._auto_assign(space_id, row.id, row.team_id)
                if conv is None:
                    full.add(row.team_id)
                else:
                    log.info("conversation_assigned", conversation_id=conv.id, how="auto")
                    self.relay.publish_state(conv)

    async def _candidates(self, space_id: str, team_id: str | None) -> list[tuple[str, int]]:
        """(agent id, max chats) of online agents with a free seat, least busy first."""
        online = [
            a for a, (_, status) in self.presence.agents(space_id).items() if status == "online"
        ]
        if not online:
            return []
        load = open_load(agents.c.id)
        query = (
            sa.select(agents.c.id, agents.c.max_chats, load.label("load"))
            .select_from(agents.join(agent_spaces, agent_spaces.c.agent_id == agents.c.id))
            .where(
                agent_spaces.c.space_id == space_id,
                agents.c.id.in_(online),
                agents.c.max_chats > 0,
                agents.c.disabled.is_(False),  # its open socket may not have closed yet
            )
            .order_by(load, agents.c.id)
        )
        if team_id is not None:
            members = sa.select(team_members.c.agent_id).where(team_members.c.team_id == team_id)
            query = query.where(agents.c.id.in_(members))
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [(r.id, r.max_chats) for r in rows if r.load < r.max_chats]

    async def _auto_assign(
        self, space_id: str, conversation_id: str, team_id: str | None
    ) -> Conversation | None:
        for agent_id, max_chats in await self._candidates(space_id, team_id):
            assigned = await self.store.assign_within_capacity(conversation_id, agent_id, max_chats)
            if assigned is not False:
                return assigned  # the conversation, or None: someone took it first
        return None

    # -- what agents do --------------------------------------------------------------------

    async def claim(self, agent: AgentPrincipal, conversation_id: str) -> Conversation:
        conv = await self.store.conversation(agent, conversation_id)
        if conv.status != "open":
            raise ConversationResolved()
        if conv.assignee_id == agent.id:
            return conv
        if conv.assignee_id is not None:
            raise Conflict("Another agent has this conversation.", code="already_assigned")
        if conv.team_id is not None and not await self._may_take_team(agent, conv.team_id):
            raise NotAllowed("This conversation is waiting for another team.")
        claimed = await self._update(
            conv.id,
            sa.and_(conversations.c.assignee_id.is_(None), conversations.c.status == "open"),
            assignee_id=agent.id,
            assigned_at=utcnow(),
        )
        if claimed is None:
            raise Conflict("Another agent has this conversation.", code="already_assigned")
        log.info("conversation_assigned", conversation_id=conv.id, how="claim")
        self.relay.publish_state(claimed)
        return claimed

    async def transfer(
        self,
        agent: AgentPrincipal,
        conversation_id: str,
        *,
        to_agent: str | None = None,
        to_team: str | None = None,
    ) -> Conversation:
        """Give the conversation to an agent, or put it in a team's queue, in its own space."""
        conv = await self.store.conversation(agent, conversation_id)
        if conv.status != "open":
            raise ConversationResolved()
        await self._may_move(agent, conv)
        values: dict[str, object]
        if to_agent is not None:
            if not await self._in_space(to_agent, conv.space_id):
                raise NotFound("No such agent.", code="agent_not_found")
            values = {"assignee_id": to_agent, "assigned_at": utcnow()}
        elif to_team is not None:
            if not await self._team_in_space(to_team, conv.space_id):
                raise NotFound("No such team.", code="team_not_found")
            values = {"assignee_id": None, "assigned_at": None, "team_id": to_team}
        else:
            raise InvalidRequest("Name an agent or a team.")
        moved = await self._update(conv.id, _unchanged(conv), **values)
        if moved is None:
            raise Conflict("The conversation changed meanwhile: look again.")
        log.info("conversation_transferred", conversation_id=conv.id)
        self.relay.publish_state(moved)
        if moved.assignee_id is None:
            await self.drain(moved.space_id)
        return await self.store.conversation(agent, conv.id)

    async def unassign(self, agent: AgentPrincipal, conversation_id: str) -> Conversation:
        """Put the conversation back in the queue."""
        conv = await self.store.conversation(agent, conversation_id)
        if conv.status != "open":
            raise ConversationResolved()
        if agent.role != "admin" and conv.assignee_id != agent.id:
            raise NotAllowed("Only its assignee or an admin returns a conversation to the queue.")
        moved = await self._update(conv.id, _unchanged(conv), assignee_id=None, assigned_at=None)
        if moved is None:
            raise Conflict("The conversation changed meanwhile: look again.")
        self.relay.publish_state(moved)
        return moved

    async def release(self, agent_id: str) -> list[Conversation]:
        """Return an agent's open conversations to the queue."""
        released = await self.store.release(agent_id)
        for conv in released:
            self.relay.publish_state(conv)
        if released:
            log.info("conversations_requeued", agent_id=agent_id, count=len(released))
        await self._drain_all(sorted({c.space_id for c in released}))
        return released

    # -- rules -----------------------------------------------------------------------------

    async def _may_move(self, agent: AgentPrincipal, conv: Conversation) -> None:
        if agent.role == "admin" or conv.assignee_id == agent.id:
            return
        if conv.assignee_id is None and (
            conv.team_id is None or await self._may_take_team(agent, conv.team_id)
        ):
            return
        raise NotAllowed("Only its assignee or an admin transfers this conversation.")

    async def _may_take_team(self, agent: AgentPrincipal, team_id: str) -> bool:
        if agent.role == "admin":
            return True
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    sa.select(team_members.c.agent_id).where(
                        team_members.c.team_id == team_id, team_members.c.agent_id == agent.id
                    )
                )
            ).first()
        return row is not None

    async def _in_space(self, agent_id: str, space_id: str) -> bool:
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    sa.select(agent_spaces.c.agent_id).where(
                        agent_spaces.c.agent_id == agent_id, agent_spaces.c.space_id == space_id
                    )
                )
            ).first()
        return row is not None

    async def _team_in_space(self, team_id: str, space_id: str) -> bool:
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    sa.select(teams.c.id).where(teams.c.id == team_id, teams.c.space_id == space_id)
                )
            ).first()
        return row is not None

    async def _update(
        self, conversation_id: str, condition: sa.ColumnElement[bool], **values: object
    ) -> Conversation | None:
        return await self.store.update_conversation(conversation_id, condition, **values)

    # -- the sweep -------------------------------------------------------------------------

    async def _sweep(self) -> None:
        """Requeue the chats of agents offline past the grace period; give queued chats to
        agents who freed a seat (a resolve, a higher maximum) since the last look."""
        tick = min(max(self.grace / 4, 0.2), 5.0)
        last_check = 0.0
        while True:
            await asyncio.sleep(tick)
            try:
                now = time.monotonic()
                if now - self._started > RESTART_WARMUP and now - last_check > 30.0:
                    last_check = now
                    await self._notice_offline_assignees(now)
                for agent_id, since in list(self._offline_since.items()):
                    if self.presence.status(agent_id) != "offline":
                        self._offline_since.pop(agent_id, None)
                    elif now - since >= self.grace:
                        self._offline_since.pop(agent_id, None)
                        await self.release(agent_id)
                await self._drain_all(await self._queued_spaces())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("routing_sweep_failed")

    async def _notice_offline_assignees(self, now: float) -> None:
        """After a restart this node heard no one go offline: start their clocks now."""
        async with self.db.read() as conn:
            assignees = (
                await conn.execute(
                    sa.select(conversations.c.assignee_id)
                    .where(
                        conversations.c.status == "open", conversations.c.assignee_id.is_not(None)
                    )
                    .distinct()
                )
            ).scalars()
            for agent_id in assignees:
                if self.presence.status(agent_id) == "offline":
                    self._offline_since.setdefault(agent_id, now)

    async def _queued_spaces(self) -> list[str]:
        async with self.db.read() as conn:
            rows = await conn.execute(
                sa.select(conversations.c.space_id)
                .where(conversations.c.status == "open", conversations.c.assignee_id.is_(None))
                .distinct()
            )
            spaces = list(rows.scalars())
        return [s for s in spaces if self.presence.space_has_online_agent(s)]


def _unchanged(conv: Conversation) -> sa.ColumnElement[bool]:
    """Still open and assigned as when it was read: a concurrent move makes the update miss."""
    return sa.and_(
        conversations.c.status == "open",
        conversations.c.assignee_id.is_(None)
        if conv.assignee_id is None
        else conversations.c.assignee_id == conv.assignee_id,
    )
