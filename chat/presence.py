"""Agent presence across every node: online, away or offline.

Each node knows the agents whose sockets it holds. It announces that list on the broker's
``presence`` channel whenever it changes and on a jittered heartbeat; every node keeps the
announcements it hears until they expire, so a node that dies takes its agents offline within
``ttl`` seconds. An agent's status is the most recent one any node reports for it; with no
node reporting it, it is offline. Changes reach the agent sockets of the agent's spaces as
``{"type": "presence", "agent_id", "name", "status"}`` frames, from each node to its own sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from chat.events import Event
from chat.frames import PresenceFrame
from chat.hub import Hub
from chat.logging import get_logger
from chat.principals import AgentPrincipal, space_channel

__all__ = ["PRESENCE_CHANNEL", "Presence", "Status"]

Status = Literal["online", "away", "offline"]
PRESENCE_CHANNEL = "presence"
Listener = Callable[[str, Status, Status, tuple[str, ...]], None]

log = get_logger("causette.presence")


@dataclass(slots=True)
class _Local:
    name: str
    spaces: tuple[str, ...]
    sockets: int = 0
    status: Status = "online"
    since: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class _Seen:
    name: str
    spaces: tuple[str, ...]
    status: Status
    since: float


class Presence:
    def __init__(self, hub: Hub, *, heartbeat: float = 10.0, ttl: float = 30.0) -> None:
        self.hub = hub
        self.node_id = uuid.uuid4().hex
        self.id = f"presence-{self.node_id}"  # as a hub subscriber
        self._heartbeat = heartbeat
        self._ttl = ttl
        self._local: dict[str, _Local] = {}
        self._nodes: dict[str, tuple[float, dict[str, _Seen]]] = {}  # node -> (expires, agents)
        self._status: dict[str, Status] = {}
        self._names: dict[str, str] = {}
        self._spaces: dict[str, tuple[str, ...]] = {}
        self._listeners: list[Listener] = []
        self._task: asyncio.Task[None] | None = None
        self._subscription: contextlib.AbstractAsyncContextManager[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self._subscription = self.hub.subscription(self, [PRESENCE_CHANNEL])
        await self._subscription.__aenter__()
        self._task = asyncio.create_task(self._beat(), name="presence-heartbeat")
        self._announce()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._local.clear()
        self._announce()  # say goodbye: our agents go offline at once elsewhere
        if self._subscription is not None:
            await self._subscription.__aexit__(None, None, None)

    def add_listener(self, listener: Listener) -> None:
        """Called as listener(agent_id, old, new, space_ids) on every status change."""
        self._listeners.append(listener)

    # -- what this node's sockets do -------------------------------------------------------

    def connected(self, agent: AgentPrincipal) -> None:
        local = self._local.get(agent.id)
        if local is None:
            local = self._local[agent.id] = _Local(agent.name, tuple(sorted(agent.spaces)))
            local.status = "online"
            local.since = time.time()
        local.sockets += 1
        if local.sockets == 1:
            self._announce()

    def disconnected(self, agent: AgentPrincipal) -> None:
        local = self._local.get(agent.id)
        if local is None:
            return
        local.sockets -= 1
        if local.sockets <= 0:
            del self._local[agent.id]
            self._announce()

    def set_status(self, agent_id: str, status: Literal["online", "away"]) -> None:
        local = self._local.get(agent_id)
        if local is None:
            return
        local.status = status
        local.since = time.time()
        self._announce()

    # -- queries ---------------------------------------------------------------------------

    def status(self, agent_id: str) -> Status:
        self._expire()
        return self._status.get(agent_id, "offline")

    def agents(self, space_id: str) -> dict[str, tuple[str, Status]]:
        """agent id -> (name, status) for every agent of the space some node reports."""
        self._expire()
        out: dict[str, tuple[str, Status]] = {}
        for agent_id, seen in self._latest().items():
            if space_id in seen.spaces:
                out[agent_id] = (seen.name, seen.status)
        return out

    def space_has_online_agent(self, space_id: str) -> bool:
        return any(status == "online" for _, status in self.agents(space_id).values())

    # -- the broker side -------------------------------------------------------------------

    def offer(self, event: Event) -> None:
        """An announcement from some node (this one included)."""
        try:
            data = json.loads(event.text)
            node = str(data["node"])
            agents = {
                str(agent_id): _Seen(str(a["n"]), tuple(a["sp"]), a["s"], float(a["t"]))
                for agent_id, a in data["agents"].items()
                if a["s"] in ("online", "away")
            }
        except (ValueError, KeyError, TypeError):
            log.warning("presence_undecodable")
            return
        self._nodes[node] = (time.monotonic() + self._ttl, agents)
        self._recompute()

    def resync(self) -> None:
        """The broker came back: others may have missed our state, and we theirs."""
        self._announce()

    def _announce(self) -> None:
        payload = {
            "node": self.node_id,
            "agents": {
                agent_id: {"n": a.name, "sp": list(a.spaces), "s": a.status, "t": a.since}
                for agent_id, a in self._local.items()
            },
        }
        event = Event("frame", "", 0, self.id, "", json.dumps(payload, separators=(",", ":")))
        self.hub.publish([PRESENCE_CHANNEL], event)
        # our own view must not wait for the broker's round trip
        self.offer(event)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat * random.uniform(0.8, 1.2))
            self._announce()
            self._expire()

    def _expire(self) -> None:
        now = time.monotonic()
        stale = [node for node, (expires, _) in self._nodes.items() if expires < now]
        if stale:
            for node in stale:
                del self._nodes[node]
            self._recompute()
            if any(node != self.node_id for node in stale):
                # a node that died may have stored and acked a message it never published
                self.hub.resync_all("node_lost")

    def _latest(self) -> dict[str, _Seen]:
        latest: dict[str, _Seen] = {}
        for _, agents in self._nodes.values():
            for agent_id, seen in agents.items():
                if agent_id not in latest or seen.since > latest[agent_id].since:
                    latest[agent_id] = seen
        return latest

    def _recompute(self) -> None:
        latest = self._latest()
        changed: list[tuple[str, Status, Status, str, tuple[str, ...]]] = []
        for agent_id in set(latest) | set(self._status):
            seen = latest.get(agent_id)
            new: Status = seen.status if seen else "offline"
            old = self._status.get(agent_id, "offline")
            if new != old:
                spaces = seen.spaces if seen else self._spaces.get(agent_id, ())
                name = seen.name if seen else self._names.get(agent_id, "")
                changed.append((agent_id, old, new, name, spaces))
        for agent_id, seen in latest.items():
            self._names[agent_id] = seen.name
            self._spaces[agent_id] = seen.spaces
        for agent_id, old, new, name, spaces in changed:
            if new == "offline":
                self._status.pop(agent_id, None)
            else:
                self._status[agent_id] = new
            event = Event.frame(PresenceFrame(agent_id, name, new))
            self.hub.deliver_local_once([space_channel(s) for s in spaces], event)
            for listener in self._listeners:
                try:
                    listener(agent_id, old, new, spaces)
                except Exception:
                    log.exception("presence_listener_failed")
