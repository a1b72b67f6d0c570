"""Transcript export for analytics: one row per message, streamed in batches.

Memory stays flat whatever the size: rows are read with a server-side cursor (PostgreSQL) or
in pages (SQLite) and written a batch at a time. The file appears under its name only when
complete.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from chat.clock import as_utc, iso
from chat.db import Database, private_file
from chat.errors import UsageError
from chat.models import messages, spaces

__all__ = ["COLUMNS", "Format", "export_messages"]

Format = Literal["csv", "jsonl", "parquet"]
COLUMNS = ("conversation_id", "space", "seq", "author_kind", "author_id", "body", "created_at")
BATCH = 5000

_SCHEMA = pa.schema(
    [
        ("conversation_id", pa.string()),
        ("space", pa.string()),
        ("seq", pa.int64()),
        ("author_kind", pa.string()),
        ("author_id", pa.string()),
        ("body", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
    ]
)


async def _batches(
    db: Database, since: datetime | None, until: datetime | None, space: str | None
) -> AsyncIterator[Sequence[Any]]:
    query = (
        sa.select(
            messages.c.conversation_id,
            spaces.c.key.label("space"),
            messages.c.seq,
            messages.c.author_kind,
            messages.c.author_id,
            messages.c.body,
            messages.c.created_at,
            messages.c.id,
        )
        .select_from(messages.join(spaces, spaces.c.id == messages.c.space_id))
        .order_by(messages.c.id)
    )
    if since is not None:
        query = query.where(messages.c.created_at >= since)
    if until is not None:
        query = query.where(messages.c.created_at < until)
    if space is not None:
        query = query.where(spaces.c.key == space)
    # keyset pages on the primary key: flat memory on every backend, no long transaction
    last_id = 0
    while True:
        async with db.read() as conn:
            rows = (await conn.execute(query.where(messages.c.id > last_id).limit(BATCH))).all()
        if not rows:
            return
        last_id = rows[-1].id
        yield rows
        if len(rows) < BATCH:
            return


async def export_messages(
    db: Database,
    out: Path,
    fmt: Format,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    space: str | None = None,
) -> int:
    """Write the export to ``out``; return the number of rows."""
    if space is not None:
        async with db.read() as conn:
            found = (
                await conn.execute(sa.select(spaces.c.id).where(spaces.c.key == space))
            ).first()
        if found is None:
            raise UsageError(f"No such space: {space}")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.part")
    private_file(tmp)  # transcripts and visitor data: readable by the owner only
    count = 0
    try:
        batches = _batches(db, since, until, space)
        if fmt == "parquet":
            with pq.ParquetWriter(tmp, _SCHEMA, compression="zstd") as writer:
                async for rows in batches:
                    writer.write_table(_table(rows))
                    count += len(rows)
        else:
            # the export runs in the CLI, where nothing else waits on this loop
            with open(tmp, "w", newline="", encoding="utf-8") as f:  # noqa: ASYNC230
                writer_csv = csv.writer(f) if fmt == "csv" else None
                if writer_csv is not None:
                    writer_csv.writerow(COLUMNS)
                async for rows in batches:
                    for r in rows:
                        values = _values(r)
                        if writer_csv is not None:
                            writer_csv.writerow(values)
                        else:
                            f.write(
                                json.dumps(
                                    dict(zip(COLUMNS, values, strict=True)), ensure_ascii=False
                                )
                            )
                            f.write("\n")
                    count += len(rows)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return count


def _values(r: Any) -> tuple[Any, ...]:
    return (
        r.conversation_id,
        r.space,
        r.seq,
        r.author_kind,
        r.author_id,
        r.body,
        iso(r.created_at),
    )


def _table(rows: Sequence[Any]) -> pa.Table:
    return pa.table(
        {
            "conversation_id": [r.conversation_id for r in rows],
            "space": [r.space for r in rows],
            "seq": [r.seq for r in rows],
            "author_kind": [r.author_kind for r in rows],
            "author_id": [r.author_id for r in rows],
            "body": [r.body for r in rows],
            "created_at": [as_utc(r.created_at) for r in rows],
        },
        schema=_SCHEMA,
    )
