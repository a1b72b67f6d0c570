"""Which arm a visitor is in: a pure function of (campaign, phase, visitor), the same on every
node, in every tab and after every reconnect, with nothing to store.

SHA-256 of ``campaign:phase:visitor`` gives one of 10,000 buckets. The first
``round(holdout * 10,000)`` buckets are the holdout; the rest are split between the arms in
proportion to their weights. A new phase draws again, so a phase's results never inherit the
previous phase's assignment.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = ["BUCKETS", "HOLDOUT", "arm_for", "bucket", "shares"]

BUCKETS = 10_000
HOLDOUT = "holdout"


def bucket(campaign_id: str, phase: int, visitor_id: str) -> int:
    digest = hashlib.sha256(f"{campaign_id}:{phase}:{visitor_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def _bounds(holdout: float, weights: Sequence[float]) -> list[int]:
    """The first bucket past each arm (after the holdout's), the last one being BUCKETS."""
    start = round(holdout * BUCKETS)
    total = float(sum(weights))
    bounds: list[int] = []
    acc = 0.0
    for weight in weights:
        acc += weight
        bounds.append(start + round((BUCKETS - start) * acc / total))
    bounds[-1] = BUCKETS
    return bounds


def arm_for(
    campaign_id: str,
    phase: int,
    visitor_id: str,
    arms: Sequence[tuple[str, float]],
    holdout: float,
) -> str:
    """The key of the visitor's arm (``holdout`` for the holdout) among ``(key, weight)``."""
    b = bucket(campaign_id, phase, visitor_id)
    if b < round(holdout * BUCKETS):
        return HOLDOUT
    for (key, _), bound in zip(arms, _bounds(holdout, [w for _, w in arms]), strict=True):
        if b < bound:
            return key
    return arms[-1][0]  # pragma: no cover - the last bound is BUCKETS


def shares(arms: Sequence[tuple[str, float]], holdout: float) -> dict[str, float]:
    """Each arm's expected share of exposures, as the buckets give it (holdout first)."""
    start = round(holdout * BUCKETS)
    out: dict[str, float] = {HOLDOUT: start / BUCKETS} if start else {}
    previous = start
    for (key, _), bound in zip(arms, _bounds(holdout, [w for _, w in arms]), strict=True):
        out[key] = (bound - previous) / BUCKETS
        previous = bound
    return out
