"""Real processes for tests: causette servers, and databases to point them at."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

__all__ = [
    "PG_ADMIN_DSN",
    "REDIS_URL",
    "ServerProcess",
    "create_pg_database",
    "drop_pg_database",
    "free_port",
]

PG_ADMIN_DSN = os.environ.get("CAUSETTE_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("CAUSETTE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SECRET = "test-secret-key-not-for-production-0123456789"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_sync(coro_fn: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: asyncio.run(coro_fn())).result()


def create_pg_database() -> tuple[str, str]:
    """A new, empty database on the local PostgreSQL: (name, SQLAlchemy URL)."""
    name = f"causette_t_{uuid.uuid4().hex[:12]}"

    async def go() -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    _run_sync(go)
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return name, f"{base}/{name}"


def drop_pg_database(name: str) -> None:
    async def go() -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    _run_sync(go)


@dataclass
class ServerProcess:
    """``causette serve`` in its own process, on a free loopback port."""

    database_url: str
    workdir: Path
    redis_url: str | None = None
    workers: int = 1
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CAUSETTE_")}
        env.update(
            CAUSETTE_DATABASE_URL=self.database_url,
            CAUSETTE_SECRET_KEY=SECRET,
            CAUSETTE_LOG_FORMAT="json",
            # the suite opens hundreds of visitors and sign-ins from one address: limits are
            # on only where a test says so (tests/chat/test_rate_limits.py keeps the defaults)
            CAUSETTE_RATE_LIMITS="off",
        )
        env.update(self.env)
        if self.redis_url:
            env["CAUSETTE_REDIS_URL"] = self.redis_url
        return env

    def start(self, timeout: float = 30.0) -> ServerProcess:
        if not self.port:
            self.port = free_port()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / f"server-{self.port}.log"
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "causette",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
            ],
            cwd=self.workdir,
            env=self.environ(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        delay = 0.02
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(delay)  # waiting for a process to bind: there is no event to await
            delay = min(delay * 2, 0.2)
        raise RuntimeError(f"server not ready after {timeout}s:\n{self.logs()}")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def kill(self) -> None:
        """SIGKILL the whole process group (the server and its workers)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
