"""``causette export``: one row per message in csv, jsonl and parquet, read back with duckdb and
pyarrow; exact columns, ISO 8601 times with Z, filters by time and space; awkward bodies
survive every format."""

from __future__ import annotations

import asyncio
import csv
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from agents.accounts import create_agent
from agents.exports import Export, export_to_file
from chat.db import Database, migrate
from chat.models import messages
from chat.spaces import create_space
from chat.store import Store
from tests.clirun import causette

COLUMNS = [
    "conversation_id", "space", "seq", "author_kind", "author_id", "body", "created_at",
    "campaign_id", "arm",
]  # fmt: skip
AWKWARD = 'Hello, "world"; a,b,,c\nsecond line\r\nthird\ttab — été, 日本語, 😀 \\ end'


@dataclass(frozen=True)
class Row:
    conversation_id: str
    space: str
    seq: int
    author_kind: str
    author_id: str
    body: str
    created_at: datetime

    def iso(self) -> str:
        return self.created_at.isoformat(timespec="microseconds").replace("+00:00", "Z")


def at(day: int, hour: int = 0, micro: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, 0, 0, micro, tzinfo=UTC)


async def seed(url: str) -> list[Row]:
    """Two spaces, three conversations, messages at known times: the rows an export must give,
    in the order it must give them."""
    await asyncio.to_thread(migrate, url)
    db = Database(url)
    store = Store(db)
    rows: list[Row] = []
    try:
        await create_space(db, "retail", "Retail", [])
        agent = await create_agent(
            db,
            email="export-agent@example.com",
            name="Exporter",
            role="relation",
            password="a long enough password",
            space_keys=["default", "retail"],
        )
        principal_agent = await store.agent_principal(agent.id, agent.token_version)
        plan = [
            ("default", "visitor", "first, plain", at(1)),
            ("default", "agent", AWKWARD, at(2, 12, 500000)),
            ("default", "visitor", "a third", at(3, 8)),
            ("retail", "visitor", "retail one", at(2, 13)),
            ("retail", "agent", "retail two", at(4)),
        ]
        visitors: dict[str, Any] = {}
        conversation: dict[str, str] = {}
        for space, kind, body, when in plan:
            if space not in visitors:
                found = await store.space_by_key(space)
                assert found is not None
                vid = await store.create_visitor(found[0])
                visitors[space] = await store.visitor_principal(vid, found[0])
            author = visitors[space] if kind == "visitor" else principal_agent
            client_id = str(uuid.uuid4())
            result = await store.append(author, conversation.get(space), client_id, body)
            msg = result.message
            conversation[space] = msg.conversation_id
            async with db.write() as conn:
                await conn.execute(
                    messages.update().where(messages.c.id == msg.id).values(created_at=when)
                )
            rows.append(Row(msg.conversation_id, space, msg.seq, kind, author.id, body, when))
    finally:
        await db.dispose()
    return rows


def from_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        return next(reader), list(reader)


def from_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def as_text(rows: list[Row]) -> list[list[str]]:
    return [
        [
            r.conversation_id,
            r.space,
            str(r.seq),
            r.author_kind,
            r.author_id,
            r.body,
            r.iso(),
            "",
            "",
        ]
        for r in rows
    ]


def check_csv(path: Path, expected: list[Row]) -> None:
    header, body = from_csv(path)
    assert header == COLUMNS
    assert body == as_text(expected)
    for line in body:
        assert line[6].endswith("Z")
    # duckdb and pyarrow parse it the same way
    table = pacsv.read_csv(
        path,
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types={"author_id": "string"}),
    )
    assert table.column_names == COLUMNS
    assert table.column("body").to_pylist() == [r.body for r in expected]
    con = duckdb.connect()
    got = con.execute(
        "SELECT body, seq FROM read_csv(?, header = true, quote = '\"', escape = '\"')",
        [str(path)],
    ).fetchall()
    assert got == [(r.body, r.seq) for r in expected]


