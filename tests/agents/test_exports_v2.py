"""Export v2 in process, on SQLite and PostgreSQL: the four tables, redacted by default (mask,
hash, drop) or raw for admins only, Parquet typed and versioned and read back by pyarrow and
duckdb, a directory partitioned by day, the REST stream, and another space never read."""

from __future__ import annotations

import asyncio
import io
import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from agents.exports import Export, export_to_file
from agents.models import csat_ratings, goal_events
from chat.db import Database
from chat.models import conversations, messages, spaces, visitors
from tests.agents.consoleclient import console_agent, space_with_agents
from tests.inproc import App

pytestmark = pytest.mark.asyncio(loop_scope="module")

DOC = Path(__file__).resolve().parents[2] / "docs" / "reports.md"
SECRET_LINE = "Mon email est ada@example.com, carte 4242 4242 4242 4242, tel 06 12 34 56 78"


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


async def _seed(url: str, space: str, agent_id: str) -> dict[str, Any]:
    engine = create_async_engine(url)
    cid, vid = str(uuid.uuid4()), str(uuid.uuid4())
    try:
        async with engine.begin() as conn:
            space_id = (
                await conn.execute(sa.select(spaces.c.id).where(spaces.c.key == space))
            ).scalar_one()
            await conn.execute(
                visitors.insert().values(
                    id=vid, space_id=space_id, name="Ada Lovelace", created_at=at(2)
                )
            )
            await conn.execute(
                conversations.insert().values(
                    id=cid, space_id=space_id, visitor_id=vid, status="resolved", last_seq=2,
                    created_at=at(2), updated_at=at(3), resolved_at=at(3), assignee_id=agent_id,
                    entry_url="https://shop.example/promo?utm_source=mail&email=ada@example.com",
                    entry_user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 18_0) Mobile/15E148",
                    campaign_id="camp-1", campaign_phase=1, campaign_arm="b",
                    visitor_messages=1, agent_messages=1, first_agent_at=at(3),
                )
            )  # fmt: skip
            await conn.execute(
                messages.insert(),
                [
                    {"conversation_id": cid, "space_id": space_id, "seq": 1,
                     "client_id": str(uuid.uuid4()), "author_kind": "visitor", "author_id": vid,
                     "body": SECRET_LINE, "created_at": at(2)},
                    {"conversation_id": cid, "space_id": space_id, "seq": 2,
                     "client_id": str(uuid.uuid4()), "author_kind": "agent", "author_id": agent_id,
                     "body": "Order CMD-2026-004512 of 04/11/2026 is on its way",
                     "created_at": at(3)},
                ],
            )  # fmt: skip
            await conn.execute(
                csat_ratings.insert().values(
                    conversation_id=cid, space_id=space_id, visitor_id=vid, agent_id=agent_id,
                    score=4, comment="call me on 06 12 34 56 78", at=at(3),
                )
            )  # fmt: skip
            await conn.execute(
                goal_events.insert().values(
                    space_id=space_id, visitor_id=vid, name="checkout",
                    props={"email": "ada@example.com", "total": 42}, at=at(3),
                )
            )  # fmt: skip
    finally:
        await engine.dispose()
    return {"conversation_id": cid, "visitor_id": vid}


async def _file(app: App, tmp: Path, job: Export, fmt: str, **kw: Any) -> Path:
    out = tmp / f"{job.table}-{job.redact}-{job.raw}.{fmt}"
    db = Database(app.database_url)
    try:
        await export_to_file(db, job, out, fmt, **kw)  # type: ignore[arg-type]
    finally:
        await db.dispose()
    return out


