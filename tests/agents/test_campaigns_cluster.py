"""Campaigns across nodes: two servers sharing PostgreSQL and Redis. A launch and a kill made
on one node reach a page open on the other within 2 seconds, and a visitor gets the same arm
whichever node it connects to."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agents.consoleclient import console_agent
from tests.conftest import new_space
from tests.servers import REDIS_URL, create_pg_database, drop_pg_database
from tests.wsclient import connect_visitor

CAMPAIGN = {
    "name": "Cross-node",
    "arms": [{"key": "a", "message": "Hello from A"}, {"key": "b", "message": "Hello from B"}],
    "holdout": 0.2,
    "rules": {"url": "https://shop.example/*"},
    "goal": {"conversation": True},
}


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    name, url = create_pg_database()
    yield url
    drop_pg_database(name)


async def test_launch_and_kill_reach_the_other_node_within_2_seconds(
    database: str, tmp_path: Path
) -> None:
    from tests.cluster import start_nodes

    a, b = start_nodes(2, database, REDIS_URL, tmp_path)
    try:
        space = await new_space(database)
        marketing = await console_agent(a, role="marketing", spaces=[space])
        on_b = await connect_visitor(b, space=space)
        created = await marketing.ok("POST", "/api/campaigns", {"space": space, **CAMPAIGN})

        started = time.monotonic()
        await marketing.ok("POST", f"/api/campaigns/{created['id']}/launch")
        offer = await on_b.expect("campaign", timeout=2, campaign_id=created["id"])
        launch_delay = time.monotonic() - started

        # the same visitor on node A: the same arm
        on_a = await connect_visitor(a, on_b.hello_token, space=space)
        again = await on_a.expect("campaign", timeout=2, campaign_id=created["id"])
        assert again["arm"] == offer["arm"] and again["phase"] == offer["phase"] == 1

        started = time.monotonic()
        await marketing.ok("POST", f"/api/campaigns/{created['id']}/kill")
        gone = await on_b.expect("campaign", timeout=2, campaign_id=created["id"])
        kill_delay = time.monotonic() - started
        assert gone["withdrawn"] is True
        await on_a.expect("campaign", timeout=2, campaign_id=created["id"], withdrawn=True)
        print(
            f"\ncross-node: launch reached node B in {launch_delay * 1000:.0f} ms, "
            f"kill in {kill_delay * 1000:.0f} ms (POST on node A to the frame on node B)"
        )
        for socket in (on_a, on_b):
            await socket.close()
        await marketing.close()
    finally:
        a.stop()
        b.stop()
