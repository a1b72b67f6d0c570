"""A visitor's whole life in a space, straight into the database at known times: its
profile (identity, contact, a phone attribute, context), a conversation with messages, a
note, a tag, a read mark and a rating with a comment, a campaign exposure, a goal event and
a conversion. For the tests of retention, holds, erasure and access requests, which must
find every row or none of them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from agents.models import (
    campaigns,
    conversation_tags,
    conversions,
    csat_ratings,
    exposures,
    goal_events,
    notes,
)
from chat.db import Database
from chat.models import agents, conversations, messages, read_marks, spaces, visitors

__all__ = ["Life", "campaign_of", "live", "space_id"]


@dataclass(frozen=True)
class Life:
    space_id: str
    visitor_id: str
    conversation_id: str
    email: str
    name: str
    external_id: str
    phone: str
    secret: str  # a word in the messages, notes and comment that exists nowhere else
    messages: int


async def space_id(db: Database, key: str) -> str:
    async with db.read() as conn:
        return str(await conn.scalar(sa.select(spaces.c.id).where(spaces.c.key == key)))


async def campaign_of(db: Database, sid: str) -> str:
    """A campaign of the space (created once)."""
    async with db.write() as conn:
        found = await conn.scalar(sa.select(campaigns.c.id).where(campaigns.c.space_id == sid))
        if found:
            return str(found)
        cid = str(uuid.uuid4())
        now = datetime.now().astimezone()
        await conn.execute(
            campaigns.insert().values(
                id=cid, space_id=sid, name="Welcome", status="ended", phase=1,
                definition={"arms": []}, created_at=now, updated_at=now,
            )
        )  # fmt: skip
        return cid


async def live(
    db: Database,
    sid: str,
    at: datetime,
    *,
    messages_n: int = 3,
    agent_id: str | None = None,
) -> Life:
    """A visitor whose whole life happened at ``at`` (its conversation lasted a minute)."""
    vid, cid = str(uuid.uuid4()), str(uuid.uuid4())
    tag = uuid.uuid4().hex[:8]
    digits = str(uuid.uuid4().int)[-8:]
    life = Life(
        space_id=sid,
        visitor_id=vid,
        conversation_id=cid,
        email=f"Ada.{tag}@Example.com",
        name=f"Ada {tag}",
        external_id=f"crm-{tag}",
        phone="+33 6 {} {} {} {}".format(*(digits[i : i + 2] for i in range(0, 8, 2))),
        secret=f"secret{tag}",
        messages=messages_n,
    )
    campaign = await campaign_of(db, sid)
    end = at + timedelta(minutes=1)
    async with db.write() as conn:
        if agent_id is None:
            agent_id = await conn.scalar(sa.select(agents.c.id).limit(1))
        await conn.execute(
            visitors.insert().values(
                id=vid, space_id=sid, created_at=at, name=life.name, email=life.email,
                external_id=life.external_id, identity_verified=True,
                attributes={"phone": life.phone, "plan": "gold"},
                context={"url": f"https://shop.example/{tag}", "user_agent": "Firefox"},
            )
        )  # fmt: skip
        await conn.execute(
            conversations.insert().values(
                id=cid, space_id=sid, visitor_id=vid, status="resolved", last_seq=messages_n,
                created_at=at, updated_at=end, resolved_at=end,
                visitor_messages=messages_n, agent_messages=0,
                entry_url=f"https://shop.example/{tag}?email={life.email}",
                entry_user_agent="Firefox", campaign_id=campaign, campaign_phase=1,
                campaign_arm="a",
            )
        )  # fmt: skip
        await conn.execute(
            messages.insert(),
            [
                {
                    "conversation_id": cid, "space_id": sid, "seq": i + 1,
                    "client_id": str(uuid.uuid4()), "author_kind": "visitor", "author_id": vid,
                    "body": f"I am {life.name}, {life.secret}, call {life.phone}",
                    "created_at": at + timedelta(milliseconds=i),
                }
                for i in range(messages_n)
            ],
        )  # fmt: skip
        await conn.execute(
            notes.insert().values(
                conversation_id=cid, space_id=sid, author_id=agent_id,
                body=f"VIP {life.secret}", created_at=end,
            )
        )  # fmt: skip
        await conn.execute(conversation_tags.insert().values(conversation_id=cid, tag="billing"))
        await conn.execute(
            read_marks.insert().values(
                conversation_id=cid, reader_id=vid, reader_kind="visitor",
                last_read_seq=messages_n, updated_at=end,
            )
        )  # fmt: skip
        await conn.execute(
            csat_ratings.insert().values(
                conversation_id=cid, space_id=sid, visitor_id=vid, agent_id=agent_id, score=5,
                comment=f"thanks {life.secret}", at=end,
            )
        )  # fmt: skip
        await conn.execute(
            exposures.insert().values(
                campaign_id=campaign, phase=1, space_id=sid, visitor_id=vid, arm="a", at=at
            )
        )
        await conn.execute(
            goal_events.insert().values(
                space_id=sid, visitor_id=vid, name="signup",
                props={"email": life.email}, at=at,
            )
        )  # fmt: skip
        await conn.execute(
            conversions.insert().values(
                campaign_id=campaign, phase=1, visitor_id=vid, goal=0, arm="a", at=at
            )
        )
    return life
