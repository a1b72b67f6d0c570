"""Retention: each space keeps each kind of data for as long as its policy says, then the
job deletes it.

Kinds: ``messages`` (conversations, their messages and everything tied to them: notes,
tags, read marks, ratings, reviews), ``profiles`` (visitor profiles nothing else refers to
any more), ``events`` (goal events, exposures, conversions) and ``audit`` (the trail's
entries; the chain is cut at its oldest end only). A conversation expires when its last
change is older than the period; an event or an audit entry, when its date is; a profile,
when it is older than the period and none of its conversations or events is left.

The job deletes in small keyset batches, each its own short transaction (with a lock
timeout on PostgreSQL), so chat traffic never waits long behind it, and a run killed at any
point leaves whole batches behind: the next run starts over and finds what is left.
Legal holds (chat/holds.py) are consulted by every query. One node at a time runs it: a
PostgreSQL advisory lock, or a lock file beside an SQLite database. Each run writes one
audit entry with the policies, the cut-offs and the counts; a dry run counts with the same
queries and writes nothing.

Every owner deletes its own rows: the tables of agents/ take part through ``Keeper``
objects the composition root hands to ``Retention``. The run's audit transaction also writes
a ``retention.completed`` event for each space with a policy (chat/outbox.py), for its
webhooks.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import random
import re
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from chat import audit
from chat.audit import SYSTEM, Actor, record
from chat.clock import iso, utcnow
from chat.db import Database, is_outage, private_file
from chat.errors import UsageError
from chat.holds import HoldSet, active_holds
from chat.keeper import Counts, Keeper, Ref
from chat.logging import get_logger
from chat.models import audit_entries, conversations, spaces
from chat.outbox import EventsKeeper, Outbox
from chat.profiles import ProfileKeeper
from chat.receipts import ReceiptKeeper
from chat.transcripts import Transcripts

if TYPE_CHECKING:
    from chat.metrics import Metrics

__all__ = [
    "KINDS",
    "Keeper",
    "Retention",
    "RetentionJob",
    "SpaceRun",
    "parse_retain",
    "policy_of",
]

log = get_logger("causette.retention")

KINDS = ("messages", "profiles", "events", "audit")
MAX_DAYS = 36_500
RETENTION_LOCK_ID = 0x0CA05E77F  # the advisory lock of the retention job, on every node
_RETAIN = re.compile(r"^(?P<kind>[a-z]+)=(?:(?P<days>\d{1,5})d|(?P<forever>forever))$")


def parse_retain(text: str) -> tuple[str, int | None]:
    """``messages=400d`` -> ("messages", 400); ``messages=forever`` -> ("messages", None)."""
    m = _RETAIN.match(text.strip())
    if m is None or m["kind"] not in KINDS:
        raise UsageError(
            f"Invalid retention {text!r}: write KIND=DAYSd or KIND=forever, KIND one of "
            f"{', '.join(KINDS)} (messages=400d)."
        )
    if m["forever"]:
        return m["kind"], None
    days = int(m["days"])
    if not 1 <= days <= MAX_DAYS:
        raise UsageError(f"A retention period is 1 to {MAX_DAYS} days.")
    return m["kind"], days


def policy_of(value: Any) -> dict[str, int]:
    """A space's stored policy, cleaned: kinds with a period, in days."""
    if not isinstance(value, Mapping):
        return {}
    return {
        k: int(v)
        for k, v in value.items()
        if k in KINDS and isinstance(v, int) and 0 < v <= MAX_DAYS
    }


def check_policy(value: Mapping[str, Any]) -> dict[str, int]:
    """A policy from a request: {kind: days or null}; an unknown kind or a bad period is a
    UsageError."""
    clean: dict[str, int] = {}
    for kind, days in value.items():
        if kind not in KINDS:
            raise UsageError(f"Unknown kind of data {kind!r}: one of {', '.join(KINDS)}.")
        if days is None:
            continue
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
            raise UsageError(f"A retention period is 1 to {MAX_DAYS} days, or null (forever).")
        clean[kind] = days
    return clean


@dataclass(slots=True)
class SpaceRun:
    space_id: str
    space_key: str
    policy: dict[str, int]
    cutoffs: dict[str, datetime] = field(default_factory=dict)
    counts: Counts = field(default_factory=dict)
    held: list[dict[str, Any]] = field(default_factory=list)
    audit_cut: tuple[int, str] | None = None

    def public(self) -> dict[str, Any]:
        return {
            "space": self.space_key,
            "policy": {k: f"{v}d" for k, v in self.policy.items()},
            "cutoffs": {k: iso(v) for k, v in self.cutoffs.items()},
            "counts": dict(sorted(self.counts.items())),
            "holds": self.held,
        }


