"""Services a test owns outright, so that it may kill them: a redis-server, a PostgreSQL
cluster and an nginx, each on a free loopback port, each stopped by its own PID.

The shared PostgreSQL (5432) and Redis (6379) are never touched here.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from tests.servers import ServerProcess, free_port

__all__ = [
    "NginxProcess",
    "PostgresCluster",
    "RedisServer",
    "Relay",
    "log_events",
    "logged",
    "redis_publish",
    "worker_pid_of",
]


def _wait_port(port: int, alive: subprocess.Popen[bytes] | None, what: str, timeout: float) -> None:
    """Until something accepts TCP connections on the port (a process binding a port sends
    no event to await, so this polls, within a deadline)."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while time.monotonic() < deadline:
        if alive is not None and alive.poll() is not None:
            raise RuntimeError(f"{what} exited with {alive.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
    raise RuntimeError(f"{what} not listening on {port} after {timeout}s")


@dataclass
class RedisServer:
    """A redis-server of our own: no persistence, loopback only, killable."""

    workdir: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.port = self.port or free_port()
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.workdir / f"redis-{self.port}.log", "ab") as log:
            self.proc = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                    "--dir",
                    str(self.workdir),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait_port(self.port, self.proc, "redis-server", 10.0)
        return self

    def kill(self) -> None:
        """SIGKILL: no goodbye to the clients, as in a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


async def redis_publish(url: str, channel: str, payload: str, *, prefix: str | None = None) -> int:
    """PUBLISH from a connection of our own, on ``channel`` as a node given ``url`` (and
    ``prefix``, if any) names it on the wire: how many subscribers Redis delivered it to."""
    from chat.broker.redis import default_prefix
    from chat.broker.resp import RedisAddress, RespConnection, encode_command

    address = RedisAddress.from_url(url)
    wire = (default_prefix(address) if prefix is None else prefix) + channel
    conn = await RespConnection.open(address)
    try:
        conn.write(encode_command(b"PUBLISH", wire.encode(), payload.encode()))
        return int(await conn.read_one())
    finally:
        await conn.close()


def _pg_bin() -> Path:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(Path(p).parent.parent.name),
    )
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql")
    return Path(found[-1]).parent


@dataclass
class PostgresCluster:
    """A throwaway PostgreSQL cluster (initdb + pg_ctl) in a directory of its own, trust
    authentication on 127.0.0.1, run as the ``postgres`` user when we are root."""

    port: int = 0
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="causette-pg-")))
    bin: Path = field(default_factory=_pg_bin)
    paused: list[int] = field(default_factory=list)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def _run(self, *args: str) -> None:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        result = subprocess.run(cmd, cwd=self.root, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            log = self.root / "postgres.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {result.stderr or result.stdout}\n{tail}")

    def init(self) -> PostgresCluster:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        )
        self.port = self.port or free_port()
        return self

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.root / "postgres.log"), "-w",
            "-o", options, "start",
        )  # fmt: skip

    def stop(self) -> None:
        """A fast shutdown: sessions are ended, as when the database goes away."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    async def create_database(self, name: str) -> str:
        conn = await asyncpg.connect(self.dsn())
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.url(name)

    def processes(self) -> list[int]:
        """The postmaster and its children (backends, background workers)."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        pids = [postmaster]
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, IndexError, ValueError):
                    stat = (entry / "stat").read_text()
                    if int(stat[stat.rindex(")") + 2 :].split()[1]) == postmaster:
                        pids.append(int(entry.name))
        return pids

    def pause(self) -> None:
        """SIGSTOP every process of the cluster: a database that hangs without a word, as
        a paused VM or a partition that drops packets looks to its clients."""
        self.paused = self.processes()
        for pid in self.paused:
            os.kill(pid, signal.SIGSTOP)

    def resume(self) -> None:
        for pid in self.paused:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self.paused = []

    def destroy(self) -> None:
        self.resume()
        if self.running():
            with contextlib.suppress(RuntimeError):
                self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class NginxProcess:
    """nginx in the foreground with a main config of its own: pid, logs and temp paths in
    ``workdir``; ``site`` is an http-context file (upstreams, servers) it includes."""

    workdir: Path
    site: str
    ports: tuple[int, ...]
    binary: str = "nginx"
    proc: subprocess.Popen[bytes] | None = None

    def main_config(self) -> str:
        d = self.workdir
        user = "user root root;\n" if os.geteuid() == 0 else ""
        return (
            f"{user}daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\n"
            f"error_log {d}/error.log info;\n"
            "events { worker_connections 512; }\n"
            "http {\n"
            "    log_format upstreams '$request_method $uri $status $upstream_addr';\n"
            f"    access_log {d}/access.log upstreams;\n"
            f"    client_body_temp_path {d}/client_body;\n"
            f"    proxy_temp_path {d}/proxy;\n"
            f"    fastcgi_temp_path {d}/fastcgi;\n"
            f"    uwsgi_temp_path {d}/uwsgi;\n"
            f"    scgi_temp_path {d}/scgi;\n"
            f"    include {d}/causette.conf;\n"
            "}\n"
        )

    def start(self) -> NginxProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "causette.conf").write_text(self.site)
        conf = self.workdir / "nginx.conf"
        conf.write_text(self.main_config())
        nginx = shutil.which(self.binary) or "/usr/sbin/nginx"
        with open(self.workdir / "stderr.log", "ab") as log:
            self.proc = subprocess.Popen(
                [
                    nginx,
                    "-p",
                    str(self.workdir),
                    "-e",
                    str(self.workdir / "error.log"),
                    "-c",
                    str(conf),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            for port in self.ports:
                _wait_port(port, self.proc, "nginx", 10.0)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{self.logs()}") from None
        return self

    def logs(self) -> str:
        out = []
        for name in ("stderr.log", "error.log"):
            path = self.workdir / name
            if path.exists():
                out.append(path.read_text(errors="replace")[-3000:])
        return "\n".join(out)

    def access_log(self) -> list[list[str]]:
        """One row per request: method, path, status, upstream address ("-" if none)."""
        path = self.workdir / "access.log"
        return [line.split() for line in path.read_text().splitlines()] if path.exists() else []

    def stop(self) -> None:
        """SIGQUIT to the master we started: a graceful shutdown of it and its workers."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def log_events(server: ServerProcess) -> list[str]:
    """The ``event`` names a server logged (its log is JSON lines), in order."""
    import json

    events = []
    for line in server.logs().splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and "event" in record:
                events.append(str(record["event"]))
    return events


