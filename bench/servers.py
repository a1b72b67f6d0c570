"""Server processes for the benchmark: start causette nodes on free loopback ports, create
what a run needs through the CLI, and read the CPU time and RSS of the processes measured.

Everything started here is stopped here, by the PID it was given.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

__all__ = [
    "BenchError",
    "Cluster",
    "ProcSnapshot",
    "RedisServer",
    "cpu_between",
    "cpu_grown",
    "create_agent",
    "create_pg_database",
    "drop_pg_database",
    "ensure_space",
    "free_port",
    "machine_busy",
    "process_tree",
    "processes_named",
    "require_loopback",
    "snapshot",
    "stored_indices",
]

_TICKS = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """A run that cannot go on: one line for the user, no traceback."""


def require_loopback(url: str) -> str:
    """The URL (HTTP, PostgreSQL, Redis), if its host is a loopback address."""
    host = urlsplit(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise BenchError(f"{host or url!r}: the benchmark only talks to loopback addresses")
    return url.rstrip("/")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the causette CLI ----------------------------------------------------------------------


def _environ(source: Path | None) -> dict[str, str]:
    """This environment less its CAUSETTE_* settings; with ``source``, that tree's code first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAUSETTE_")}
    if source is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source), env.get("PYTHONPATH")]))
    return env


def _cli(
    database_url: str,
    args: list[str],
    *,
    stdin: str = "",
    cwd: Path | None = None,
    source: Path | None = None,
) -> str:
    env = _environ(source)
    env["CAUSETTE_DATABASE_URL"] = database_url
    try:
        done = subprocess.run(
            [sys.executable, "-m", "causette", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            cwd=cwd,
            timeout=120,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"causette {args[0]} did not finish in 120 s") from None
    if done.returncode != 0:
        raise BenchError(f"causette {' '.join(args[:2])}: {done.stderr.strip()[-300:]}")
    return done.stdout


def ensure_space(
    database_url: str, key: str, cwd: Path | None = None, source: Path | None = None
) -> None:
    listed = _cli(database_url, ["space", "list"], cwd=cwd, source=source)
    if key not in {line.split("\t", 1)[0] for line in listed.splitlines()}:
        _cli(database_url, ["space", "create", key, "--name", key], cwd=cwd, source=source)


def create_agent(
    database_url: str, space: str, cwd: Path | None = None, source: Path | None = None
) -> tuple[str, str]:
    """A new agent of ``space``: (email, password)."""
    email = f"bench-{uuid.uuid4().hex[:10]}@example.com"
    password = secrets.token_urlsafe(16)
    _cli(
        database_url,
        [
            *("agent", "create", "--email", email, "--name", "Bench agent"),
            *("--role", "relation", "--space", space, "--password-stdin"),
        ],
        stdin=password + "\n",
        cwd=cwd,
        source=source,
    )
    return email, password


# -- PostgreSQL ------------------------------------------------------------------------------


def create_pg_database(admin_dsn: str) -> tuple[str, str]:
    """A new, empty database next to ``admin_dsn``'s: (name, SQLAlchemy URL)."""
    import asyncpg

    require_loopback(admin_dsn)
    name = f"causette_bench_{uuid.uuid4().hex[:10]}"

    async def go() -> None:
        conn = await asyncpg.connect(admin_dsn, timeout=10)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(go())
    base = admin_dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return name, f"{base}/{name}"


def stored_indices(database_url: str, prefix: str) -> tuple[int, set[int]]:
    """What the run actually stored, read back after it: the number of rows in ``messages``
    whose client_id starts with ``prefix``, and the message indices among them (the 12 hex
    digits after the prefix, see bench/load.py)."""
    query = "SELECT client_id FROM messages WHERE substr(client_id, 1, {n}) = {p}"
    if database_url.startswith("sqlite"):
        import sqlite3

        path = make_url(database_url).database or ""
        with contextlib.closing(sqlite3.connect(path)) as db:
            ids = [r[0] for r in db.execute(query.format(n=len(prefix), p="?"), (prefix,))]
    else:
        import asyncpg

        dsn = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)

        async def go() -> list[str]:
            conn = await asyncpg.connect(dsn, timeout=10)
            try:
                rows = await conn.fetch(query.format(n=len(prefix), p="$1"), prefix)
            finally:
                await conn.close()
            return [r[0] for r in rows]

        ids = asyncio.run(go())
    return len(ids), {int(cid[len(prefix) :], 16) for cid in ids}


def drop_pg_database(admin_dsn: str, name: str) -> None:
    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(admin_dsn, timeout=10)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(go())


# -- Redis -----------------------------------------------------------------------------------


