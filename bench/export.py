"""Reports and the redacted export on a busy space: N conversations of 10 messages each over
90 days (100,000 conversations, 1 million messages by default) on PostgreSQL.

    python bench/export.py --conversations 100000 --runs 3

Times every console report for the last 30 days (the app in this process, a signed-in admin,
each report by day and by agent), then ``causette export --table messages --format parquet``
with redaction on, as a process of its own: wall time and peak RSS. Makes its own database
(``causette_bench_export``) and drops it after, unless ``--keep``. Alone on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
NAME = "causette_bench_export"
URL = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{NAME}"
PASSWORD = "a long bench passphrase"  # noqa: S105  (the bench's own throwaway agent)
REPORTS = ("overview", "first_response", "resolution", "volume", "csat", "missed")

# what visitors and agents write: most lines plain, some with look-alikes, 1 in 10 with
# personal data (an email, a phone number, a card)
BODY = """CASE (g * 10 + s) % 20
  WHEN 0 THEN 'my email is someone' || g || '@example.com, thanks'
  WHEN 1 THEN 'rappelez-moi au 06 12 34 ' || lpad(((g % 90) + 10)::text, 2, '0') || ' 78'
  WHEN 2 THEN 'order CMD-2026-' || lpad(g::text, 6, '0') || ' of 04/11/2026, 1 234,56 €'
  WHEN 3 THEN 'the card 4242 4242 4242 4242 was declined'
  WHEN 4 THEN 'tracking 1Z999AA10123456784, delivered on 2026-11-04 at 14:30'
  ELSE 'Bonjour, I have a question about my bet slip ' || g || ', can you help me please?'
END"""


async def _admin(sql: str) -> None:
    engine = create_async_engine(ADMIN, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text(sql))
    finally:
        await engine.dispose()


async def seed(conversations: int) -> None:
    from agents.accounts import create_agent
    from chat.db import Database

    db = Database(URL)
    try:
        agent = await create_agent(
            db, email="bench@example.com", name="Bench", role="admin",
            password=PASSWORD, space_keys=["default"],
        )  # fmt: skip
        started = time.perf_counter()
        async with db.write() as conn:
            await conn.execute(sa.text("SET LOCAL synchronous_commit = off"))
            space = (await conn.execute(sa.text("SELECT id FROM spaces"))).scalar_one()
            params = {"n": conversations, "s": space, "a": agent.id}
            await conn.execute(
                sa.text(
                    "CREATE TEMP TABLE seed ON COMMIT DROP AS SELECT g,"
                    " gen_random_uuid()::text AS c, gen_random_uuid()::text AS v,"
                    " now() - make_interval(secs => (g * 7776000.0 / :n)) AS at"
                    " FROM generate_series(1, :n) AS g"
                ),
                params,
            )
            await conn.execute(
                sa.text(
                    "INSERT INTO visitors (id, space_id, name, created_at, identity_verified)"
                    " SELECT v, :s, 'Visitor ' || g, at, false FROM seed"
                ),
                params,
            )
            await conn.execute(
                sa.text(
                    "INSERT INTO conversations (id, space_id, visitor_id, status, last_seq,"
                    " created_at, updated_at, resolved_at, assignee_id, assigned_at,"
                    " first_assigned_at, reopened, visitor_messages, agent_messages,"
                    " first_agent_at, entry_url)"
                    " SELECT c, :s, v, 'resolved', 10, at, at + interval '20 minutes',"
                    " at + interval '20 minutes', :a, at + interval '30 seconds',"
                    " at + interval '30 seconds', (g % 17 = 0)::int, 5, 5,"
                    " at + make_interval(secs => 30 + g % 90),"
                    " 'https://shop.example/' || (ARRAY['promo', 'faq', 'bets'])[g % 3 + 1]"
                    " FROM seed"
                ),
                params,
            )
            await conn.execute(
                sa.text(
                    "INSERT INTO messages (conversation_id, space_id, seq, client_id,"  # noqa: S608 (constants)
                    " author_kind, author_id, body, created_at)"
                    " SELECT c, :s, s + 1, gen_random_uuid()::text,"
                    " CASE WHEN s % 2 = 0 THEN 'visitor' ELSE 'agent' END,"
                    " CASE WHEN s % 2 = 0 THEN v ELSE :a END, " + BODY + ","
                    " at + make_interval(secs => s * (30 + g % 90))"
                    " FROM seed, generate_series(0, 9) AS s"
                ),
                params,
            )
            await conn.execute(
                sa.text(
                    "INSERT INTO csat_ratings (conversation_id, space_id, visitor_id, agent_id,"
                    " score, at) SELECT c, :s, v, :a, 1 + g % 5, at + interval '21 minutes'"
                    " FROM seed WHERE g % 3 = 0"
                ),
                params,
            )
        async with db.write() as conn:
            for table in ("visitors", "conversations", "messages", "csat_ratings"):
                await conn.execute(sa.text(f"ANALYZE {table}"))
        print(
            f"seeded {conversations:,} conversations, {conversations * 10:,} messages"
            f" in {time.perf_counter() - started:.0f} s"
        )
    finally:
        await db.dispose()


async def reports(runs: int) -> None:
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
        async with httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1", timeout=120
        ) as http:
            r = await http.post(
                "/api/session",
                json={"email": "bench@example.com", "password": PASSWORD},
                headers={"origin": "http://127.0.0.1"},
            )
            r.raise_for_status()
            for report in REPORTS:
                for extra in ("&group=day", "&by=agent"):
                    url = f"/api/reports/{report}?space=default{extra}&from=" + _days_ago(29)
                    (await http.get(url)).raise_for_status()  # warm-up
                    times = []
                    for _ in range(runs):
                        started = time.perf_counter()
                        r = await http.get(url)
                        times.append((time.perf_counter() - started) * 1000)
                        r.raise_for_status()
                    total = r.json()["total"]
                    n = total.get("conversations", total.get("asked"))
                    print(
                        f"{report:>15} {extra[1:]:>10}: median {statistics.median(times):4.0f} ms,"
                        f" max {max(times):4.0f} ms ({n} conversations)"
                    )


def _days_ago(days: int) -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) - timedelta(days=days)).date().isoformat()


def _tree_rss(root: int) -> int:
    """Resident memory of a process and its children (kB), from /proc."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(entry.name) != root and int(stat[1]) != root:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total


