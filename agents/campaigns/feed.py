"""Live campaigns, pushed to every connected widget of their space on every node, and what
visitors do about them (exposures, goals).

Each node keeps, per space with a visitor connected here, the space's launched campaigns and
what it last offered its sockets. A change anywhere publishes ``Changed("campaigns", space)``
on the broker; every node holding that space reads it again and tells its sockets the
difference: a ``campaign`` frame for each campaign now shown or changed, ``withdrawn`` for
each one no longer shown. A clock tick does the same for start and end times, and a periodic
reread covers a broker outage. A socket that connects later gets the current set after its
welcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from agents.campaigns.assignment import HOLDOUT, arm_for
from agents.campaigns.rules import url_matches
from agents.campaigns.store import Campaign, CampaignStore
from agents.campaigns.tracking import Tracking
from chat.clock import utcnow
from chat.connection import Connection
from chat.db import Database
from chat.errors import CampaignNotFound
from chat.events import Changed, Event
from chat.frames import CampaignOffer, CampaignWithdrawn
from chat.hub import Hub
from chat.logging import get_logger
from chat.models import conversations, spaces
from chat.principals import VisitorPrincipal
from chat.protocol import CampaignFrame, Context, Exposure, Track
from chat.relay import VisitorListener
from chat.store import Store, StoredMessage

__all__ = ["CHANNEL", "CampaignFeed", "announce"]

log = get_logger("causette.campaigns")

CHANNEL = "campaigns"
TOPIC = "campaigns"
KEEP_ENDED = timedelta(days=90)  # an ended campaign's goals still count within their window
STATUS_TTL = 5.0  # seconds the space status's "campaigns" is read from memory


def announce(hub: Hub, space_id: str) -> None:
    """Tell every node that the space's campaigns changed."""
    hub.publish((CHANNEL,), Event.control(Changed(TOPIC, space_id)))


@dataclass(slots=True)
class _Space:
    campaigns: dict[str, Campaign] = field(default_factory=dict)
    time_zone: str = "UTC"
    offered: dict[str, int] = field(default_factory=dict)  # campaign id -> version offered
    conns: set[Connection] = field(default_factory=set)
    loaded_at: float = 0.0


