"""Group commit for the common append: many messages, one round trip, one commit.

Most messages go to an open conversation the sender may write to, under a client_id not seen
before. Those are queued here; one task per process takes whatever is waiting and stores it
in a single statement (PostgreSQL) or a single transaction on a dedicated connection and
thread (SQLite). Every message still gets its per-conversation seq from the conversation row
in the same transaction as its insert, and its ack only after the commit. A space whose
webhooks want ``message.created`` gets its events written in that transaction too, one
multi-row insert per batch (chat/outbox.py's statements); a batch of spaces without them
runs exactly as before.

An append this path cannot take (a first message, a duplicate, a resolved or foreign
conversation, or a batch that met a constraint) comes back as ``None``, and the caller takes
the general path in chat/store.py, which also says what went wrong.
"""

from __future__ import annotations

import asyncio
import collections
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from chat import outbox as events
from chat.clock import iso, utcnow
from chat.db import Database, sqlite_pragmas
from chat.errors import StoreUnavailable
from chat.logging import get_logger

__all__ = ["Appended", "BatchWriter", "Pending"]

log = get_logger("causette.writer")


@dataclass(frozen=True, slots=True)
class Pending:
    conversation_id: str
    client_id: str
    kind: str  # visitor | agent
    author_id: str
    body: str
    author_name: str | None = None  # for the message.created event, when one is written
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class Appended:
    id: int
    seq: int
    space_id: str
    visitor_id: str
    created_at: datetime


# Who may write where, and the idempotency check; the same rules as Store.visible and
# Store._existing. PostgreSQL numbers the parameters, SQLite names them.
_PG_BATCH = """
WITH inp AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
        WITH ORDINALITY AS t(conv, cid, kind, author, body, ord)
),
first AS (
    SELECT DISTINCT ON (conv, cid) * FROM inp ORDER BY conv, cid, ord
),
ok AS (
    SELECT f.* FROM first f
    JOIN conversations c ON c.id = f.conv AND c.status = 'open'
    WHERE CASE f.kind
        WHEN 'visitor' THEN c.visitor_id = f.author AND NOT EXISTS (
            SELECT 1 FROM messages m JOIN conversations c2 ON c2.id = m.conversation_id
            WHERE m.client_id = f.cid AND c2.visitor_id = f.author)
        ELSE c.space_id IN (SELECT a.space_id FROM agent_spaces a WHERE a.agent_id = f.author)
            AND NOT EXISTS (
            SELECT 1 FROM messages m WHERE m.conversation_id = f.conv AND m.client_id = f.cid)
    END
),
locked AS (
    SELECT c.id FROM conversations c WHERE c.id IN (SELECT conv FROM ok)
    ORDER BY c.id FOR UPDATE
),
counts AS (
    SELECT conv, count(*) AS n, count(*) FILTER (WHERE kind = 'visitor') AS v,
        count(*) FILTER (WHERE kind = 'agent') AS a
    FROM ok GROUP BY conv
),
bump AS (
    UPDATE conversations c SET last_seq = c.last_seq + counts.n, updated_at = $6,
        visitor_messages = c.visitor_messages + counts.v,
        agent_messages = c.agent_messages + counts.a,
        first_agent_at = CASE WHEN counts.a > 0 THEN coalesce(c.first_agent_at, $6)
            ELSE c.first_agent_at END
    FROM counts
    WHERE c.id = counts.conv AND c.status = 'open' AND c.id IN (SELECT id FROM locked)
    RETURNING c.id, c.last_seq AS last, counts.n, c.space_id, c.visitor_id
),
numbered AS (
    SELECT ok.*, row_number() OVER (PARTITION BY ok.conv ORDER BY ok.ord) AS rn FROM ok
),
ins AS (
    INSERT INTO messages
        (conversation_id, space_id, seq, client_id, author_kind, author_id, body, created_at)
    SELECT n.conv, b.space_id, b.last - b.n + n.rn, n.cid, n.kind, n.author, n.body, $6
    FROM numbered n JOIN bump b ON b.id = n.conv
    RETURNING id, conversation_id, seq, client_id
)
SELECT ins.id, ins.conversation_id, ins.seq, ins.client_id, b.space_id, b.visitor_id
FROM ins JOIN bump b ON b.id = ins.conversation_id
"""

