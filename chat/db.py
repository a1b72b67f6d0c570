"""The database: engine, one session per unit of work, and migrations under a lock."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

if TYPE_CHECKING:
    from chat.metrics import Metrics

__all__ = [
    "Database",
    "alembic_config",
    "error_kind",
    "is_outage",
    "is_sqlite",
    "migrate",
    "private_file",
    "sqlite_pragmas",
]

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
ADVISORY_LOCK_ID = 0x0CA05E77E  # any constant: every causette process takes the same lock


# SQLSTATE classes that mean "the server is away or busy", not "this statement is wrong":
# connection exceptions, insufficient resources, operator intervention (a shutdown, a server
# starting up), system errors, and serialization failures and deadlocks (retry the unit)
_OUTAGE_STATES = ("08", "53", "57", "58", "40001", "40P01")


def is_outage(exc: BaseException) -> bool:
    """Whether a database error means "the database is away, try again" (a connection lost
    or refused, a timeout, a server shutting down) rather than a statement that will fail
    however often it is sent (bad data, a constraint, a bug): the first is
    StoreUnavailable, retryable; the second is not, and must never pass for an outage."""
    if isinstance(exc, OSError | TimeoutError):
        return True
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if isinstance(exc, sa.exc.DataError | sa.exc.IntegrityError | sa.exc.ProgrammingError):
        return False
    state = _sqlstate(exc)
    if state is not None:  # PostgreSQL says which
        return state.startswith(_OUTAGE_STATES)
    return True  # no SQLSTATE: the driver's own "closed", SQLite's "locked" or "I/O error"


def error_kind(exc: BaseException) -> str | None:
    """What a failure is, for the metrics: "outage" (``is_outage``, a pool that gave no
    connection in time, a driver's lost connection), "statement" (refused as written), or
    None when it is no database error (causette's own, raised inside a unit of work). Knows
    the raw errors of the drivers too, for the batch writer's own connections."""
    if is_outage(exc) or isinstance(exc, sa.exc.TimeoutError):
        return "outage"
    if isinstance(exc, sa.exc.DBAPIError):
        return "statement"
    module = type(exc).__module__
    if module.startswith("asyncpg"):
        state = getattr(exc, "sqlstate", None)
        if isinstance(state, str) and state and not state.startswith(_OUTAGE_STATES):
            return "statement"
        return "outage"  # a lost or unusable connection
    if module.startswith("sqlite3"):
        refused = ("IntegrityError", "ProgrammingError", "DataError")
        return "statement" if type(exc).__name__ in refused else "outage"
    return None


def _sqlstate(exc: sa.exc.DBAPIError) -> str | None:
    cause: BaseException | None = exc.orig
    for _ in range(3):  # the adapter's error, then the driver's
        if cause is None:
            return None
        state = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
        if isinstance(state, str) and state:
            return state
        cause = cause.__cause__
    return None


def private_file(path: Path) -> None:
    """Create ``path`` if need be, readable and writable by its owner only (0600).

    An existing file is never opened here: closing any descriptor of a database file
    releases every POSIX lock this process holds on it (SQLite's own connections' too),
    and another process could then write under them."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    os.chmod(path, 0o600)


def _private_sqlite(url: str) -> None:
    """The database file holds password hashes, identity secrets and transcripts: 0600.
    SQLite gives its -wal and -shm files the database file's mode; those left by an older
    version are tightened too."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if not path.parent.is_dir():
        return  # SQLite will say what is wrong with the path
    private_file(path)
    for suffix in ("-wal", "-shm", ".migrate-lock"):
        extra = path.with_name(path.name + suffix)
        if extra.exists():
            os.chmod(extra, 0o600)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


class Database:
    """An async engine and the few rules that differ between SQLite and PostgreSQL."""

    def __init__(
        self, url: str, *, query_timeout: float | None = None, metrics: Metrics | None = None
    ) -> None:
        self.url = url
        self.metrics = metrics  # checkouts and errors; the batch writer records here too
        self.sqlite = is_sqlite(url)
        # no pre-ping: it costs a round trip per unit of work; a connection that died is
        # invalidated by the error it raises, and the next checkout opens a fresh one
        kwargs: dict[str, Any] = {}
        if self.sqlite:
            _private_sqlite(url)
            kwargs = {"connect_args": {"timeout": 30}}
        else:
            kwargs.update(pool_size=10, max_overflow=20, pool_recycle=1800, pool_timeout=10)
            if make_url(url).get_driver_name() == "asyncpg":
                # a database host that does not answer fails a unit of work in seconds (as
                # StoreUnavailable: resend), instead of holding the socket for a minute
                kwargs["connect_args"] = {"timeout": min(5.0, query_timeout or 5.0)}
                if query_timeout:
                    # and a database that hangs (a paused host, a partition that drops
                    # packets without a reset) fails a query the same way, rather than
                    # holding every frame that waits on it until the host comes back
                    kwargs["connect_args"]["command_timeout"] = query_timeout
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        self._forgotten_at = -1.0
        # SQLite has one writer at a time: queue writers here instead of failing on "locked"
        self._write_lock = asyncio.Lock() if self.sqlite else None
        if self.sqlite:
            sa.event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            sa.event.listen(self.engine.sync_engine, "begin", _sqlite_begin)

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction: committed on exit, rolled back on error."""
        if self._write_lock is None:
            async with self.connect() as conn, conn.begin():
                yield conn
            return
        async with self._write_lock, self.connect() as conn:
            # BEGIN IMMEDIATE takes the write lock up front: a read-then-write transaction
            # would otherwise fail when another process wrote in between
            conn = await conn.execution_options(sqlite_immediate=True)
            async with conn.begin():
                yield conn

    @contextlib.asynccontextmanager
    async def write_lock(self) -> AsyncIterator[None]:
        """The process-wide SQLite write lock, for a writer with a connection of its own."""
        if self._write_lock is None:
            yield
            return
        async with self._write_lock:
            yield

    def read(self) -> contextlib.AbstractAsyncContextManager[AsyncConnection]:
        return self.connect()

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """A connection from the pool, for one unit of work. The metrics see how long the
        checkout took and every database error that passes through, told apart once here."""
        metrics = self.metrics
        if metrics is None:
            async with self.engine.connect() as conn:
                yield conn
            return
        started = time.monotonic()
        try:
            async with self.engine.connect() as conn:
                metrics.db_checkout(time.monotonic() - started)
                yield conn
        except Exception as exc:
            self.failed(exc)
            raise

    def failed(self, exc: BaseException) -> None:
        """Count a database error (one that did not pass through ``connect``: the SQLite
        batch writer has a connection of its own), once, however many units it leaves."""
        kind = error_kind(exc)
        if kind is None or self.metrics is None or getattr(exc, "causette_counted", False):
            return
        self.metrics.db_error(kind)
        with contextlib.suppress(AttributeError):
            exc.causette_counted = True  # type: ignore[attr-defined]

    async def ping(self) -> None:
        async with self.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def forget_connections(self) -> None:
        """A pooled connection turned out dead (the server restarted): so may every other.
        Close the idle ones; the next checkouts open fresh connections. At most once a
        second, however many requests notice at the same moment."""
        now = time.monotonic()
        if now - self._forgotten_at < 1.0:
            return
        self._forgotten_at = now
        await self.engine.dispose()

    async def dispose(self) -> None:
        await self.engine.dispose()


SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=30000",
    "PRAGMA foreign_keys=ON",
    # what is deleted (retention, erasure) is overwritten with zeros, not left in free pages
    "PRAGMA secure_delete=ON",
)


def sqlite_pragmas(dbapi_conn: Any) -> None:
    """What every SQLite connection of causette's sets first (the engine's and the batch
    writer's alike)."""
    cur = dbapi_conn.cursor()
    for pragma in SQLITE_PRAGMAS:
        cur.execute(pragma)
    cur.close()


def _sqlite_pragmas(dbapi_conn: Any, _: Any) -> None:
    dbapi_conn.isolation_level = None  # transactions are begun by _sqlite_begin, not the driver
    sqlite_pragmas(dbapi_conn)


def _sqlite_begin(conn: sa.Connection) -> None:
    immediate = conn.get_execution_options().get("sqlite_immediate", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def migrate(url: str, revision: str = "head") -> None:
    """Upgrade to ``revision``. Several processes may call this at once.

    PostgreSQL: the upgrade runs inside a session-level advisory lock, so one process migrates
    and the others wait, then find nothing left to do. SQLite: a lock file beside the database.
    """
    cfg = alembic_config(url)
    if is_sqlite(url):
        database = make_url(url).database
        lock = Path(f"{database}.migrate-lock") if database and database != ":memory:" else None
        if lock is None:
            command.upgrade(cfg, revision)
            return
        _private_sqlite(url)
        private_file(lock)
        with _file_lock(lock):
            command.upgrade(cfg, revision)
        return
    asyncio.run(_migrate_locked(url, cfg, revision))


async def _migrate_locked(url: str, cfg: Config, revision: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": ADVISORY_LOCK_ID})
            await conn.commit()
            try:
                await conn.run_sync(_upgrade_on, cfg, revision)
                await conn.commit()
            finally:
                await conn.execute(
                    sa.text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK_ID}
                )
                await conn.commit()
    finally:
        await engine.dispose()


def _upgrade_on(sync_conn: sa.Connection, cfg: Config, revision: str) -> None:
    cfg.attributes["connection"] = sync_conn
    command.upgrade(cfg, revision)
