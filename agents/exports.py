"""The analytics export, version 2: four tables (messages, conversations, exposures,
goal_events) in csv, jsonl or parquet, or a directory of Parquet files partitioned by day,
redacted unless raw text is asked for, streamed with flat memory, never another space's rows.

Every file carries its schema: Parquet in its metadata (``causette.schema_version``,
``causette.table``, ``causette.redaction``), every format in a ``.schema.json`` written beside
it (``_schema.json`` in a partitioned directory).
docs/reports.md lists the columns. Rows are read in keyset pages (no long transaction) and
written a batch at a time; a file appears under its name only when complete.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import csv
import io
import json
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from agents.models import exposures, goal_events
from agents.reports.facts import entry_page, facts, utm
from agents.spreadsheet import safe_cell
from chat.clock import as_utc, iso, utcnow
from chat.db import Database, private_file
from chat.errors import UsageError
from chat.models import agents, conversations, messages, spaces, visitors
from chat.redaction import Mode, Redactor

__all__ = ["SCHEMA_VERSION", "TABLES", "Export", "export_to_file", "stream"]

SCHEMA_VERSION = "2"
Format = Literal["csv", "jsonl", "parquet"]
Table = Literal["messages", "conversations", "exposures", "goal_events"]
TABLES: tuple[str, ...] = ("messages", "conversations", "exposures", "goal_events")
BATCH = 5000

TS = pa.timestamp("us", tz="UTC")
COLUMNS: dict[str, list[tuple[str, pa.DataType]]] = {
    "messages": [
        ("conversation_id", pa.string()),
        ("space", pa.string()),
        ("seq", pa.int64()),
        ("author_kind", pa.string()),
        ("author_id", pa.string()),
        ("body", pa.string()),
        ("created_at", TS),
        ("campaign_id", pa.string()),
        ("arm", pa.string()),
    ],
    "conversations": [
        ("conversation_id", pa.string()),
        ("space", pa.string()),
        ("visitor_id", pa.string()),
        ("visitor_name", pa.string()),
        ("created_at", TS),
        ("first_response_at", TS),
        ("first_response_s", pa.float64()),
        ("resolved_at", TS),
        ("reopened", pa.int64()),
        ("assignee_id", pa.string()),
        ("team_id", pa.string()),
        ("visitor_messages", pa.int64()),
        ("agent_messages", pa.int64()),
        ("system_messages", pa.int64()),
        ("tags", pa.string()),
        ("csat_score", pa.int64()),
        ("csat_comment", pa.string()),
        ("campaign_id", pa.string()),
        ("phase", pa.int64()),
        ("arm", pa.string()),
        ("entry_page", pa.string()),
        ("referrer", pa.string()),
        ("utm_source", pa.string()),
        ("utm_medium", pa.string()),
        ("utm_campaign", pa.string()),
        ("locale", pa.string()),
        ("device", pa.string()),
    ],
    "exposures": [
        ("campaign_id", pa.string()),
        ("phase", pa.int64()),
        ("arm", pa.string()),
        ("space", pa.string()),
        ("visitor_id", pa.string()),
        ("at", TS),
    ],
    "goal_events": [
        ("space", pa.string()),
        ("visitor_id", pa.string()),
        ("name", pa.string()),
        ("props", pa.string()),
        ("at", TS),
    ],
}
RAW_ONLY = {"messages": [("author_name", pa.string())]}  # names appear only in a raw export
TIME_OF = {
    "messages": "created_at",
    "conversations": "created_at",
    "exposures": "at",
    "goal_events": "at",
}


def device_of(user_agent: str | None) -> str | None:
    """desktop, tablet or mobile, from a browser's user agent (a coarse, documented guess)."""
    if not user_agent:
        return None
    ua = user_agent.lower()
    if "ipad" in ua or "tablet" in ua or ("android" in ua and "mobile" not in ua):
        return "tablet"
    if "mobi" in ua or "iphone" in ua or "android" in ua:
        return "mobile"
    return "desktop"


