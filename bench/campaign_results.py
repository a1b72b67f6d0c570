"""The results endpoint on a large experiment: one campaign, a 10 % holdout and two arms,
N exposed visitors over a week (1 million by default) with conversions, on PostgreSQL.
Times ``GET /api/campaigns/{id}/results`` (the app in this process, a signed-in marketing
agent) and its two charts, each several times, after one warm-up call.

    python bench/campaign_results.py --exposures 1000000 --runs 5

Makes its own database (``causette_bench_results``) on the local server and drops it after,
unless ``--keep``. Alone on the machine: the figures are wall-clock.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
NAME = "causette_bench_results"
URL = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{NAME}"
PASSWORD = "a long bench passphrase"  # noqa: S105  (the bench's own throwaway agent)


async def _admin(sql: str) -> None:
    engine = create_async_engine(ADMIN, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text(sql))
    finally:
        await engine.dispose()


async def seed(exposures: int) -> str:
    """The campaign, launched, with its exposures and conversions: the campaign's id."""
    from agents.accounts import create_agent
    from agents.campaigns.definition import Definition
    from agents.campaigns.store import CampaignStore
    from chat.db import Database

    db = Database(URL)
    try:
        agent = await create_agent(
            db, email="bench@example.com", name="Bench", role="marketing",
            password=PASSWORD, space_keys=["default"],
        )  # fmt: skip
        async with db.read() as conn:
            space_id = (await conn.execute(sa.text("SELECT id FROM spaces"))).scalar_one()
        store = CampaignStore(db)
        definition = Definition.model_validate(
            {
                "arms": [{"key": "a", "message": "Hello"}, {"key": "b", "message": "Hi!"}],
                "holdout": 0.1,
                "rules": {"url": "https://shop.example/*"},
                "goal": {"event": "checkout"},
                "secondary_goals": [{"replied": True}],
            }
        )
        campaign = await store.create(
            space_id, agent.id, name="bench", priority=0, starts_at=None, ends_at=None,
            definition=definition,
        )  # fmt: skip
        await store.transition(campaign, agent.id, "launch")
        started = time.perf_counter()
        async with db.write() as conn:
            # a week of exposures: holdout 2 in 20, a and b 9 in 20 each; b converts more
            await conn.execute(sa.text("SET LOCAL synchronous_commit = off"))
            await conn.execute(
                sa.text(
                    "CREATE TEMP TABLE seed ON COMMIT DROP AS"
                    " SELECT g, gen_random_uuid()::text AS v,"
                    " CASE WHEN g % 20 < 2 THEN 'holdout' WHEN g % 20 < 11 THEN 'a' ELSE 'b' END"
                    " AS arm, now() - make_interval(secs => g % 604800) AS at"
                    " FROM generate_series(1, :n) AS g"
                ),
                {"n": exposures},
            )
            await conn.execute(
                sa.text(
                    "INSERT INTO visitors (id, space_id, created_at, identity_verified)"
                    " SELECT v, :s, at, false FROM seed"
                ),
                {"s": space_id},
            )
            await conn.execute(
                sa.text(
                    "INSERT INTO exposures (campaign_id, phase, space_id, visitor_id, arm, at)"
                    " SELECT :c, 1, :s, v, arm, at FROM seed"
                ),
                {"c": campaign.id, "s": space_id},
            )
            await conn.execute(
                sa.text(
                    "INSERT INTO conversions (campaign_id, phase, visitor_id, goal, arm, at)"
                    " SELECT :c, 1, v, 0, arm, at + interval '1 hour' FROM seed"
                    " WHERE (arm = 'b' AND g % 9 = 0) OR (arm <> 'b' AND g % 11 = 0)"
                ),
                {"c": campaign.id},
            )
        async with db.write() as conn:
            for table in ("visitors", "exposures", "conversions"):
                await conn.execute(sa.text(f"ANALYZE {table}"))
        print(f"seeded {exposures:,} exposures in {time.perf_counter() - started:.1f} s")
        return campaign.id
    finally:
        await db.dispose()


async def measure(campaign_id: str, runs: int) -> None:
    from causette.app import create_app
    from chat.settings import Settings

    app = create_app(
        Settings(database_url=URL, secret_key="bench-" + "x" * 40, rate_limits="off",
                 log_level="warning")
    )  # fmt: skip
    async with app.router.lifespan_context(app) as state:

        async def served(scope, receive, send):  # type: ignore[no-untyped-def]
            await app({**scope, "state": dict(state or {})}, receive, send)

        transport = httpx.ASGITransport(app=served, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            r = await http.post(
                "/api/session",
                json={"email": "bench@example.com", "password": PASSWORD},
                headers={"origin": "http://127.0.0.1"},
            )
            r.raise_for_status()
            for path in ("results", "charts/rate", "charts/lift"):
                url = f"/api/campaigns/{campaign_id}/{path}"
                (await http.get(url)).raise_for_status()  # warm-up
                times = []
                for _ in range(runs):
                    started = time.perf_counter()
                    r = await http.get(url)
                    times.append((time.perf_counter() - started) * 1000)
                    r.raise_for_status()
                print(
                    f"GET {path}: median {statistics.median(times):.0f} ms, "
                    f"min {min(times):.0f}, max {max(times):.0f} ({runs} runs)"
                )
                if path == "results":
                    body = r.json()
                    arms = ", ".join(
                        f"{a['key']} {a['converted']:,}/{a['exposed']:,}" for a in body["arms"]
                    )
                    print(f"  {arms}; verdict: {body['verdict']['text']}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exposures", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="Leave the database in place.")
    args = parser.parse_args()
    if not 1 <= args.exposures <= 20_000_000 or not 1 <= args.runs <= 100:
        parser.error("--exposures 1 to 20,000,000 and --runs 1 to 100")
    await _admin(f"DROP DATABASE IF EXISTS {NAME}")
    await _admin(f"CREATE DATABASE {NAME}")
    try:
        from chat.db import migrate

        await asyncio.to_thread(migrate, URL)
        campaign_id = await seed(args.exposures)
        print(f"load average before measuring: {os.getloadavg()}")
        await measure(campaign_id, args.runs)
    finally:
        if not args.keep:
            await _admin(f"DROP DATABASE IF EXISTS {NAME}")


if __name__ == "__main__":
    asyncio.run(main())