async def test_tables_are_redacted_by_default_and_typed(inproc: App, tmp_path: Path) -> None:
    async with space_with_agents(inproc, "admin") as (space, [admin]):
        seeded = await _seed(inproc.database_url, space, admin.id)
        async with space_with_agents(inproc, "admin") as (other, [stranger]):
            await _seed(inproc.database_url, other, stranger.id)
        out = await _file(inproc, tmp_path, Export(space=space), "parquet")
        table = pq.read_table(out)
        meta = table.schema.metadata
        assert meta[b"causette.schema_version"] == b"2" and meta[b"causette.redaction"] == b"mask"
        assert "author_name" not in table.column_names
        bodies = table.column("body").to_pylist()
        assert bodies[0] == "Mon email est [email], carte [card ••••4242], tel [phone]"
        assert bodies[1] == "Order CMD-2026-004512 of 04/11/2026 is on its way"  # no look-alike
        assert table.column("arm").to_pylist() == ["b", "b"]
        assert str(table.schema.field("created_at").type) == "timestamp[us, tz=UTC]"
        assert str(table.schema.field("seq").type) == "int64"
        described = json.loads(out.with_name(out.name + ".schema.json").read_text())
        assert described["rows"] == 2 and described["redacted"]["card"] == 1

        conv = await _file(inproc, tmp_path, Export(table="conversations", space=space), "parquet")
        [row] = pq.read_table(conv).to_pylist()
        assert row["conversation_id"] == seeded["conversation_id"]
        assert row["visitor_name"] != "Ada Lovelace" and row["visitor_name"].startswith("Visitor")
        assert row["csat_score"] == 4 and "06 12" not in row["csat_comment"]
        assert row["first_response_s"] == 86400.0 and row["device"] == "mobile"
        assert row["utm_source"] == "mail" and row["entry_page"] == "https://shop.example/promo"
        assert (row["campaign_id"], row["phase"], row["arm"]) == ("camp-1", 1, "b")
        con = duckdb.connect()
        assert con.execute(
            "SELECT arm, avg(csat_score) FROM read_parquet(?) GROUP BY arm", [str(conv)]
        ).fetchall() == [("b", 4.0)]

        goals = await _file(inproc, tmp_path, Export(table="goal_events", space=space), "jsonl")
        [event] = [json.loads(line) for line in goals.read_text().splitlines()]
        assert json.loads(event["props"]) == {"email": "[email]", "total": 42}
        exposures = await _file(inproc, tmp_path, Export(table="exposures", space=space), "csv")
        assert exposures.read_text().splitlines()[0] == "campaign_id,phase,arm,space,visitor_id,at"


async def test_modes_raw_and_partitions(inproc: App, tmp_path: Path) -> None:
    async with space_with_agents(inproc, "admin") as (space, [admin]):
        await _seed(inproc.database_url, space, admin.id)
        hashed = await _file(inproc, tmp_path, Export(space=space, redact="hash"), "jsonl")
        body = json.loads(hashed.read_text().splitlines()[0])["body"]
        assert "ada@example.com" not in body and "[email:" in body
        dropped = await _file(inproc, tmp_path, Export(space=space, redact="drop"), "jsonl")
        assert "@" not in dropped.read_text() and "4242" not in dropped.read_text()
        raw = await _file(inproc, tmp_path, Export(space=space, raw=True), "jsonl")
        first = json.loads(raw.read_text().splitlines()[0])
        assert first["body"] == SECRET_LINE and first["author_name"] == "Ada Lovelace"

        folder = tmp_path / "by-day"
        await _file(inproc, tmp_path, Export(space=space), "parquet")
        db = Database(inproc.database_url)
        try:
            await export_to_file(db, Export(space=space), folder, "parquet", partition=True)
        finally:
            await db.dispose()
        assert sorted(p.name for p in folder.iterdir()) == [
            "_schema.json",
            "date=2026-11-02",
            "date=2026-11-03",
        ]
        con = duckdb.connect()
        got = con.execute(
            "SELECT date, seq FROM read_parquet(?, hive_partitioning = true) ORDER BY seq",
            [str(folder / "*" / "*.parquet")],
        ).fetchall()
        assert [(str(d), s) for d, s in got] == [("2026-11-02", 1), ("2026-11-03", 2)]