@dataclass
class Export:
    """What to export: a table of one space (or all), a time range, a redaction mode."""

    table: Table = "messages"
    space: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    redact: Mode = "mask"
    raw: bool = False
    key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    written: int = 0
    redactors: dict[str, Redactor] = field(default_factory=dict)
    pool: concurrent.futures.Executor | None = None  # redacts messages beside the reads
    counted: dict[str, int] = field(default_factory=dict)  # what the pool found

    def worker_args(
        self, known: dict[str, tuple[str, Any]]
    ) -> tuple[str, bytes, dict[str, list[tuple[str, str]]]]:
        extra = {sid: [(str(n), str(p)) for n, p in pats or ()] for sid, (_, pats) in known.items()}
        return self.redact, self.key, extra

    def schema(self) -> pa.Schema:
        cols = COLUMNS[self.table] + (RAW_ONLY.get(self.table, []) if self.raw else [])
        meta = {
            "causette.schema_version": SCHEMA_VERSION,
            "causette.table": self.table,
            "causette.redaction": "raw" if self.raw else self.redact,
        }
        return pa.schema(cols, metadata=meta)

    @property
    def names(self) -> list[str]:
        return list(self.schema().names)

    def redactor(self, space_id: str, patterns: Sequence[Sequence[str]] | None) -> Redactor:
        found = self.redactors.get(space_id)
        if found is None:
            extra = [(str(n), str(p)) for n, p in patterns or ()]
            found = Redactor(self.redact, key=self.key, extra=extra)
            self.redactors[space_id] = found
        return found

    def describe(self) -> dict[str, Any]:
        """The .schema.json beside the file."""
        counts: dict[str, int] = dict(self.counted)
        for r in self.redactors.values():
            for k, v in r.counts().items():
                counts[k] = counts.get(k, 0) + v
        return {
            "schema_version": SCHEMA_VERSION,
            "table": self.table,
            "columns": [{"name": f.name, "type": str(f.type)} for f in self.schema()],
            "redaction": "raw" if self.raw else self.redact,
            "redacted": counts,
            "rows": self.written,
            "space": self.space,
            "since": iso(self.since) if self.since else None,
            "until": iso(self.until) if self.until else None,
            "written_at": iso(utcnow()),
        }


async def _space_ids(db: Database, key: str | None) -> dict[str, tuple[str, Any]]:
    """space id -> (key, redaction patterns) of the export's space, or of all."""
    query = sa.select(spaces.c.id, spaces.c.key, spaces.c.redaction_patterns)
    if key is not None:
        query = query.where(spaces.c.key == key)
    async with db.read() as conn:
        rows = (await conn.execute(query)).all()
    if key is not None and not rows:
        raise UsageError(f"No such space: {key}")
    return {r.id: (r.key, r.redaction_patterns) for r in rows}


async def count_rows(db: Database, job: Export) -> int:
    table = {"messages": messages, "conversations": conversations, "exposures": exposures,
             "goal_events": goal_events}[job.table]  # fmt: skip
    column = table.c[TIME_OF[job.table]]
    query = sa.select(sa.func.count()).select_from(table)
    if job.space is not None:
        ids = list(await _space_ids(db, job.space))
        query = query.where(table.c.space_id.in_(ids))
    if job.since is not None:
        query = query.where(column >= job.since)
    if job.until is not None:
        query = query.where(column < job.until)
    async with db.read() as conn:
        return int((await conn.execute(query)).scalar_one())


async def rows_of(db: Database, job: Export) -> AsyncIterator[list[dict[str, Any]]]:
    """The export's rows, a batch at a time, redacted as asked."""
    known = await _space_ids(db, job.space)
    reader = {
        "messages": _messages,
        "conversations": _conversations,
        "exposures": _exposures,
        "goal_events": _goal_events,
    }[job.table]
    async for batch in reader(db, job, known):
        job.written += len(batch)
        yield batch


def _window(query: Any, column: Any, job: Export, ids: Iterable[str], space_col: Any) -> Any:
    query = query.where(space_col.in_(list(ids)))
    if job.since is not None:
        query = query.where(column >= job.since)
    if job.until is not None:
        query = query.where(column < job.until)
    return query


async def _pages(db: Database, query: Any, key: Any) -> AsyncIterator[Sequence[Any]]:
    """Keyset pages on an increasing key: flat memory, no long transaction."""
    last: Any = None
    while True:
        page = query if last is None else query.where(key > last)
        async with db.read() as conn:
            rows = (await conn.execute(page.order_by(key).limit(BATCH))).all()
        if not rows:
            return
        last = rows[-1].page_key
        yield rows
        if len(rows) < BATCH:
            return


