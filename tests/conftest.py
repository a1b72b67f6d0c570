"""Shared fixtures: real servers on free ports, on SQLite and on PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

from tests.clirun import Cli
from tests.servers import SECRET, ServerProcess, create_pg_database, drop_pg_database

BACKENDS = ["sqlite", "postgres"]

if TYPE_CHECKING:
    from tests.inproc import App


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (its URL)."""
    name, url = create_pg_database()
    yield url
    drop_pg_database(name)


def database_url(backend: str, tmp: Path) -> tuple[str, str | None]:
    """(url, name to drop) for a new empty database on this backend."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp / 'causette.db'}", None
    name, url = create_pg_database()
    return url, name


@contextlib.contextmanager
def new_database(backend: str, tmp: Path) -> Iterator[str]:
    """The URL of a new empty database of this backend, dropped after."""
    url, pg_name = database_url(backend, tmp)
    try:
        yield url
    finally:
        if pg_name:
            drop_pg_database(pg_name)


@contextlib.contextmanager
def running_server(
    backend: str, tmp: Path, env: dict[str, str] | None = None
) -> Iterator[ServerProcess]:
    """A causette server (with these CAUSETTE_* settings) on a new empty database of this
    backend, stopped and dropped after."""
    with new_database(backend, tmp) as url:
        proc = ServerProcess(database_url=url, workdir=tmp, env=env or {}).start()
        try:
            yield proc
        finally:
            proc.stop()


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new empty database of each backend, for one test."""
    with new_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture(scope="module", params=BACKENDS)
def own_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One causette server per test module and backend, on a new empty database: for a
    module that stops its server or reads its whole log."""
    with running_server(request.param, tmp_path_factory.mktemp(f"server-{request.param}")) as s:
        yield s


@pytest.fixture(scope="module")
def server(own_server: ServerProcess) -> ServerProcess:
    """The module's server (tests/chat shares one per session instead: its conftest)."""
    return own_server


@pytest_asyncio.fixture(scope="module", params=BACKENDS, loop_scope="module")
async def inproc(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[App]:
    """The app in this process (tests/inproc.py), one per module and backend: for contract
    tests of routes, whose modules run on the module's event loop
    (``pytestmark = pytest.mark.asyncio(loop_scope="module")``)."""
    from tests.inproc import inprocess_app

    with new_database(request.param, tmp_path_factory.mktemp(f"app-{request.param}")) as url:
        async with inprocess_app(url) as app:
            yield app


async def new_agent(
    database_url: str,
    *,
    role: str = "relation",
    spaces: list[str] | None = None,
    password: str = "correct horse battery",
    name: str = "Agent",
) -> tuple[str, str]:
    """Create an agent directly in the database: (email, password)."""
    from agents.accounts import create_agent
    from chat.db import Database

    email = f"agent-{uuid.uuid4().hex[:10]}@example.com"

    db = Database(database_url)
    try:
        await create_agent(
            db,
            email=email,
            name=name,
            role=role,
            password=password,
            space_keys=spaces or ["default"],
        )
    finally:
        await db.dispose()
    return email, password


async def new_space(
    database_url: str, key: str | None = None, origins: list[str] | None = None
) -> str:
    from chat.db import Database
    from chat.spaces import create_space

    key = key or f"s-{uuid.uuid4().hex[:10]}"

    db = Database(database_url)
    try:
        await create_space(db, key, key.title(), origins or [])
    finally:
        await db.dispose()
    return key


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], Cli]]:
    """``cli(url)``: the command, in this process (click's CliRunner), on that database."""
    from click.testing import CliRunner, Result

    from causette.cli import main

    for name in list(os.environ):
        if name.startswith("CAUSETTE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CAUSETTE_SECRET_KEY", SECRET)
    umask = os.umask(0o022)  # the command sets 0077 for what it writes: put ours back after
    os.umask(umask)
    runner = CliRunner()

    def on(url: str) -> Cli:
        def run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> Result:
            environ = {"CAUSETTE_DATABASE_URL": url, **(env or {})}
            return runner.invoke(main, list(args), input=stdin, env=environ, prog_name="causette")

        return run

    yield on
    os.umask(umask)