def check_jsonl(path: Path, expected: list[Row]) -> None:
    records = from_jsonl(path)
    assert [list(r) for r in records] == [COLUMNS] * len(expected)
    assert [[str(v) if v is not None else "" for v in r.values()] for r in records] == as_text(
        expected
    )
    assert all(isinstance(r["seq"], int) for r in records)
    con = duckdb.connect()
    got = con.execute("SELECT body FROM read_json(?, format = 'newline_delimited')", [str(path)])
    assert [b for (b,) in got.fetchall()] == [r.body for r in expected]


def check_parquet(path: Path, expected: list[Row]) -> None:
    table = pq.read_table(path)
    assert table.column_names == COLUMNS
    assert str(table.schema.field("created_at").type) == "timestamp[us, tz=UTC]"
    assert table.to_pylist() == [
        {
            "conversation_id": r.conversation_id,
            "space": r.space,
            "seq": r.seq,
            "author_kind": r.author_kind,
            "author_id": r.author_id,
            "body": r.body,
            "created_at": r.created_at,
            "campaign_id": None,
            "arm": None,
        }
        for r in expected
    ]
    con = duckdb.connect()
    got = con.execute(
        "SELECT conversation_id, space, seq, author_kind, author_id, body, epoch_us(created_at),"
        " typeof(created_at) FROM read_parquet(?)",
        [str(path)],
    ).fetchall()
    assert got == [
        (
            r.conversation_id,
            r.space,
            r.seq,
            r.author_kind,
            r.author_id,
            r.body,
            int(r.created_at.timestamp()) * 1_000_000 + r.created_at.microsecond,
            "TIMESTAMP WITH TIME ZONE",
        )
        for r in expected
    ]
    described = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()
    assert [d[0] for d in described] == COLUMNS


async def test_export_every_format_and_filter(empty_database: str, tmp_path: Path) -> None:
    url = empty_database
    rows = await seed(url)
    checks = {"csv": check_csv, "jsonl": check_jsonl, "parquet": check_parquet}

    cli = url.startswith("sqlite")  # the command on one backend; the same export in process
    # on the other, where only the query differs (a process per file is the cost of this test)

    async def run(fmt: str, *flags: str) -> Path:
        out = tmp_path / f"export-{fmt}-{len(flags)}.{fmt}"
        if not cli:
            assert not flags
            db = Database(url)
            try:
                await export_to_file(db, Export(), out, fmt)  # type: ignore[arg-type]
            finally:
                await db.dispose()
            return out
        result = await causette(
            "export", "--format", fmt, "--out", str(out), *flags, database_url=url
        )
        assert result.code == 0, result.output
        assert "Traceback" not in result.output
        return out

    jobs = [run(fmt) for fmt in checks]
    window = ["--since", "2026-01-02T12:00:00.5Z", "--until", "2026-01-04T00:00:00Z"]
    if cli:  # and the three filters through the command line: [since, until) and one space
        jobs.append(run("csv", *window, "--space", "default"))
    files = await asyncio.gather(*jobs)
    for check, path in zip(checks.values(), files, strict=False):
        check(path, rows)
    if cli:
        inside = [r for r in rows if at(2, 12, 500000) <= r.created_at < at(4)]
        check_csv(files[-1], [r for r in inside if r.space == "default"])

    # and each alone, in process
    db = Database(url)
    try:
        for kwargs, keep in (
            ({"since": at(2, 13)}, lambda r: r.created_at >= at(2, 13)),
            ({"until": at(2, 13)}, lambda r: r.created_at < at(2, 13)),
            ({"space": "retail"}, lambda r: r.space == "retail"),
            ({"since": at(9)}, lambda r: False),
        ):
            out = tmp_path / "filtered.jsonl"
            count = await export_to_file(db, Export(**kwargs), out, "jsonl")  # type: ignore[arg-type]
            expected = [r for r in rows if keep(r)]
            assert count == len(expected)
            got = [[str(v) if v is not None else "" for v in r.values()] for r in from_jsonl(out)]
            assert got == as_text(expected)
    finally:
        await db.dispose()


def test_naive_times_on_the_command_line_are_utc() -> None:
    from chat.clock import parse_iso

    assert parse_iso("2026-01-02T12:00:00") == parse_iso("2026-01-02T12:00:00Z") == at(2, 12)
    assert parse_iso("2026-01-02T13:00:00+01:00") == at(2, 12)