_author_name = sa.case(
    (messages.c.author_kind == "agent", agents.c.name),
    (messages.c.author_kind == "visitor", visitors.c.name),
    else_=sa.null(),
)


async def _messages(
    db: Database, job: Export, known: dict[str, tuple[str, Any]]
) -> AsyncIterator[list[dict[str, Any]]]:
    query = _window(
        sa.select(
            messages.c.id.label("page_key"),
            messages.c.conversation_id,
            messages.c.space_id,
            messages.c.seq,
            messages.c.author_kind,
            messages.c.author_id,
            messages.c.body,
            messages.c.created_at,
            conversations.c.campaign_id,
            conversations.c.campaign_arm,
            _author_name.label("author_name"),
        ).select_from(
            messages.join(conversations, conversations.c.id == messages.c.conversation_id)
            .outerjoin(agents, sa.and_(messages.c.author_kind == "agent",
                                       agents.c.id == messages.c.author_id))
            .outerjoin(visitors, sa.and_(messages.c.author_kind == "visitor",
                                         visitors.c.id == messages.c.author_id))
        ),
        messages.c.created_at, job, known, messages.c.space_id,
    )  # fmt: skip
    loop = asyncio.get_running_loop()
    pending: tuple[list[tuple[Any, ...]], Any] | None = None
    async for page in _pages(db, query, messages.c.id):
        rows = [tuple(r) for r in page]  # positional: far cheaper than a row's attributes
        bodies: Any = None
        if not job.raw:
            items = [(r[2], r[6]) for r in rows]
            if job.pool is not None:  # redacted in another process while the next page loads
                bodies = loop.run_in_executor(job.pool, _redact, job.worker_args(known), items)
            else:
                bodies = [job.redactor(sid, known[sid][1]).redact(text) for sid, text in items]
        if pending is not None:
            yield await _message_rows(job, known, *pending)
        pending = (rows, bodies)
    if pending is not None:
        yield await _message_rows(job, known, *pending)


async def _message_rows(
    job: Export, known: dict[str, tuple[str, Any]], rows: list[tuple[Any, ...]], bodies: Any
) -> list[dict[str, Any]]:
    if isinstance(bodies, asyncio.Future):
        bodies, counts = await bodies
        for name, n in counts.items():
            job.counted[name] = job.counted.get(name, 0) + n
    out = []
    for i, (_, cid, sid, seq, kind, author, body, at, campaign, arm, name) in enumerate(rows):
        row = {
            "conversation_id": cid,
            "space": known[sid][0],
            "seq": seq,
            "author_kind": kind,
            "author_id": author,
            "body": body if bodies is None else bodies[i],
            "created_at": at if at.tzinfo is UTC else as_utc(at),
            "campaign_id": campaign,
            "arm": arm,
        }
        if job.raw:
            row["author_name"] = name
        out.append(row)
    return out


# a redaction process's Redactors, one per (mode, key, space), made on first use
_REDACTORS: dict[tuple[str, bytes, str], Redactor] = {}


def _redact(
    args: tuple[str, bytes, dict[str, list[tuple[str, str]]]], items: list[tuple[str, str]]
) -> tuple[list[str], dict[str, int]]:
    """In a redaction process: the texts redacted, and what was found in them."""
    mode, key, extra = args
    counts: dict[str, int] = {}
    out = []
    for space_id, text in items:
        r = _REDACTORS.get((mode, key, space_id))
        if r is None:
            r = Redactor(mode, key=key, extra=extra.get(space_id, []))  # type: ignore[arg-type]
            _REDACTORS[(mode, key, space_id)] = r
        before = r.counts()
        out.append(r.redact(text))
        for name, n in r.counts().items():
            if n != before.get(name, 0):
                counts[name] = counts.get(name, 0) + n - before.get(name, 0)
    return out, counts


