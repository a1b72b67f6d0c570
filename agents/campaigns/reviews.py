"""Transcript review per arm: a sample of the conversations an arm's exposed visitors started,
read as they are, or blind (every arm mixed, the arm hidden), and tagged from the space's
review tags; tag counts per arm join the results. The one writer of ``review_tags`` and
``transcript_reviews``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from agents.campaigns.store import Campaign
from agents.models import exposures, review_tags, transcript_reviews
from chat.clock import utcnow
from chat.db import Database
from chat.errors import InvalidRequest, NotFound
from chat.keeper import Keeper
from chat.models import conversations

__all__ = ["MAX_TAGS", "ReviewKeeper", "arm_tag_counts", "review", "sample", "set_tags", "tags_of"]

TAG_RE = re.compile(r"^[\w][\w .:-]{0,39}$")
MAX_TAGS = 30


async def tags_of(db: Database, space_id: str) -> list[str]:
    async with db.read() as conn:
        rows = await conn.execute(
            sa.select(review_tags.c.tag)
            .where(review_tags.c.space_id == space_id)
            .order_by(review_tags.c.tag)
        )
        return list(rows.scalars())


async def set_tags(db: Database, space_id: str, tags: Sequence[str]) -> list[str]:
    clean = sorted({t.strip().lower() for t in tags})
    if len(clean) > MAX_TAGS:
        raise InvalidRequest(f"tags: at most {MAX_TAGS}")
    for tag in clean:
        if not TAG_RE.match(tag):
            raise InvalidRequest(f"tags: {tag[:40]!r} is not a tag (letters, digits, . : - _)")
    async with db.write() as conn:
        await conn.execute(review_tags.delete().where(review_tags.c.space_id == space_id))
        if clean:
            await conn.execute(
                review_tags.insert(), [{"space_id": space_id, "tag": t} for t in clean]
            )
    return clean


def _of_arm(campaign: Campaign, phase: int) -> Any:
    """The conversations started by the phase's exposed visitors after their exposure, with
    the arm they were in."""
    return (
        sa.select(conversations.c.id, exposures.c.arm)
        .select_from(
            conversations.join(
                exposures,
                sa.and_(
                    exposures.c.visitor_id == conversations.c.visitor_id,
                    exposures.c.campaign_id == campaign.id,
                    exposures.c.phase == phase,
                ),
            )
        )
        .where(
            conversations.c.space_id == campaign.space_id,
            conversations.c.created_at >= exposures.c.at,
        )
    )


async def sample(
    db: Database, campaign: Campaign, phase: int, *, arm: str | None, limit: int, reviewer: str
) -> list[tuple[str, str]]:
    """(conversation id, arm) pairs: of one arm, or of every arm in a blind order (the same
    for one reviewer, another for the next) in equal parts."""
    query = _of_arm(campaign, phase)
    async with db.read() as conn:
        if arm is not None:
            query = query.where(exposures.c.arm == arm).limit(limit)
        rows = (await conn.execute(query.order_by(conversations.c.id))).all()
    if arm is not None:
        return [(r.id, r.arm) for r in rows]
    by_arm: dict[str, list[str]] = {}
    for r in rows:
        by_arm.setdefault(r.arm, []).append(r.id)
    share = max(1, limit // max(1, len(by_arm)))
    picked = [(cid, a) for a, ids in by_arm.items() for cid in ids[:share]]

    def blind(pair: tuple[str, str]) -> str:
        return hashlib.sha256(f"{reviewer}:{pair[0]}".encode()).hexdigest()

    return sorted(picked, key=blind)[:limit]


async def review(
    db: Database,
    campaign: Campaign,
    phase: int,
    conversation_id: str,
    reviewer: str,
    tags: Sequence[str],
) -> list[str]:
    """Replace the tags of one transcript of this campaign's phase (the space's tags only)."""
    allowed = set(await tags_of(db, campaign.space_id))
    clean = sorted({t.strip().lower() for t in tags})
    unknown = [t for t in clean if t not in allowed]
    if unknown:
        raise InvalidRequest(f"tags: {unknown[0][:40]!r} is not one of the space's review tags")
    async with db.read() as conn:
        found = (
            await conn.execute(
                _of_arm(campaign, phase).where(conversations.c.id == conversation_id)
            )
        ).first()
    if found is None:
        raise NotFound("No such conversation in this campaign.", code="conversation_not_found")
    async with db.write() as conn:
        await conn.execute(
            transcript_reviews.delete().where(
                transcript_reviews.c.campaign_id == campaign.id,
                transcript_reviews.c.conversation_id == conversation_id,
            )
        )
        if clean:
            now = utcnow()
            await conn.execute(
                transcript_reviews.insert(),
                [
                    {
                        "campaign_id": campaign.id,
                        "conversation_id": conversation_id,
                        "tag": t,
                        "reviewer_id": reviewer,
                        "at": now,
                    }
                    for t in clean
                ],
            )
    return clean


async def transcript_tags(
    db: Database, campaign_id: str, ids: Sequence[str]
) -> dict[str, list[str]]:
    if not ids:
        return {}
    async with db.read() as conn:
        rows = await conn.execute(
            sa.select(transcript_reviews.c.conversation_id, transcript_reviews.c.tag).where(
                transcript_reviews.c.campaign_id == campaign_id,
                transcript_reviews.c.conversation_id.in_(list(ids)),
            )
        )
        out: dict[str, list[str]] = {}
        for r in rows:
            out.setdefault(r.conversation_id, []).append(r.tag)
    return {k: sorted(v) for k, v in out.items()}


async def arm_tag_counts(db: Database, campaign: Campaign, phase: int) -> dict[str, dict[str, int]]:
    """arm -> tag -> transcripts so tagged, in this phase."""
    of_arm = _of_arm(campaign, phase).subquery()
    async with db.read() as conn:
        rows = await conn.execute(
            sa.select(of_arm.c.arm, transcript_reviews.c.tag, sa.func.count().label("n"))
            .select_from(
                transcript_reviews.join(of_arm, of_arm.c.id == transcript_reviews.c.conversation_id)
            )
            .where(transcript_reviews.c.campaign_id == campaign.id)
            .group_by(of_arm.c.arm, transcript_reviews.c.tag)
        )
        out: dict[str, dict[str, int]] = {}
        for r in rows:
            out.setdefault(r.arm, {})[r.tag] = int(r.n)
    return out


class ReviewKeeper(Keeper):
    """Reviewers' tags on a transcript go with the conversation."""

    conversation_columns = (transcript_reviews.c.conversation_id,)