_SQLITE_BUMP = {
    "visitor": """
        UPDATE conversations SET last_seq = last_seq + 1, updated_at = :now,
            visitor_messages = visitor_messages + 1
        WHERE id = :conv AND status = 'open' AND visitor_id = :author AND NOT EXISTS (
            SELECT 1 FROM messages m JOIN conversations c2 ON c2.id = m.conversation_id
            WHERE m.client_id = :cid AND c2.visitor_id = :author)
        RETURNING last_seq, space_id, visitor_id""",
    "agent": """
        UPDATE conversations SET last_seq = last_seq + 1, updated_at = :now,
            agent_messages = agent_messages + 1, first_agent_at = coalesce(first_agent_at, :now)
        WHERE id = :conv AND status = 'open'
          AND space_id IN (SELECT space_id FROM agent_spaces WHERE agent_id = :author)
          AND NOT EXISTS (
            SELECT 1 FROM messages m WHERE m.conversation_id = :conv AND m.client_id = :cid)
        RETURNING last_seq, space_id, visitor_id""",
}
_SQLITE_INSERT = """
    INSERT INTO messages
        (conversation_id, space_id, seq, client_id, author_kind, author_id, body, created_at)
    VALUES (:conv, :space, :seq, :cid, :kind, :author, :body, :now)"""

_PG_LOST = (OSError, ConnectionError, TimeoutError)


def _with_events(batch: str) -> str:
    """The batch statement that also writes the message.created events of the spaces in $7
    (chat/outbox.py ``PG_MESSAGE_EVENTS``): three more input arrays, one more CTE."""
    columns = "$4::text[], $5::text[])"
    names = "AS t(conv, cid, kind, author, body, ord)"
    final = "\nSELECT ins.id, ins.conversation_id"
    for part in (columns, names, final):
        assert batch.count(part) == 1, part
    return (
        batch.replace(columns, "$4::text[], $5::text[], $8::text[], $9::text[], $10::text[])")
        .replace(names, "AS t(conv, cid, kind, author, body, aname, rid, evid, ord)")
        .replace(final, events.PG_MESSAGE_EVENTS + final)
    )


_PG_BATCH_EVENTS = _with_events(_PG_BATCH)


class BatchWriter:
    def __init__(
        self, db: Database, *, max_batch: int = 256, outbox: events.Outbox | None = None
    ) -> None:
        self.db = db
        self.outbox = outbox
        self._max_batch = max_batch
        self._queue: collections.deque[tuple[Pending, asyncio.Future[Appended | None]]] = (
            collections.deque()
        )
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sqlite: _SqliteWriter | None = _SqliteWriter(db.url) if db.sqlite else None

    async def append(self, item: Pending) -> Appended | None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="batch-writer")
        future: asyncio.Future[Appended | None] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        self._wakeup.set()
        return await future

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        for _, future in self._queue:
            if not future.done():
                future.set_exception(StoreUnavailable())
        if self._sqlite is not None:
            self._sqlite.close()

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                n = min(self._max_batch, len(self._queue))
                batch = [self._queue.popleft() for _ in range(n)]
                items = [item for item, _ in batch]
                started = time.monotonic()
                try:
                    results = await self._write(items)
                except StoreUnavailable as exc:
                    for _, future in batch:
                        if not future.done():
                            error = StoreUnavailable(exc.message)
                            error.__cause__ = exc.__cause__  # Store.append tells lost from down
                            future.set_exception(error)
                    continue
                except Exception:
                    log.exception("batch_failed", size=len(items))
                    results = [None] * len(items)  # each goes the general way
                else:
                    if self.db.metrics is not None:
                        self.db.metrics.batch_written(n, time.monotonic() - started)
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)

    async def _write(self, items: list[Pending]) -> list[Appended | None]:
        now = utcnow()
        # the spaces whose webhooks want these messages (almost always none)
        wanted = self.outbox.interest.spaces("message.created") if self.outbox else frozenset()
        if self._sqlite is not None:
            # one writer at a time in this process, whichever connection it uses
            async with self.db.write_lock():
                try:
                    return await self._sqlite.write(items, now, wanted)
                except StoreUnavailable as exc:
                    self.db.failed(exc.__cause__ or exc)  # its own connection: counted here
                    raise
        return await self._write_pg(items, now, wanted)

    async def _write_pg(
        self, items: list[Pending], now: datetime, wanted: frozenset[str] = frozenset()
    ) -> list[Appended | None]:
        import asyncpg

        args: list[Any] = [
            [i.conversation_id for i in items],
            [i.client_id for i in items],
            [i.kind for i in items],
            [i.author_id for i in items],
            [i.body for i in items],
            now,
        ]
        if wanted:
            args += [
                sorted(wanted),
                [i.author_name for i in items],
                [i.request_id for i in items],
                [events.new_event_id() for _ in items],
                iso(now),
            ]

        try:
            async with self.db.connect() as conn:  # its errors are counted there
                raw = await conn.get_raw_connection()
                pg: Any = raw.driver_connection
                try:
                    rows = await pg.fetch(_PG_BATCH_EVENTS if wanted else _PG_BATCH, *args)
                except asyncpg.UniqueViolationError:
                    return [None] * len(items)  # a concurrent duplicate: the general path
                except (*_PG_LOST, asyncpg.PostgresConnectionError, asyncpg.InterfaceError):
                    pg.terminate()  # at once: a graceful close would wait on a hung server
                    await conn.invalidate()
                    raise
        except (
            *_PG_LOST,
            DBAPIError,
            asyncpg.PostgresConnectionError,
            asyncpg.InterfaceError,
            asyncpg.CannotConnectNowError,
        ) as exc:
            raise StoreUnavailable() from exc
        found = {(r["conversation_id"], r["client_id"]): r for r in rows}
        out: list[Appended | None] = []
        for item in items:
            r = found.pop((item.conversation_id, item.client_id), None)
            out.append(
                Appended(r["id"], r["seq"], r["space_id"], r["visitor_id"], now) if r else None
            )
        return out