async def _conversations(
    db: Database, job: Export, known: dict[str, tuple[str, Any]]
) -> AsyncIterator[list[dict[str, Any]]]:
    """One row per conversation, from the same facts as the reports, a day range at a time."""
    high = job.until or utcnow()
    for space_id, (key, patterns) in known.items():
        async with db.read() as conn:
            first = (
                await conn.execute(
                    sa.select(sa.func.min(conversations.c.created_at)).where(
                        conversations.c.space_id == space_id
                    )
                )
            ).scalar()
        if first is None:
            continue
        start = max(job.since, as_utc(first)) if job.since else as_utc(first)
        while start < high:
            end = min(high, start + _STEP)
            found = await facts(db, space_id, start, end)
            start = end
            if not found:
                continue
            r = None if job.raw else job.redactor(space_id, patterns)
            out = []
            for f in found:
                params = utm(f.entry_url)
                name = f.visitor_name
                out.append(
                    {
                        "conversation_id": f.id,
                        "space": key,
                        "visitor_id": f.visitor_id,
                        "visitor_name": name if r is None else r.pseudonym(name, f.visitor_id),
                        "created_at": f.created_at,
                        "first_response_at": f.first_response_at,
                        "first_response_s": (f.first_response_at - f.created_at).total_seconds()
                        if f.first_response_at
                        else None,
                        "resolved_at": f.resolved_at,
                        "reopened": f.reopened,
                        "assignee_id": f.assignee_id,
                        "team_id": f.team_id,
                        "visitor_messages": f.visitor_messages,
                        "agent_messages": f.agent_messages,
                        "system_messages": f.system_messages,
                        "tags": ";".join(f.tags),
                        "csat_score": f.csat_score,
                        "csat_comment": _text(r, f.csat_comment),
                        "campaign_id": f.campaign_id,
                        "phase": f.campaign_phase,
                        "arm": f.campaign_arm,
                        "entry_page": _url(r, entry_page(f.entry_url)),
                        "referrer": _url(r, f.entry_referrer),
                        "utm_source": _text(r, params.get("utm_source")),
                        "utm_medium": _text(r, params.get("utm_medium")),
                        "utm_campaign": _text(r, params.get("utm_campaign")),
                        "locale": f.entry_locale,
                        "device": device_of(f.entry_user_agent),
                    }
                )
            for i in range(0, len(out), BATCH):
                yield out[i : i + BATCH]


_STEP = timedelta(days=7)  # conversations are read a week of starts at a time


def _text(r: Redactor | None, value: str | None) -> str | None:
    return value if r is None or value is None else r.redact(value)


def _url(r: Redactor | None, value: str | None) -> str | None:
    return value if r is None or value is None else r.redact_url(value)


async def _exposures(
    db: Database, job: Export, known: dict[str, tuple[str, Any]]
) -> AsyncIterator[list[dict[str, Any]]]:
    query = _window(
        sa.select(
            exposures.c.id.label("page_key"), exposures.c.campaign_id, exposures.c.phase,
            exposures.c.arm, exposures.c.space_id, exposures.c.visitor_id, exposures.c.at,
        ),
        exposures.c.at, job, known, exposures.c.space_id,
    )  # fmt: skip
    async for rows in _pages(db, query, exposures.c.id):
        yield [
            {"campaign_id": r.campaign_id, "phase": r.phase, "arm": r.arm,
             "space": known[r.space_id][0], "visitor_id": r.visitor_id, "at": as_utc(r.at)}
            for r in rows
        ]  # fmt: skip


async def _goal_events(
    db: Database, job: Export, known: dict[str, tuple[str, Any]]
) -> AsyncIterator[list[dict[str, Any]]]:
    query = _window(
        sa.select(
            goal_events.c.id.label("page_key"), goal_events.c.space_id, goal_events.c.visitor_id,
            goal_events.c.name, goal_events.c.props, goal_events.c.at,
        ),
        goal_events.c.at, job, known, goal_events.c.space_id,
    )  # fmt: skip
    async for rows in _pages(db, query, goal_events.c.id):
        out = []
        for r in rows:
            key, patterns = known[r.space_id]
            props = (
                r.props
                if job.raw or r.props is None
                else job.redactor(r.space_id, patterns).redact_json(r.props)
            )
            out.append(
                {"space": key, "visitor_id": r.visitor_id, "name": r.name,
                 "props": json.dumps(props, ensure_ascii=False) if props is not None else None,
                 "at": as_utc(r.at)}
            )  # fmt: skip
        yield out


