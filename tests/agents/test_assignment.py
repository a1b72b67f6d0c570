"""Assignment to arms: deterministic, sticky, and split by the weights."""

from __future__ import annotations

import uuid

from agents.campaigns.assignment import arm_for, shares


def test_assignment_is_within_1_5_percent_of_the_weights_over_20000_visitors() -> None:
    arms = [("a", 1.0), ("b", 2.0), ("c", 1.0)]
    holdout = 0.1
    expected = {"holdout": 0.1, "a": 0.225, "b": 0.45, "c": 0.225}
    seen = dict.fromkeys(expected, 0)
    campaign = str(uuid.uuid4())
    for _ in range(20_000):
        seen[arm_for(campaign, 1, str(uuid.uuid4()), arms, holdout)] += 1
    worst = max(abs(seen[k] / 20_000 - share) for k, share in expected.items())
    print(f"\nassignment over 20,000 visitors: {seen}, worst deviation {worst * 100:.2f} points")
    assert worst < 0.015
    # sticky: the same visitor, the same arm; another phase draws again
    visitor = str(uuid.uuid4())
    assert len({arm_for(campaign, 1, visitor, arms, holdout) for _ in range(10)}) == 1
    moved = sum(
        arm_for(campaign, 1, v, arms, holdout) != arm_for(campaign, 2, v, arms, holdout)
        for v in (str(uuid.uuid4()) for _ in range(1000))
    )
    assert moved > 400  # about 1 - sum(share^2) = 69 % change arms between phases


def test_expected_shares_are_what_the_buckets_give() -> None:
    assert shares([("a", 1.0), ("b", 1.0)], 0.1) == {"holdout": 0.1, "a": 0.45, "b": 0.45}
    assert shares([("a", 1.0)], 0.0) == {"a": 1.0}
    assert sum(shares([("a", 1.0), ("b", 1.0), ("c", 1.0)], 0.05).values()) == 1.0