def _add(total: Counts, more: Mapping[str, int]) -> None:
    for table, n in more.items():
        total[table] = total.get(table, 0) + int(n)


class LockTaken(Exception):
    """Another node is running the retention job."""


class Retention:
    """Plans (dry runs) and runs of the retention job, over the core's tables (through
    chat/transcripts.py, chat/profiles.py, chat/receipts.py, chat/audit.py) and those of the
    ``keepers`` (agents/'s tables)."""

    def __init__(
        self,
        db: Database,
        keepers: Iterable[Keeper] = (),
        *,
        batch: int = 500,
        lock_timeout_ms: int = 2000,
        pause: float = 0.0,
        outbox: Outbox | None = None,
    ) -> None:
        self.db = db
        self.keepers = [*keepers, ReceiptKeeper(), EventsKeeper()]
        self.outbox = outbox or Outbox()
        self.transcripts = Transcripts()
        self.profiles = ProfileKeeper()
        self.batch = batch
        self.lock_timeout_ms = lock_timeout_ms
        self.pause = pause  # seconds between batches: room for chat traffic on a small host

    async def _spaces(self, space_key: str | None) -> list[tuple[str, str, dict[str, int]]]:
        q = sa.select(spaces.c.id, spaces.c.key, spaces.c.retention).order_by(spaces.c.key)
        if space_key is not None:
            q = q.where(spaces.c.key == space_key)
        async with self.db.read() as conn:
            rows = (await conn.execute(q)).all()
        if space_key is not None and not rows:
            raise UsageError(f"No such space: {space_key}")
        return [(r.id, r.key, policy_of(r.retention)) for r in rows]

    async def plan(
        self,
        space_key: str | None = None,
        *,
        now: datetime | None = None,
        policy: Mapping[str, int] | None = None,
    ) -> list[SpaceRun]:
        """What a run would delete now: the counts per table, per space (with ``policy``,
        what that policy would delete, before it is set)."""
        now = now or utcnow()
        plans = []
        for space_id, key, stored in await self._spaces(space_key):
            policy_now = dict(policy) if policy is not None else stored
            run = SpaceRun(space_id, key, policy_now)
            async with self.db.read() as conn:
                holds = await active_holds(conn, space_id)
                run.held = [
                    {"hold": h.id, "scope": h.scope, "reason": h.reason} for h in holds.holds
                ]
                run.cutoffs = {k: now - timedelta(days=d) for k, d in policy_now.items()}
                for kind, cutoff in run.cutoffs.items():
                    _add(run.counts, await self._count(conn, kind, run, cutoff, holds))
            plans.append(run)
        return plans

    async def _count(
        self, conn: AsyncConnection, kind: str, run: SpaceRun, cutoff: datetime, holds: HoldSet
    ) -> Counts:
        space_id = run.space_id
        counts: Counts = {}
        if kind == "messages":
            expired = self.transcripts.expired(space_id, cutoff, holds)
            _add(counts, await self.transcripts.count(conn, expired))
            for keeper in self.keepers:
                _add(counts, await keeper.count_for_conversations(conn, expired))
        elif kind == "events":
            for keeper in self.keepers:
                _add(counts, await keeper.count_events(conn, space_id, cutoff, holds))
        elif kind == "profiles":
            _add(
                counts,
                await self.profiles.count_expired(
                    conn, space_id, cutoff, holds, self._refs(run, holds)
                ),
            )
        elif kind == "audit":
            counts["audit_entries"] = await audit.count_expired(
                conn, space_id, cutoff, holds.keeps_entry(audit_entries.c.at)
            )
        return counts

    def _refs(self, run: SpaceRun, holds: HoldSet) -> list[Ref]:
        """Every column that names a visitor, with what of its rows this run deletes."""
        messages = run.cutoffs.get("messages")
        own: Ref = (
            conversations.c.visitor_id,
            None if messages is None else Transcripts.doomed(messages, holds),
        )
        return [
            own,
            *(r for k in self.keepers for r in k.visitor_refs(run.space_id, run.cutoffs, holds)),
        ]

    async def run(
        self,
        space_key: str | None = None,
        *,
        actor: Actor = SYSTEM,
        now: datetime | None = None,
        wait: bool = False,
    ) -> list[SpaceRun]:
        """Delete what is past each policy's cut-off, space by space, then write the run's
        audit entry: in the space's chain for one space, in the deployment's for all.
        Raises LockTaken when another node holds the job (unless ``wait``)."""
        now = now or utcnow()
        spaces_now = await self._spaces(space_key)
        if not any(policy for _, _, policy in spaces_now):
            # everything is kept forever: nothing to run, nothing to put on record
            return [SpaceRun(space_id, key, policy) for space_id, key, policy in spaces_now]
        async with self._exclusive(wait=wait):
            runs = []
            for space_id, key, policy in await self._spaces(space_key):
                run = SpaceRun(space_id, key, policy)
                async with self.db.read() as conn:
                    holds = await active_holds(conn, space_id)
                run.held = [
                    {"hold": h.id, "scope": h.scope, "reason": h.reason} for h in holds.holds
                ]
                run.cutoffs = {k: now - timedelta(days=d) for k, d in policy.items()}
                async with self.db.read() as conn:  # every table it looks at, deleted or not
                    for kind, cutoff in run.cutoffs.items():
                        run.counts.update(
                            dict.fromkeys(await self._count(conn, kind, run, cutoff, holds), 0)
                        )
                # dependents first: events, then transcripts, then the profiles they freed
                for kind in ("events", "messages", "profiles", "audit"):
                    if kind in run.cutoffs:
                        await self._purge(run, kind, run.cutoffs[kind], holds)
                runs.append(run)
            await self._audit_run(runs, actor, space_key)
            await self._reclaim(runs)
        return runs

    async def _purge(self, run: SpaceRun, kind: str, cutoff: datetime, holds: HoldSet) -> None:
        if kind == "messages":
            await self._purge_transcripts(run, cutoff, holds)
        elif kind == "events":
            for keeper in self.keepers:
                while True:
                    async with self._batch() as conn:
                        done = await keeper.purge_events(
                            conn, run.space_id, cutoff, holds, self.batch
                        )
                    _add(run.counts, done)
                    if sum(done.values()) == 0:
                        break
                    await self._breathe()
        elif kind == "profiles":
            refs = self._refs(run, holds)
            while True:
                async with self._batch() as conn:
                    done = await self.profiles.purge_expired(
                        conn, run.space_id, cutoff, holds, refs, self.batch
                    )
                _add(run.counts, done)
                if sum(done.values()) == 0:
                    break
                await self._breathe()
        elif kind == "audit":
            while True:
                async with self._batch() as conn:
                    n, cut = await audit.purge_expired(
                        conn,
                        run.space_id,
                        cutoff,
                        holds.keeps_entry(audit_entries.c.at),
                        self.batch,
                    )
                if cut is not None:
                    run.audit_cut = cut
                _add(run.counts, {"audit_entries": n})
                if n == 0:
                    break
                await self._breathe()

    async def _purge_transcripts(self, run: SpaceRun, cutoff: datetime, holds: HoldSet) -> None:
        transcripts = self.transcripts
        after = ""
        while True:
            async with self.db.read() as conn:
                ids = await transcripts.next_expired(conn, run.space_id, cutoff, holds, after, 100)
            if not ids:
                return
            after = ids[-1]
            # the messages first, a batch per transaction, however long the conversations
            while True:
                async with self._batch() as conn:
                    n = await transcripts.delete_messages(conn, ids, cutoff, self.batch)
                _add(run.counts, {"messages": n})
                if n == 0:
                    break
                await self._breathe()
            async with self._batch() as conn:
                still = await transcripts.lock_expired(conn, ids, cutoff)
                if still:
                    for keeper in self.keepers:
                        _add(run.counts, await keeper.delete_for_conversations(conn, still))
                    _add(run.counts, await transcripts.delete_conversations(conn, still))
            await self._breathe()

    async def _breathe(self) -> None:
        await asyncio.sleep(self.pause)

    @contextlib.asynccontextmanager
    async def _batch(self) -> AsyncIterator[AsyncConnection]:
        """One short write transaction; on PostgreSQL it gives up on a lock it cannot get
        within the lock timeout (the batch is retried, a little later)."""
        for attempt in range(5):
            try:
                async with self.db.write() as conn:
                    if not self.db.sqlite:
                        await conn.execute(
                            sa.text(f"SET LOCAL lock_timeout = {int(self.lock_timeout_ms)}")
                        )
                    yield conn
                return
            except sa.exc.DBAPIError as exc:
                if attempt == 4 or not _lock_timeout(exc):
                    raise
                log.info("retention_lock_timeout", attempt=attempt + 1)
                await asyncio.sleep(0.2 * (attempt + 1) * random.random())

    async def _audit_run(self, runs: list[SpaceRun], actor: Actor, space_key: str | None) -> None:
        cuts = {r.space_id: list(r.audit_cut) for r in runs if r.audit_cut is not None}
        target: dict[str, Any] = {
            "spaces": {r.space_key: r.public() for r in runs},
        }
        if cuts:
            target["audit_cuts"] = cuts
        total: Counts = {}
        for r in runs:
            _add(total, r.counts)
        space_id = runs[0].space_id if space_key is not None and runs else None
        async with self.db.write() as conn:
            await record(
                conn,
                actor,
                "retention.run",
                space_id=space_id,
                target_kind="retention",
                target_id=space_key or "*",
                target=target,
                diff={"deleted": dict(sorted(total.items()))},
            )
            for r in runs:
                if r.policy:
                    done = r.public()
                    data = {k: done[k] for k in ("policy", "cutoffs", "counts")}
                    await self.outbox.emit(conn, r.space_id, "retention.completed", data)

    async def _reclaim(self, runs: list[SpaceRun]) -> None:
        """Give back what was deleted: SQLite checkpoints and truncates its WAL (the pages
        freed were zeroed by secure_delete); PostgreSQL vacuums the tables it deleted from."""
        tables = sorted({t for r in runs for t, n in r.counts.items() if n})
        if not tables:
            return
        try:
            async with self.db.engine.connect() as conn:
                if self.db.sqlite:
                    async with self.db.write_lock():
                        await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                else:
                    conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                    for table in tables:
                        await conn.exec_driver_sql(f'VACUUM (ANALYZE) "{table}"')
        except sa.exc.DBAPIError as exc:  # a reclaim that fails deletes nothing less
            log.warning("retention_reclaim_failed", error=type(exc).__name__)

    @contextlib.asynccontextmanager
    async def _exclusive(self, *, wait: bool) -> AsyncIterator[None]:
        if self.db.sqlite:
            database = make_url(self.db.url).database
            if not database or database == ":memory:" or database.startswith("file:"):
                yield
                return
            path = Path(f"{database}.retention-lock")
            private_file(path)
            with path.open("a") as f:  # noqa: ASYNC230 -- a local lock file, opened at once
                try:
                    fcntl.flock(f, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise LockTaken() from None
                try:
                    yield
                finally:
                    fcntl.flock(f, fcntl.LOCK_UN)
            return
        async with self.db.engine.connect() as conn:
            fn = "pg_advisory_lock" if wait else "pg_try_advisory_lock"
            got = await conn.scalar(sa.text(f"SELECT {fn}(:k)"), {"k": RETENTION_LOCK_ID})
            await conn.commit()
            if not wait and not got:
                raise LockTaken()
            try:
                yield
            finally:
                await conn.execute(
                    sa.text("SELECT pg_advisory_unlock(:k)"), {"k": RETENTION_LOCK_ID}
                )
                await conn.commit()


def _lock_timeout(exc: sa.exc.DBAPIError) -> bool:
    cause: BaseException | None = exc.orig
    for _ in range(3):
        if cause is None:
            return False
        if getattr(cause, "sqlstate", None) == "55P03":
            return True
        cause = cause.__cause__
    return False


class RetentionJob:
    """The background job: a run every ``interval`` seconds (with jitter), the first soon
    after start, so that a run killed half-way is finished by the next start. A node that
    finds the lock taken leaves that run to the node that holds it. Each run is counted in
    the metrics (ok, failed, skipped), and a completed one sets their last success time."""

    def __init__(
        self,
        retention: Retention,
        interval: float,
        first_after: float = 30.0,
        metrics: Metrics | None = None,
    ) -> None:
        self.retention = retention
        self.interval = interval
        self.first_after = first_after
        self.metrics = metrics
        self._task: asyncio.Task[None] | None = None
        self.last_success: datetime | None = None

    async def start(self) -> None:
        if self.interval > 0:
            self._task = asyncio.create_task(self._loop(), name="retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        delay = self.first_after
        while True:
            await asyncio.sleep(delay * (0.8 + 0.4 * random.random()))
            delay = self.interval
            try:
                runs = await self.retention.run()
            except LockTaken:
                log.info("retention_skipped", why="another node is running it")
                self._count("skipped")
                continue
            except Exception as exc:
                if not (isinstance(exc, sa.exc.DBAPIError) and is_outage(exc)):
                    log.exception("retention_failed")
                else:
                    log.warning("retention_failed", error=type(exc).__name__)
                self._count("failed")
                delay = min(self.interval, 300.0)
                continue
            self.last_success = utcnow()
            self._count("ok")
            deleted = sum(n for r in runs for n in r.counts.values())
            log.info("retention_completed", spaces=len(runs), deleted=deleted)

    def _count(self, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.retention_run(outcome)