class CampaignFeed(VisitorListener):
    def __init__(
        self,
        db: Database,
        hub: Hub,
        store: Store,
        *,
        tick: float = 1.0,
        reread: float = 30.0,
    ) -> None:
        self.db = db
        self.hub = hub
        self.store = store
        self.campaigns = CampaignStore(db)
        self.tracking = Tracking(db, store.outbox)
        self.id = f"campaign-feed-{uuid.uuid4()}"
        self._tick = tick
        self._reread = reread
        self._spaces: dict[str, _Space] = {}
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._live_spaces: dict[str, tuple[float, bool]] = {}  # space -> (until, answer)

    # -- lifetime --------------------------------------------------------------------------

    async def start(self) -> None:
        ready = asyncio.Event()
        self._task = asyncio.create_task(self._run(ready), name="campaign-feed")
        await ready.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self, ready: asyncio.Event) -> None:
        async with self.hub.subscription(self, (CHANNEL,)):
            ready.set()
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._tick)
                self._wake.clear()
                try:
                    await self._refresh()
                except Exception:  # the database may be away: the next tick tries again
                    log.warning("campaign_refresh_failed", exc_info=True)

    # the hub's subscriber: broker events and outages

    def offer(self, event: Event) -> None:
        control = event.control_value()
        if not isinstance(control, Changed) or control.topic != TOPIC:
            return
        self._live_spaces.pop(control.key, None)
        if control.key in self._spaces:
            self._dirty.add(control.key)
            self._wake.set()

    def resync(self) -> None:
        """Events may have been lost while the broker was away: read every space again."""
        self._dirty.update(self._spaces)
        self._wake.set()

    async def _refresh(self) -> None:
        loop = asyncio.get_running_loop()
        for space_id, space in list(self._spaces.items()):
            if space_id in self._dirty or loop.time() - space.loaded_at >= self._reread:
                self._dirty.discard(space_id)
                await self._load(space_id, space)
            self._push(space_id, space)

    async def _load(self, space_id: str, space: _Space) -> None:
        now = utcnow()
        found = await self.campaigns.of_space(
            space_id, statuses=("scheduled", "live", "paused", "ended")
        )
        space.campaigns = {
            c.id: c
            for c in found
            if c.phase > 0 and (c.status != "ended" or now - c.updated_at < KEEP_ENDED)
        }
        async with self.db.read() as conn:
            zone = (
                await conn.execute(sa.select(spaces.c.time_zone).where(spaces.c.id == space_id))
            ).scalar()
        space.time_zone = zone or "UTC"
        space.loaded_at = asyncio.get_running_loop().time()

    def _active(self, space: _Space, now: datetime) -> dict[str, Campaign]:
        return {cid: c for cid, c in space.campaigns.items() if c.active(now)}

    def _push(self, space_id: str, space: _Space) -> None:
        """Tell this node's sockets of the space what changed since the last push."""
        active = self._active(space, utcnow())
        changed = [c for cid, c in active.items() if space.offered.get(cid) != c.version]
        gone = [cid for cid in space.offered if cid not in active]
        if not changed and not gone:
            return
        for conn in tuple(space.conns):
            for campaign in changed:
                conn.send_frame(self._offer(conn.principal, campaign, space))
            for cid in gone:
                conn.send_frame(CampaignWithdrawn(cid))
        space.offered = {cid: c.version for cid, c in active.items()}
        log.info(
            "campaigns_pushed",
            space_id=space_id,
            sockets=len(space.conns),
            offered=len(changed),
            withdrawn=len(gone),
        )

    def _offer(self, principal: Any, campaign: Campaign, space: _Space) -> CampaignOffer:
        d = campaign.definition
        arm_key = arm_for(campaign.id, campaign.phase, principal.id, campaign.arms(), d["holdout"])
        arm = next((a for a in d["arms"] if a["key"] == arm_key), None)
        return CampaignOffer(
            campaign_id=campaign.id,
            phase=campaign.phase,
            arm=arm_key,
            rules=d["rules"],
            message=arm["message"] if arm else None,
            buttons=list(arm.get("buttons", [])) if arm else [],
            sender=arm.get("sender") if arm else None,
            priority=campaign.priority,
            caps=d["caps"],
            time_zone=space.time_zone,
        )

    # -- the relay's visitor listener ------------------------------------------------------

    async def joined(self, conn: Connection) -> None:
        principal = conn.principal
        assert isinstance(principal, VisitorPrincipal)
        space = self._spaces.get(principal.space_id)
        if space is None:
            space = _Space()
            await self._load(principal.space_id, space)
            space.offered = {cid: c.version for cid, c in self._active(space, utcnow()).items()}
            self._spaces.setdefault(principal.space_id, space)
            space = self._spaces[principal.space_id]
        space.conns.add(conn)
        for campaign in self._active(space, utcnow()).values():
            if campaign.id in space.offered:  # what the others have; a newer one is pushed soon
                conn.send_frame(self._offer(principal, campaign, space))

    async def wants_every_visitor(self, space_id: str) -> bool:
        """A campaign of the space is live now (read at most every few seconds per space)."""
        space = self._spaces.get(space_id)
        now = utcnow()
        if space is not None:
            return bool(self._active(space, now))
        clock = asyncio.get_running_loop().time()
        cached = self._live_spaces.get(space_id)
        if cached is not None and cached[0] > clock:
            return cached[1]
        found = await self.campaigns.of_space(space_id, statuses=("scheduled", "live"))
        answer = any(c.active(now) for c in found)
        if len(self._live_spaces) > 10_000:
            self._live_spaces.clear()
        self._live_spaces[space_id] = (clock + STATUS_TTL, answer)
        return answer

    def left(self, conn: Connection) -> None:
        principal = conn.principal
        space = self._spaces.get(principal.space_id)  # type: ignore[union-attr]
        if space is None:
            return
        space.conns.discard(conn)
        if not space.conns:
            del self._spaces[principal.space_id]  # type: ignore[union-attr]

    async def frame(self, conn: Connection, frame: CampaignFrame) -> bool:
        if not isinstance(frame, Exposure):
            return False
        principal = conn.principal
        assert isinstance(principal, VisitorPrincipal)
        space = self._spaces.get(principal.space_id)
        campaign = space.campaigns.get(frame.campaign_id) if space else None
        if campaign is None:
            raise CampaignNotFound("No such campaign.")
        if frame.phase != campaign.phase:
            return True  # a phase that is over: its counts are closed
        arm = arm_for(
            campaign.id,
            campaign.phase,
            principal.id,
            campaign.arms(),
            campaign.definition["holdout"],
        )
        if await self.tracking.expose(
            campaign.id, campaign.phase, principal.space_id, principal.id, arm
        ):
            log.info("campaign_exposure", campaign_id=campaign.id, phase=campaign.phase, arm=arm)
        return True

    def _goals(self, space_id: str, match: Any) -> dict[str, list[tuple[int, int]]]:
        """campaign id -> [(goal index, window hours)] of the space's goals ``match`` takes."""
        space = self._spaces.get(space_id)
        if space is None:
            return {}
        out: dict[str, list[tuple[int, int]]] = {}
        for campaign in space.campaigns.values():
            goals = [campaign.definition["goal"], *campaign.definition["secondary_goals"]]
            for index, goal in enumerate(goals):
                if match(campaign, goal):
                    out.setdefault(campaign.id, []).append((index, goal["window_hours"]))
        return out

    async def tracked(self, visitor: VisitorPrincipal, frame: Track) -> None:
        goals = self._goals(visitor.space_id, lambda _c, g: g.get("event") == frame.event)
        if not goals:
            return
        await self.tracking.store_event(
            visitor.space_id, visitor.id, frame.event, dict(frame.props)
        )
        await self.tracking.convert(visitor.id, goals)

    async def viewed(self, visitor: VisitorPrincipal, frame: Context) -> None:
        goals = self._goals(
            visitor.space_id,
            lambda _c, g: g.get("url") is not None and url_matches(g["url"], frame.url),
        )
        if goals:
            await self.tracking.convert(visitor.id, goals)

    async def opened(
        self, visitor: VisitorPrincipal, message: StoredMessage, campaign_id: str | None
    ) -> None:
        space = self._spaces.get(visitor.space_id)
        campaign = space.campaigns.get(campaign_id) if space and campaign_id else None
        if campaign is not None:
            seen = await self.tracking.exposed(visitor.id, [campaign.id], utcnow() - KEEP_ENDED)
            shown = [e for e in seen if e.phase == campaign.phase and e.arm != HOLDOUT]
            if shown:
                await self.store.update_conversation(
                    message.conversation_id,
                    conversations.c.campaign_id.is_(None),
                    campaign_id=campaign.id,
                    campaign_phase=campaign.phase,
                    campaign_arm=shown[0].arm,
                )
                replied = self._goals(
                    visitor.space_id, lambda c, g: c.id == campaign.id and g.get("replied")
                )
                await self.tracking.convert(visitor.id, replied)
        started = self._goals(visitor.space_id, lambda _c, g: bool(g.get("conversation")))
        await self.tracking.convert(visitor.id, started)

    async def rated(self, space_id: str, visitor_id: str, score: int) -> None:
        """A CSAT rating (agents/csat.py): the goals of at least that score."""
        goals = self._goals(
            space_id, lambda _c, g: g.get("csat") is not None and score >= g["csat"]
        )
        await self.tracking.convert(visitor_id, goals)