# -- writing --------------------------------------------------------------------------------


def _cell(value: Any) -> Any:
    return iso(value) if isinstance(value, datetime) else safe_cell(value)


def _plain(value: Any) -> Any:
    return iso(value) if isinstance(value, datetime) else value


class _Sink(io.RawIOBase):
    """A file that keeps what is written until it is taken (Parquet, streamed)."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.chunks.append(bytes(b))
        return len(b)

    def take(self) -> bytes:
        out = b"".join(self.chunks)
        self.chunks.clear()
        return out


async def stream(db: Database, job: Export, fmt: Format) -> AsyncIterator[bytes]:
    """The export as bytes, a batch at a time (for HTTP)."""
    names = job.names
    if fmt == "parquet":
        sink = _Sink()
        writer = pq.ParquetWriter(sink, job.schema(), compression="zstd")
        try:
            async for batch in rows_of(db, job):
                writer.write_table(pa.Table.from_pylist(batch, schema=job.schema()))
                yield sink.take()
        finally:
            writer.close()
        yield sink.take()
        return
    if fmt == "csv":
        buffer = io.StringIO()
        out = csv.writer(buffer)
        out.writerow(names)
        async for batch in rows_of(db, job):
            for row in batch:
                out.writerow([_cell(row.get(n)) for n in names])
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue().encode()
        return
    async for batch in rows_of(db, job):
        yield "".join(
            json.dumps({n: _plain(row.get(n)) for n in names}, ensure_ascii=False) + "\n"
            for row in batch
        ).encode()


async def export_to_file(
    db: Database,
    job: Export,
    out: Path,
    fmt: Format,
    *,
    partition: bool = False,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the export to ``out`` (a directory of day partitions with ``partition``) and
    its ``.schema.json`` beside it; return the number of rows."""
    if partition:
        return await _partitioned(db, job, out, progress)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.part")
    private_file(tmp)  # transcripts and visitor data: readable by the owner only
    try:
        with open(tmp, "wb") as f:  # noqa: ASYNC230  (the CLI: nothing else waits on this loop)
            async for chunk in stream(db, job, fmt):
                f.write(chunk)
                if progress is not None:
                    progress(job.written)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    _describe(out.with_name(out.name + ".schema.json"), job)
    return job.written


async def _partitioned(
    db: Database, job: Export, out: Path, progress: Callable[[int], None] | None
) -> int:
    """``out/date=YYYY-MM-DD/part-0.parquet``, one per UTC day (hive style: duckdb and pyarrow
    read the directory as one table)."""
    out.mkdir(mode=0o700, exist_ok=True)  # noqa: ASYNC240  (the CLI's own loop)
    column = TIME_OF[job.table]
    writers: dict[str, tuple[pq.ParquetWriter, Path, Path]] = {}
    try:
        async for batch in rows_of(db, job):
            by_day: dict[str, list[dict[str, Any]]] = {}
            for row in batch:
                by_day.setdefault(row[column].date().isoformat(), []).append(row)
            for day, rows in by_day.items():
                if day not in writers:
                    folder = out / f"date={day}"
                    folder.mkdir(mode=0o700, exist_ok=True)
                    final = folder / "part-0.parquet"
                    tmp = folder / f".part-0.{os.getpid()}.part"
                    private_file(tmp)
                    writers[day] = (
                        pq.ParquetWriter(tmp, job.schema(), compression="zstd"),
                        tmp,
                        final,
                    )
                writers[day][0].write_table(pa.Table.from_pylist(rows, schema=job.schema()))
            if progress is not None:
                progress(job.written)
        for writer, tmp, final in writers.values():
            writer.close()
            os.replace(tmp, final)
    finally:
        for writer, tmp, _ in writers.values():
            with contextlib.suppress(Exception):
                writer.close()
            tmp.unlink(missing_ok=True)
    _describe(out / "_schema.json", job)  # hive readers skip files starting with _
    return job.written


def _describe(path: Path, job: Export) -> None:
    private_file(path)
    path.write_text(json.dumps(job.describe(), indent=2, ensure_ascii=False) + "\n")