async def logged(
    server: ServerProcess, event: str, timeout: float = 10.0, **fields: object
) -> dict[str, Any]:
    """The first ``event`` record with these fields, once the server has written it (log
    lines are written, not announced: the file is read again every 50 ms until then)."""
    import json

    deadline = time.monotonic() + timeout
    while True:
        for line in server.logs().splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if (
                    isinstance(record, dict)
                    and record.get("event") == event
                    and all(record.get(k) == v for k, v in fields.items())
                ):
                    return record
        if time.monotonic() > deadline:
            raise AssertionError(f"{server.base_url} never logged {event} with {fields}")
        await asyncio.sleep(0.05)


def worker_pid_of(server: ServerProcess, client_port: int) -> int:
    """The PID of the server process that holds the TCP connection coming from
    ``client_port``: its socket inode, found in /proc/net/tcp, among the process group's fds."""
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError), open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                local, remote = fields[1], fields[2]
                if (
                    int(local.rsplit(":", 1)[1], 16) == server.port
                    and int(remote.rsplit(":", 1)[1], 16) == client_port
                ):
                    inode = fields[9]
    if inode is None:
        raise LookupError(f"no connection from port {client_port} to {server.port}")
    assert server.proc is not None
    target = f"socket:[{inode}]"
    for pid_text in os.listdir("/proc"):
        if not pid_text.isdigit():
            continue
        pid = int(pid_text)
        try:
            if os.getpgid(pid) != server.proc.pid:
                continue
            fds = os.listdir(f"/proc/{pid}/fd")
        except (ProcessLookupError, PermissionError, FileNotFoundError):
            continue
        for fd in fds:
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return pid
    raise LookupError(f"no process of the server holds socket {inode}")


class Relay:
    """A loopback TCP relay to a fixed upstream; ``cut()`` drops every connection and stops
    listening, ``restore()`` listens again on the same port; ``freeze()`` stops forwarding on
    the connections open now (or only the WebSocket ones), without a word to either end: a
    link gone dead, as when a NAT or a proxy drops an idle long-lived connection, while new
    connections work."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._pipes: dict[asyncio.Task[None], bool] = {}  # pipe -> carries a WebSocket
        self.connections = 0  # accepted so far

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        self.connections += 1
        first = await reader.read(65536)  # the request line says whether it is a WebSocket
        up_writer.write(first)
        websocket = first.startswith(b"GET /ws/")

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        pipes = [
            asyncio.ensure_future(pipe(reader, up_writer)),
            asyncio.ensure_future(pipe(up_reader, writer)),
        ]
        self._pipes.update(dict.fromkeys(pipes, websocket))
        try:
            await asyncio.gather(*pipes)
        except asyncio.CancelledError:
            return  # frozen: both sockets stay open (and referenced) until cut()
        finally:
            for task in pipes:
                self._pipes.pop(task, None)
        self._writers -= {writer, up_writer}

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()

    async def restore(self) -> None:
        await self.start()

    def freeze(self, *, websockets_only: bool = False) -> None:
        for task, websocket in list(self._pipes.items()):
            if websocket or not websockets_only:
                task.cancel()  # the sockets stay open: nothing is closed, nothing gets through
