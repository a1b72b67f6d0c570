"""Prometheus metrics of a real ``causette serve --workers 2`` (PostgreSQL and Redis), read
as Prometheus reads them (``text_string_to_metric_families``): on the address of
CAUSETTE_METRICS_ADDRESS, the sum of both workers; on the main port, refused without
authorization; a previous run's files not counted; the labels bounded whatever the number
of visitors (``CAUSETTE_TEST_METRICS_VISITORS``, 1,000 by default); a killed worker's sockets
no longer counted as open."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from causette.scrape import metrics_directory
from chat.db import Database, error_kind
from chat.metrics import Metrics, parse_address
from tests.clirun import causette
from tests.cluster import Peer, connect_agent
from tests.servers import (
    REDIS_URL,
    ServerProcess,
    create_pg_database,
    drop_pg_database,
    free_port,
)
from tests.services import worker_pid_of

ROOT = Path(__file__).resolve().parents[2]
VISITORS = int(os.environ.get("CAUSETTE_TEST_METRICS_VISITORS", "1000"))
FIRST_WAVE = 10  # visitors before the first look at the series; the rest come after
UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.I)
HEX_ID = re.compile(r"[0-9a-f]{16,}", re.I)  # a request or connection id
IP = re.compile(r"\d{1,3}(\.\d{1,3}){3}|[0-9a-f]*:[0-9a-f]*:[0-9a-f:]*", re.I)

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    name, url = create_pg_database()
    yield url
    drop_pg_database(name)


@pytest.fixture(scope="module")
def metrics_server(
    database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, str]]:
    """The server, and the URL of its metrics listener. Its metrics directory holds a file
    from a "previous run" before it starts: a counter of its own and a million messages."""
    workdir = tmp_path_factory.mktemp("metrics")
    directory = workdir / "metrics"
    directory.mkdir()
    _previous_run(directory)
    address = f"127.0.0.1:{free_port()}"
    server = ServerProcess(
        database_url=database,
        workdir=workdir,
        redis_url=REDIS_URL,
        workers=2,
        env={"CAUSETTE_METRICS_DIR": str(directory), "CAUSETTE_METRICS_ADDRESS": address},
    ).start()
    try:
        yield server, f"http://{address}/metrics"
    finally:
        server.stop()


def _previous_run(directory: Path) -> None:
    """What a process of an earlier run left in the directory (prometheus_client's own
    files, written through its public API)."""
    code = (
        "from prometheus_client import Counter\n"
        "Counter('causette_stale', 'left by a previous run', registry=None).inc(7)\n"
        "Counter('causette_messages_stored', 'x', ['author'], registry=None)"
        ".labels('visitor').inc(1000000)\n"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=30)
    assert list(directory.glob("counter_*.db"))


async def scrape(url: str) -> Series:
    async with httpx.AsyncClient() as http:
        r = await http.get(url, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    series: Series = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            series[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return series


def value(series: Series, name: str, **labels: str) -> float:
    return series.get((name, frozenset(labels.items())), 0.0)


async def until(url: str, done: Callable[[Series], bool], what: str) -> Series:
    """Scrape until ``done``: what the workers record after the last frame a client saw
    (a socket's close, the broker's echo) has no event a client can await."""
    deadline = asyncio.get_running_loop().time() + 15
    while True:
        series = await scrape(url)
        if done(series):
            return series
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"metrics never showed {what}")
        await asyncio.sleep(0.1)


async def test_main_port_refuses_metrics_without_authorization(
    metrics_server: tuple[ServerProcess, str],
) -> None:
    server, _ = metrics_server
    async with httpx.AsyncClient() as http:
        bare = await http.get(f"{server.base_url}/metrics")
        claimed = await http.get(
            f"{server.base_url}/metrics", headers={"authorization": "Bearer anything"}
        )
        by_address = await http.get(  # scrapers name a node by its address: still refused
            f"{server.base_url}/metrics", headers={"host": "10.0.0.12:8001"}
        )
    for r in (bare, by_address):
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "not_allowed"
    assert claimed.status_code in (401, 403)  # no such key (the guard's own answer)
    for r in (bare, claimed, by_address):
        assert set(r.json()) == {"error"} and r.json()["error"]["message"]
        assert "causette_" not in r.text


async def test_a_previous_runs_files_are_not_counted(
    metrics_server: tuple[ServerProcess, str],
) -> None:
    _, url = metrics_server
    series = await scrape(url)
    assert not any(name.startswith("causette_stale") for name, _ in series)
    assert value(series, "causette_messages_stored_total", author="visitor") == 0
    assert value(series, "causette_sockets_open", kind="visitor") == 0
    # every bounded series is there from the start, at 0
    assert value(series, "causette_webhook_deliveries_total", outcome="delivered") == 0
    assert ("causette_webhook_oldest_pending_seconds", frozenset()) in series
    assert ("causette_retention_last_success_timestamp_seconds", frozenset()) in series


async def _visitor(http: httpx.AsyncClient, server: ServerProcess, n: int) -> Peer:
    """A new visitor with a socket, who writes twice (a new conversation, then the batch
    writer's common case)."""
    r = await http.post(f"{server.base_url}/api/visitors", json={"space": "default"})
    r.raise_for_status()
    peer = await Peer.connect(server.ws_url, "/ws/visitor", r.json()["token"])
    assert isinstance(peer, Peer)
    first = await peer.say(f"hello {n}")
    await peer.say(f"still there? {n}", conversation_id=first["conversation_id"])
    return peer


async def _visitors(server: ServerProcess, numbers: range) -> list[Peer]:
    peers: list[Peer] = []
    async with httpx.AsyncClient(timeout=30) as http:
        for start in range(numbers.start, numbers.stop, 50):
            chunk = range(start, min(start + 50, numbers.stop))
            peers += await asyncio.gather(*(_visitor(http, server, n) for n in chunk))
    return peers


def _labels_are_bounded(series: Series) -> None:
    for name, labels in series:
        for label, text in labels:
            if label in ("le", "quantile"):
                continue
            assert not UUID.search(text), (name, label, text)
            assert not HEX_ID.search(text), (name, label, text)
            assert not IP.fullmatch(text), (name, label, text)


async def test_counters_sum_both_workers_and_labels_stay_bounded(
    metrics_server: tuple[ServerProcess, str], database: str, record_property: Callable
) -> None:
    """Figure: VISITORS visitors (2 messages each) and one agent (a reply to each of the
    first wave) on 2 workers: messages stored, acks, deliveries and visitor tokens counted
    once each across workers; the series after the first 10 visitors are the series after
    all of them; no label value is an id or an address."""
    server, url = metrics_server
    before = await scrape(url)
    agent = await connect_agent(server, database)
    opened: list[Peer] = [agent]
    try:
        first = await _visitors(server, range(FIRST_WAVE))
        opened += first
        for n, peer in enumerate(first):
            conversation_id = next(
                f["conversation_id"] for f in peer.frames if f.get("type") == "ack"
            )
            await agent.say(f"reply {n}", conversation_id=conversation_id)
        await agent.until(lambda: len(agent.messages) >= 2 * FIRST_WAVE, "the first wave")
        early = await scrape(url)

        rest = await _visitors(server, range(FIRST_WAVE, VISITORS))
        opened += rest
        visitors = first + rest
        await agent.until(lambda: len(agent.messages) >= 2 * VISITORS, "every visitor message")
        pids = set()
        for peer in visitors:
            pids.add(worker_pid_of(server, int(peer.ws.local_address[1])))
            if len(pids) == 2:
                break
        assert len(pids) == 2, "every visitor landed on one worker"

        stored = 2 * VISITORS + FIRST_WAVE

        def delivered(s: Series) -> bool:
            return (
                value(s, "causette_delivery_seconds_count")
                - value(before, "causette_delivery_seconds_count")
                >= stored
            )

        after = await until(url, delivered, "every message delivered")

        def grew(name: str, **labels: str) -> float:
            return value(after, name, **labels) - value(before, name, **labels)

        assert grew("causette_messages_stored_total", author="visitor") == 2 * VISITORS
        assert grew("causette_messages_stored_total", author="agent") == FIRST_WAVE
        assert grew("causette_ack_seconds_count", kind="visitor") == 2 * VISITORS
        assert grew("causette_ack_seconds_count", kind="agent") == FIRST_WAVE
        assert grew("causette_delivery_seconds_count") == stored
        assert value(after, "causette_sockets_open", kind="visitor") == VISITORS
        assert value(after, "causette_sockets_open", kind="agent") == 1
        visitor_tokens = {"method": "POST", "route": "/api/visitors", "status": "2xx"}
        assert grew("causette_http_requests_total", **visitor_tokens) == VISITORS
        assert grew("causette_writer_batch_size_count") >= 1
        assert grew("causette_writer_batch_size_sum") == VISITORS + FIRST_WAVE  # 2nd messages
        assert grew("causette_db_checkout_seconds_count") > 0
        assert grew("causette_broker_publish_lag_seconds_count") > 0
        assert value(after, "causette_db_errors_total", kind="outage") == 0
        # the ack histogram's buckets add up to its count
        inf = {"kind": "visitor", "le": "+Inf"}
        assert value(after, "causette_ack_seconds_bucket", **inf) == value(
            after, "causette_ack_seconds_count", kind="visitor"
        )

        assert set(after) == set(early), set(after) ^ set(early)
        _labels_are_bounded(after)
        print(f"\nmetrics: {len(after)} series after {VISITORS} visitors on 2 workers")
        record_property("series", len(after))
    finally:
        for peer in opened:
            await peer.close()

    closed = await until(
        url,
        lambda s: (
            value(s, "causette_sockets_open", kind="visitor") == 0
            and value(s, "causette_sockets_open", kind="agent") == 0
        ),
        "every socket closed",
    )
    normal = {"kind": "visitor", "code": "1000"}
    assert (
        value(closed, "causette_sockets_closed_total", **normal)
        - value(before, "causette_sockets_closed_total", **normal)
        == VISITORS
    )
    _labels_are_bounded(closed)


async def test_a_killed_workers_sockets_are_no_longer_open(
    metrics_server: tuple[ServerProcess, str],
) -> None:
    """kill -9 of a worker that holds sockets: the next scrapes stop counting them (its live
    gauges are reaped), and keep counting what it stored."""
    server, url = metrics_server
    peers = await _visitors(server, range(6))
    try:
        held: dict[int, int] = {}
        for peer in peers:
            pid = worker_pid_of(server, int(peer.ws.local_address[1]))
            held[pid] = held.get(pid, 0) + 1
        victim, count = max(held.items(), key=lambda item: item[1])
        before = await scrape(url)
        assert value(before, "causette_sockets_open", kind="visitor") == len(peers)
        os.kill(victim, signal.SIGKILL)
        after = await until(
            url,
            lambda s: value(s, "causette_sockets_open", kind="visitor") == len(peers) - count,
            f"the {count} sockets of the killed worker gone",
        )
        stored = ("causette_messages_stored_total", frozenset({("author", "visitor")}))
        assert after[stored] == before[stored]  # its counts outlive it
    finally:
        for peer in peers:
            await peer.close()


def test_series_labels_of_a_sample_are_recognised() -> None:
    """The patterns the bounded-label check relies on."""
    assert UUID.search(str(uuid.uuid4())) and UUID.search(uuid.uuid4().hex)
    assert HEX_ID.search("a3f9c2d1e0b4a5c6") and not HEX_ID.search("visitor")
    assert IP.fullmatch("127.0.0.1") and IP.fullmatch("::1") and not IP.fullmatch("1013")
    assert not IP.fullmatch("/api/conversations/{conversation_id}")


def test_every_metric_the_docs_and_the_dashboard_name_exists() -> None:
    """The alerts of docs/deploy.md, the README and the Grafana dashboard name series that
    an app exports (from the start, at 0; those labelled by close code or route once one
    was counted)."""
    metrics = Metrics()
    metrics.socket_opened("visitor")
    metrics.socket_closed("visitor", 1000)
    metrics.request_done("GET", "/healthz", 200, 0.001)
    exported = set()
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        exported.add(family.name)
        exported |= {sample.name for sample in family.samples}
    dashboard = (ROOT / "docs" / "grafana-causette.json").read_text()
    exprs = [
        target["expr"]
        for panel in json.loads(dashboard)["panels"]
        for target in panel.get("targets", [])
    ]
    assert len(exprs) > 20
    named = set()
    for text in (
        *exprs,
        (ROOT / "docs" / "deploy.md").read_text(),
        (ROOT / "README.md").read_text(),
    ):
        named |= set(re.findall(r"\bcausette_[a-z_]+", text))
    assert len(named) > 20
    assert named <= exported, named - exported


async def test_serve_refuses_a_bad_metrics_address_or_a_directory_in_use(
    metrics_server: tuple[ServerProcess, str], tmp_path: Path
) -> None:
    """One line, exit 1, before saying it serves: an address that is not HOST:PORT, one in
    use, and the directory of a server that runs."""
    server, _ = metrics_server
    url = f"sqlite+aiosqlite:///{tmp_path / 'causette.db'}"
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    busy = f"127.0.0.1:{taken.getsockname()[1]}"
    serve = ("serve", "--port", str(free_port()))
    try:
        bad, in_use, shared = await asyncio.gather(
            causette(*serve, database_url=url, cwd=tmp_path,
                     env={"CAUSETTE_METRICS_ADDRESS": "9108"}),
            causette(*serve, database_url=url, cwd=tmp_path,
                     env={"CAUSETTE_METRICS_ADDRESS": busy}),
            causette(*serve, database_url=url, cwd=tmp_path,
                     env={"CAUSETTE_METRICS_DIR": str(server.workdir / "metrics")}),
        )  # fmt: skip
    finally:
        taken.close()
    for result, line in (
        (bad, "Error: CAUSETTE_METRICS_ADDRESS: '9108' is not HOST:PORT"),
        (in_use, f"Error: CAUSETTE_METRICS_ADDRESS {busy}: Address already in use"),
        (shared, "is used by another causette serve: give each server a directory of its own."),
    ):
        assert result.code == 1, result.output
        assert result.stdout == "" and line in result.stderr, result.output
        assert len(result.stderr.splitlines()) == 1, result.output


def test_metrics_addresses() -> None:
    assert parse_address("127.0.0.1:9108") == ("127.0.0.1", 9108)
    assert parse_address("[::1]:9108") == ("::1", 9108)
    for wrong in ("9108", ":9108", "127.0.0.1", "127.0.0.1:0", "host:99999", "host:http"):
        with pytest.raises(ValueError):
            parse_address(wrong)


def test_a_temporary_directory_is_removed_and_a_killed_servers_swept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``serve``'s own directory is gone when it stops; one a killed server left (an old one
    whose lock nobody holds) goes when the next starts; a running server's stays."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("CAUSETTE_METRICS_DIR", "")  # restored after: set by the directory
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")
    old = time.time() - 120
    killed, running = tmp_path / "causette-metrics-killed", tmp_path / "causette-metrics-running"
    for path in (killed, running):
        path.mkdir()
        (path / "counter_1.db").write_bytes(b"")
        os.utime(path, (old, old))
    with open(running / "serve.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with metrics_directory(None) as directory:
            assert directory.parent == tmp_path.resolve() and directory.is_dir()
            assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(directory)
            assert not killed.exists() and running.exists()
    assert not directory.exists()


def test_database_errors_are_told_apart() -> None:
    assert error_kind(OSError("refused")) == error_kind(sa.exc.TimeoutError()) == "outage"
    assert error_kind(sa.exc.IntegrityError("INSERT", {}, Exception())) == "statement"
    assert error_kind(sqlite3.IntegrityError("UNIQUE")) == "statement"
    assert error_kind(sqlite3.OperationalError("database is locked")) == "outage"
    assert error_kind(asyncpg.UniqueViolationError("duplicate")) == "statement"
    assert error_kind(asyncpg.ConnectionDoesNotExistError("gone")) == "outage"
    assert error_kind(asyncpg.InterfaceError("closed")) == "outage"
    assert error_kind(ValueError("ours")) is None


async def test_a_database_error_is_counted_once(tmp_path: Path) -> None:
    metrics = Metrics()
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", metrics=metrics)
    try:
        async with db.write() as conn:
            await conn.execute(sa.text("CREATE TABLE t (x INTEGER UNIQUE)"))
        with pytest.raises(sa.exc.IntegrityError):
            async with db.write() as conn:
                async with db.read() as inner:  # a unit inside another: one error still
                    await inner.execute(sa.text("SELECT 1"))
                    await conn.execute(sa.text("INSERT INTO t VALUES (1), (1)"))
    finally:
        await db.dispose()
    series = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(metrics.exposition().decode())
        for s in f.samples
    }
    assert series[("causette_db_errors_total", (("kind", "statement"),))] == 1
    assert series[("causette_db_errors_total", (("kind", "outage"),))] == 0
    assert series[("causette_db_checkout_seconds_count", ())] == 3