async def test_the_rest_stream_and_its_refusals(inproc: App) -> None:
    async with space_with_agents(inproc, "admin", "marketing", "relation") as (
        space,
        [admin, marketing, relation],
    ):
        await _seed(inproc.database_url, space, admin.id)
        r = await marketing.call("GET", f"/api/exports/messages?space={space}&format=parquet")
        assert r.status_code == 200 and r.headers["x-causette-redaction"] == "mask"
        table = pq.read_table(io.BytesIO(r.content))
        assert table.num_rows == 2 and "ada@example.com" not in str(table.to_pylist())
        csv_text = (await marketing.call("GET", f"/api/exports/conversations?space={space}")).text
        assert "Ada Lovelace" not in csv_text and csv_text.startswith("conversation_id,space")
        raw = await marketing.call("GET", f"/api/exports/messages?space={space}&raw=true")
        assert raw.status_code == 403
        assert (
            await relation.call("GET", f"/api/exports/messages?space={space}")
        ).status_code == 403
        ok = await admin.call("GET", f"/api/exports/messages?space={space}&raw=true&format=jsonl")
        assert ok.status_code == 200 and "ada@example.com" in ok.text
        outsider = await console_agent(inproc, role="admin", spaces=["default"])
        try:
            foreign = await outsider.call("GET", f"/api/exports/messages?space={space}")
            missing = await outsider.call("GET", "/api/exports/messages?space=no-such")
            assert foreign.status_code == missing.status_code == 404
            assert foreign.json() == missing.json()
        finally:
            await outsider.close()
        for bad in ("format=xml", "redact=blur", "since=yesterday"):
            assert (
                await admin.call("GET", f"/api/exports/messages?space={space}&{bad}")
            ).status_code == 400
        assert (await admin.call("GET", f"/api/exports/nope?space={space}")).status_code == 404


async def test_the_duckdb_questions_of_the_docs_run_on_an_export(
    inproc: App, tmp_path: Path
) -> None:
    queries = re.findall(r"```sql\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(queries) == 3
    async with space_with_agents(inproc, "admin") as (space, [admin]):
        await _seed(inproc.database_url, space, admin.id)
        files = {}
        for table in ("conversations", "goal_events"):
            files[table] = await _file(
                inproc, tmp_path, Export(table=table, space=space), "parquet"
            )
        con = duckdb.connect()

        def run(sql: str) -> list[Any]:
            for table, path in files.items():
                sql = sql.replace(f"'{table}.parquet'", f"'{path}'")
            return con.execute(sql).fetchall()

        csat, hours, pages = (run(q) for q in queries)
        assert csat == [("camp-1", "b", 1, 1.0)]
        assert hours == [(10, 1, 86400.0, 86400.0)]
        assert pages == [("https://shop.example/promo", 1, 1)]


async def test_the_command_line_redacts_in_its_own_process_the_same(
    empty_database: str, tmp_path: Path
) -> None:
    """On a database of its own: the command line's process pool gives what the server's
    in-process redaction gives."""
    from agents.accounts import create_agent
    from chat.db import migrate
    from chat.spaces import create_space
    from tests.clirun import causette

    url = empty_database
    await asyncio.to_thread(migrate, url)
    db = Database(url)
    try:
        await create_space(db, "shop", "Shop", [])
        agent = await create_agent(
            db, email="cli-export@example.com", name="Cli", role="admin",
            password="a long enough password", space_keys=["shop"],
        )  # fmt: skip
        await _seed(url, "shop", agent.id)
        here = tmp_path / "here.jsonl"
        await export_to_file(db, Export(space="shop"), here, "jsonl")
    finally:
        await db.dispose()
    out = tmp_path / "cli.jsonl"
    done = await causette(
        "export", "--format", "jsonl", "--out", str(out), "--space", "shop", database_url=url
    )
    assert done.code == 0, done.output
    assert "2 messages written" in done.stderr and "redacted (mask)" in done.stderr
    assert [json.loads(line)["body"] for line in out.read_text().splitlines()] == [
        json.loads(line)["body"] for line in here.read_text().splitlines()
    ]
    described = json.loads(out.with_name("cli.jsonl.schema.json").read_text())
    assert described["redacted"] == {"email": 1, "card": 1, "phone": 1}
    refused = await causette(
        "export", "--format", "csv", "--out", str(tmp_path / "x.csv"), "--partition", "day",
        database_url=url,
    )  # fmt: skip
    assert refused.code == 2 and "partitions are Parquet files" in refused.output


async def test_a_space_s_own_patterns_are_redacted(inproc: App, tmp_path: Path) -> None:
    from chat.spaces import update_space

    async with space_with_agents(inproc, "admin") as (space, [admin]):
        seeded = await _seed(inproc.database_url, space, admin.id)
        db = Database(inproc.database_url)
        try:
            await update_space(
                db, space, name=None, origins=None,
                redaction_patterns=[["order", r"CMD-\d{4}-\d{6}"]],
            )  # fmt: skip
        finally:
            await db.dispose()
        out = await _file(inproc, tmp_path, Export(space=space), "jsonl")
        bodies = [json.loads(line)["body"] for line in out.read_text().splitlines()]
        assert bodies[1] == "Order [order] of 04/11/2026 is on its way"
        assert seeded["conversation_id"]