def export(out: Path) -> None:
    env = {**os.environ, "CAUSETTE_DATABASE_URL": URL}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "causette", "export", "--table", "messages", "--format",
         "parquet", "--out", str(out)],
        env=env, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    peak = 0
    while proc.poll() is None:  # bounded by the export itself; sampled 10 times a second
        peak = max(peak, _tree_rss(proc.pid))
        time.sleep(0.1)
    if proc.returncode != 0:
        raise SystemExit(f"the export failed ({proc.returncode})")
    elapsed = time.perf_counter() - started
    largest_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    table = pq.read_table(out, columns=["body"])
    bodies = table.column("body").to_pylist()
    leaks = sum(("@example.com" in b) or ("4242 4242" in b) for b in bodies)
    print(
        f"export messages to parquet, redacted (mask): {len(bodies):,} rows in {elapsed:.1f} s,"
        f" peak RSS {peak / 1024:.0f} MB for the command and its redaction process together"
        f" (largest process {largest_mb:.0f} MB), {out.stat().st_size / 1e6:.0f} MB on disk,"
        f" {leaks} bodies with an email or card left"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="Leave the database in place.")
    args = parser.parse_args()
    if not 1 <= args.conversations <= 2_000_000 or not 1 <= args.runs <= 50:
        parser.error("--conversations 1 to 2,000,000 and --runs 1 to 50")
    await _admin(f"DROP DATABASE IF EXISTS {NAME}")
    await _admin(f"CREATE DATABASE {NAME}")
    try:
        from chat.db import migrate

        await asyncio.to_thread(migrate, URL)
        await seed(args.conversations)
        print(f"load average before measuring: {os.getloadavg()}")
        await reports(args.runs)
        with tempfile.TemporaryDirectory() as tmp:
            await asyncio.to_thread(export, Path(tmp) / "messages.parquet")
        print(f"load average after: {os.getloadavg()}")
    finally:
        if not args.keep:
            await _admin(f"DROP DATABASE IF EXISTS {NAME}")


if __name__ == "__main__":
    asyncio.run(main())