@dataclass
class RedisServer:
    """A redis-server of our own on a free loopback port: pub/sub channels are shared by every
    client of a Redis, so a benchmark on a shared one would talk to other servers' nodes."""

    proc: subprocess.Popen[bytes] | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15.0) -> RedisServer:
        executable = shutil.which("redis-server")
        if executable is None:
            raise BenchError("--own-redis needs redis-server on the PATH")
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                *(executable, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"redis-server exited with {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                pass
            time.sleep(0.05)  # waiting for a process to bind a port: nothing to await
        raise BenchError(f"redis-server not answering after {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


# -- nodes -----------------------------------------------------------------------------------


@dataclass
class Node:
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Cluster:
    """``nodes`` causette servers sharing one database (and Redis, when there are several)."""

    workdir: Path
    database_url: str
    redis_url: str | None = None
    nodes: int = 1
    workers: int = 1
    source: Path | None = None  # a source tree to run instead of the installed code
    naive_broker: bool = False  # bench/naive_node.py: the redis-py path the broker replaced
    started: list[Node] = field(default_factory=list)

    def start(self, timeout: float = 60.0) -> Cluster:
        if self.nodes > 1 and not self.redis_url:
            raise BenchError("several nodes need --redis-url: the in-process broker stays home")
        env = _environ(self.source)
        env.update(
            CAUSETTE_DATABASE_URL=self.database_url,
            CAUSETTE_SECRET_KEY=secrets.token_urlsafe(48),  # one key: tokens work on every node
            CAUSETTE_LOG_FORMAT="json",
            CAUSETTE_LOG_LEVEL="warning",  # a log line per connection would be measured too
            # one generator on one address is the workload, not an attack
            CAUSETTE_RATE_LIMITS="off",
        )
        if self.redis_url:
            env["CAUSETTE_REDIS_URL"] = self.redis_url
        entry = [str(Path(__file__).with_name("naive_node.py"))] if self.naive_broker else []
        entry = entry or ["-m", "causette"]
        for _ in range(self.nodes):  # one after the other: the first applies the migrations
            port = free_port()
            log_path = self.workdir / f"server-{port}.log"
            with open(log_path, "ab") as log:
                proc = subprocess.Popen(
                    [
                        *(sys.executable, *entry, "serve", "--host", "127.0.0.1"),
                        *("--port", str(port), "--workers", str(self.workers)),
                    ],
                    cwd=self.workdir,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            node = Node(port, proc, log_path)
            self.started.append(node)
            _wait_ready(node, timeout)
        return self

    def stop(self) -> None:
        for node in self.started:
            if node.proc.poll() is None:
                os.killpg(node.proc.pid, signal.SIGTERM)  # its own session: it and its workers
        for node in self.started:
            try:
                node.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(node.proc.pid, signal.SIGKILL)
                node.proc.wait(10)

    def log_summary(self) -> str:
        """How many warning and error lines the nodes logged, and the first few events."""
        events: dict[str, int] = {}
        for node in self.started:
            for line in node.log_path.read_text(errors="replace").splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict) and entry.get("level") in ("warning", "error"):
                    key = f"{entry.get('level')} {entry.get('event')}"
                    events[key] = events.get(key, 0) + 1
        if not events:
            return "no warnings or errors"
        return ", ".join(f"{n} x {key}" for key, n in sorted(events.items(), key=lambda e: -e[1]))

    @property
    def pids(self) -> list[int]:
        return [node.proc.pid for node in self.started]

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.started]


def _wait_ready(node: Node, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if node.proc.poll() is not None:
            tail = node.log_path.read_text(errors="replace")[-1500:]
            raise BenchError(f"server on port {node.port} exited ({node.proc.returncode}):\n{tail}")
        try:
            with urllib.request.urlopen(f"{node.url}/readyz", timeout=2) as r:  # noqa: S310
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)  # waiting for a process to bind a port: nothing to await
    raise BenchError(f"server on port {node.port} not ready after {timeout:.0f} s")


# -- /proc -----------------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields from 3 (state) on


def process_tree(pids: list[int]) -> list[int]:
    """The given processes and all their descendants (uvicorn workers, for instance)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    out: list[int] = []
    todo = list(pids)
    while todo and len(out) < 10_000:
        pid = todo.pop()
        if pid not in out:
            out.append(pid)
            todo.extend(children.get(pid, ()))
    return sorted(out)


@dataclass(frozen=True, slots=True)
class ProcSnapshot:
    cpu: dict[int, float]  # seconds of user + system time, per PID
    rss: dict[int, int]  # bytes, per PID

    @property
    def rss_total(self) -> int:
        return sum(self.rss.values())


def snapshot(pids: list[int]) -> ProcSnapshot:
    """CPU time and RSS of exactly these processes (see ``process_tree`` for their children)."""
    cpu: dict[int, float] = {}
    rss: dict[int, int] = {}
    for pid in pids:
        fields = _stat(pid)
        if fields is None:
            continue
        cpu[pid] = (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime
        rss[pid] = _vm_rss(pid)
    return ProcSnapshot(cpu, rss)


def _vm_rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    return 0


def processes_named(*names: str) -> dict[str, list[int]]:
    """PIDs by command name (``postgres``, ``redis-server``): the services beside the nodes."""
    found: dict[str, list[int]] = {name: [] for name in names}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            comm = Path(f"/proc/{entry.name}/comm").read_text().strip()
        except OSError:
            continue
        if comm in found:
            found[comm].append(int(entry.name))
    return found


def machine_busy() -> tuple[float, int]:
    """CPU seconds every core of the machine spent busy since boot, and the number of cores."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(x) for x in fields[:8]]  # user nice system idle iowait irq softirq steal
    idle = ticks[3] + ticks[4]
    return (sum(ticks) - idle) / _TICKS, os.cpu_count() or 1


def cpu_grown(before: ProcSnapshot, after: ProcSnapshot) -> float:
    """CPU seconds used in between by the processes alive at the end, counting in full
    those that started in between."""
    return sum(cpu - before.cpu.get(pid, 0.0) for pid, cpu in after.cpu.items())


def cpu_between(before: ProcSnapshot, after: ProcSnapshot) -> float:
    """CPU seconds the processes used in between (those alive at both ends)."""
    return sum(after.cpu[pid] - before.cpu[pid] for pid in after.cpu if pid in before.cpu)