def _event_row(item: Pending, done: Appended, stamp: str) -> tuple[Any, ...]:
    data = events.message_data(
        conversation_id=item.conversation_id,
        visitor_id=done.visitor_id,
        message_id=done.id,
        seq=done.seq,
        client_id=item.client_id,
        author_kind=item.kind,
        author_id=item.author_id,
        author_name=item.author_name,
        body=item.body,
        created_at=done.created_at,
    )
    return events.sqlite_row(data, done.space_id, item.request_id, stamp)


def _sqlite_timestamp(value: datetime) -> str:
    """The text form SQLAlchemy uses for DateTime on SQLite: naive UTC, microseconds."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


class _SqliteWriter:
    """One connection and one thread: SQLite has one writer anyway, and a batch crosses to
    the thread once instead of once per statement."""

    def __init__(self, url: str) -> None:
        self._path = make_url(url).database or ":memory:"
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(
                self._path, timeout=30, isolation_level=None, check_same_thread=False
            )
            sqlite_pragmas(conn)
            self._conn = conn
        return self._conn

    async def write(
        self, items: list[Pending], now: datetime, wanted: frozenset[str] = frozenset()
    ) -> list[Appended | None]:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, self._write_sync, items, now, wanted)
        except sqlite3.IntegrityError:
            return [None] * len(items)
        except sqlite3.Error as exc:
            raise StoreUnavailable() from exc

    def _write_sync(
        self, items: list[Pending], now: datetime, wanted: frozenset[str] = frozenset()
    ) -> list[Appended | None]:
        conn = self._connect()
        stamp = _sqlite_timestamp(now)
        out: list[Appended | None] = []
        emitted: list[tuple[Any, ...]] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for item in items:
                params: dict[str, Any] = {
                    "conv": item.conversation_id,
                    "cid": item.client_id,
                    "kind": item.kind,
                    "author": item.author_id,
                    "body": item.body,
                    "now": stamp,
                }
                bumped = conn.execute(_SQLITE_BUMP[item.kind], params).fetchall()
                if not bumped:
                    out.append(None)
                    continue
                seq, space_id, visitor_id = bumped[0]
                cur = conn.execute(_SQLITE_INSERT, {**params, "seq": seq, "space": space_id})
                done = Appended(int(cur.lastrowid or 0), seq, space_id, visitor_id, now)
                out.append(done)
                if space_id in wanted:
                    emitted.append(_event_row(item, done, stamp))
            if emitted:
                conn.executemany(events.SQLITE_INSERT, emitted)
            conn.execute("COMMIT")
        except BaseException:
            self._abandon(conn)
            raise
        return out

    def _abandon(self, conn: sqlite3.Connection) -> None:
        """Roll back; if even that fails, close the connection, so that no transaction (and
        no write lock) can outlive the batch that opened it."""
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        if conn.in_transaction:
            conn.close()
            self._conn = None

    def close(self) -> None:
        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        self._executor.submit(_close).result()
        self._executor.shutdown(wait=True)
