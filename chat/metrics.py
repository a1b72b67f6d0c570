"""Prometheus metrics: every series causette exports, defined here and nowhere else.

The composition root (causette/app.py) builds one ``Metrics`` per app and hands it to what
records: the HTTP middleware, the socket edge and each connection, the relay, the hub, the
Redis broker, the database and its batch writer, the retention job. Recording is a counter
increment or a histogram observation on a child bound when this object is built: no label
lookup, no string made, no lock of ours on the path of a message.

Every label takes its values from a small fixed set (a kind, an outcome, a close code, a
route template, an HTTP method): never an id, an address or a user agent, so the number of
series does not grow with visitors.

Two modes, chosen by ``directory``:

- **One process** (``None``: tests, an app built on its own): the metrics live in a registry
  of this object's own, so every app a test builds starts from zero.
- **Several processes** (``causette serve``, whatever ``--workers``): prometheus_client's
  multiprocess mode. Each process writes its values to memory-mapped files in the directory
  (``CAUSETTE_METRICS_DIR``, handed to prometheus_client as ``PROMETHEUS_MULTIPROC_DIR``), and
  a scrape merges every process's files: counters and histograms summed, the socket gauges
  summed over living processes only. The metric objects are registered nowhere; a scrape
  reads the directory through a registry that holds nothing else (``scrape_registry``). The
  one process-wide state this needs is prometheus_client's own value class, which it picks
  per process from the environment when first imported: ``serve`` sets the environment
  before its workers start, and ``_multiprocess_values`` picks the class again for the one
  process that had imported the library before (``serve`` with one worker runs the app in
  its own process).

A process that exits has its live gauges removed (``mark_process_dead``): by itself when it
stops (``close``), and, when it was killed, by the next scrape, which reaps the files of
processes that no longer exist (a PID reused by another process in between keeps a dead
worker's sockets counted until that process exits too: rare, and harmless to counters).
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from starlette.requests import Request

__all__ = [
    "CONTENT_TYPE",
    "Metrics",
    "MetricsGuard",
    "deny_metrics",
    "parse_address",
    "reap_dead_processes",
    "scrape_registry",
]

CONTENT_TYPE = CONTENT_TYPE_LATEST

MetricsGuard = Callable[[Request], Awaitable[bool]]
"""Whether a request may read ``/metrics`` on the main port: True lets it in, False answers
403, and a ``CausetteError`` it raises is answered as usual (``BadApiKey``: 401,
``MissingScope``: 403). The app context's ``metrics_guard`` is ``deny_metrics`` until the
console plugs in its check of an API key's ``metrics:read`` scope (agents/context.py)."""


async def deny_metrics(request: Request) -> bool:
    """The default guard: nobody reads metrics on the main port (use CAUSETTE_METRICS_ADDRESS)."""
    return False


# seconds: from a millisecond (an ack on an idle node) to ten seconds (a database that hangs)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)  # the batch writer takes at most 256

SOCKET_KINDS = ("visitor", "agent")
# close codes counted as themselves (chat/types.py CloseCode, and what clients and proxies
# send: 1006 abnormal, 1012 service restart); any other is "other"
CLOSE_CODES = frozenset({1000, 1001, 1005, 1006, 1007, 1008, 1009, 1011, 1012, 1013, 4001, 4002})
SLOW_REASONS = ("queue_full", "stuck")
DB_ERROR_KINDS = ("outage", "statement")
BROKER_CONNECTIONS = ("subscriber", "publisher")
RETENTION_OUTCOMES = ("ok", "failed", "skipped")
WEBHOOK_OUTCOMES = ("delivered", "retried", "failed")
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # the route label of a request no route matched


class Metrics:
    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        registry: CollectorRegistry | None = None
        if directory is None:
            registry = CollectorRegistry()
        else:
            _multiprocess_values(directory)
        self._registry = registry

        def counter(name: str, doc: str, labels: Iterable[str] = ()) -> Counter:
            return Counter(name, doc, labels, registry=registry)

        def histogram(
            name: str, doc: str, labels: Iterable[str] = (), buckets: Iterable[float] = ()
        ) -> Histogram:
            return Histogram(
                name, doc, labels, registry=registry, buckets=tuple(buckets) or LATENCY_BUCKETS
            )

        # -- sockets (chat/ws.py, chat/connection.py) ----------------------------------------
        self.sockets_open = Gauge(
            "causette_sockets_open",
            "WebSockets signed in and open, by kind.",
            ["kind"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.sockets_closed = counter(
            "causette_sockets_closed_total",
            "Signed-in WebSockets closed, by kind and close code (the client's when it closed).",
            ["kind", "code"],
        )
        self.slow_consumer_closes = counter(
            "causette_slow_consumer_closes_total",
            "Sockets closed for not reading: queue_full (its queue overflowed) or stuck (a send "
            "waited CAUSETTE_SLOW_CLIENT_SECONDS).",
            ["code", "reason"],
        )
        self.ack_seconds = histogram(
            "causette_ack_seconds",
            "From a message frame received to its ack handed to the socket, by socket kind.",
            ["kind"],
        )
        # -- messages (chat/relay.py, chat/hub.py) -------------------------------------------
        self.messages_stored = counter(
            "causette_messages_stored_total",
            "Messages stored (a resend of a stored message is not counted), by author kind.",
            ["author"],
        )
        self.delivery_seconds = histogram(
            "causette_delivery_seconds",
            "From a message committed (and published) to its hand-off to the queues of this "
            "node's sockets, through the broker; measured on the node that stored it.",
        )
        # -- broker (chat/broker/redis.py) ---------------------------------------------------
        self.broker_publish_lag = histogram(
            "causette_broker_publish_lag_seconds",
            "From an announcement queued to Redis confirming its PUBLISH (the oldest of each "
            "pipelined batch).",
        )
        self.broker_reconnects = counter(
            "causette_broker_reconnects_total",
            "Connections to Redis made again after losing them.",
            ["connection"],
        )
        self.broker_pending = Gauge(
            "causette_broker_pending",
            "Announcements waiting for Redis.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.broker_dropped = counter(
            "causette_broker_dropped_total",
            "Announcements dropped because too many waited for Redis (every node resyncs).",
        )
        # -- database (chat/db.py, chat/writer.py) -------------------------------------------
        self.db_errors = counter(
            "causette_db_errors_total",
            "Database errors: outage (away, refusing, timing out: retryable) or statement "
            "(refused as written: a bug, or a constraint met by a race that is retried).",
            ["kind"],
        )
        self.db_checkout_seconds = histogram(
            "causette_db_checkout_seconds",
            "Time to get a connection from the pool (long: the pool is exhausted or the "
            "database slow to accept).",
        )
        self.writer_batch_size = histogram(
            "causette_writer_batch_size",
            "Messages stored per batch of the group-commit writer.",
            buckets=BATCH_BUCKETS,
        )
        self.writer_batch_seconds = histogram(
            "causette_writer_batch_seconds", "Time to store one batch of the writer."
        )
        # -- retention (chat/retention.py) ---------------------------------------------------
        self.retention_last_success = Gauge(
            "causette_retention_last_success_timestamp_seconds",
            "When the retention job last completed a run (Unix time; 0: not since start).",
            registry=registry,
            multiprocess_mode="max",
        )
        self.retention_runs = counter(
            "causette_retention_runs_total",
            "Retention job runs: ok, failed, or skipped (another node held the lock).",
            ["outcome"],
        )
        # -- webhooks --------------------------------------------------------------------------
        # The webhook delivery worker (agents/webhooks/worker.py) calls
        # ``webhook_delivered(outcome)`` once per attempt ("delivered": a 2xx; "retried": a
        # failure with attempts left; "failed": given up) and ``webhook_backlog(seconds)``
        # after each look at its queue (the age of the oldest delivery waiting, 0 when none).
        self.webhook_deliveries = counter(
            "causette_webhook_deliveries_total",
            "Webhook delivery attempts, by outcome.",
            ["outcome"],
        )
        self.webhook_oldest_pending = Gauge(
            "causette_webhook_oldest_pending_seconds",
            "Age of the oldest webhook delivery waiting to be sent.",
            registry=registry,
            multiprocess_mode="livemax",
        )
        # -- HTTP (chat/middleware.py) -------------------------------------------------------
        self.http_requests = counter(
            "causette_http_requests_total",
            "HTTP requests, by method, route template and status class (2xx, 4xx, 5xx...).",
            ["method", "route", "status"],
        )
        self.http_seconds = histogram(
            "causette_http_request_seconds", "Time to answer an HTTP request."
        )

        # children bound once: recording never looks a label up
        self._open = {k: self.sockets_open.labels(k) for k in SOCKET_KINDS}
        self._acks = {k: self.ack_seconds.labels(k) for k in SOCKET_KINDS}
        self._stored = {k: self.messages_stored.labels(k) for k in SOCKET_KINDS}
        self._db_errors = {k: self.db_errors.labels(k) for k in DB_ERROR_KINDS}
        self._reconnects = {k: self.broker_reconnects.labels(k) for k in BROKER_CONNECTIONS}
        self._retention = {k: self.retention_runs.labels(k) for k in RETENTION_OUTCOMES}
        self._webhooks = {k: self.webhook_deliveries.labels(k) for k in WEBHOOK_OUTCOMES}
        for reason in SLOW_REASONS:
            self.slow_consumer_closes.labels("1013", reason)
        self.delivered = self.delivery_seconds.observe
        self.published = self.broker_publish_lag.observe
        self.db_checkout = self.db_checkout_seconds.observe

    # -- recording -------------------------------------------------------------------------

    def socket_opened(self, kind: str) -> None:
        self._open[kind].inc()

    def socket_closed(self, kind: str, code: int, slow: str | None = None) -> None:
        """A signed-in socket closed with ``code``; ``slow``: closed for not reading."""
        self._open[kind].dec()
        label = str(code) if code in CLOSE_CODES else "other"
        self.sockets_closed.labels(kind, label).inc()
        if slow is not None:
            self.slow_consumer_closes.labels(label, slow).inc()

    def ack_observer(self, kind: str) -> Callable[[float], None]:
        """What a connection of this kind calls with each ack's latency."""
        return self._acks[kind].observe

    def message_stored(self, author: str) -> None:
        self._stored[author].inc()

    def broker_reconnected(self, connection: str) -> None:
        self._reconnects[connection].inc()

    def db_error(self, kind: str) -> None:
        self._db_errors[kind].inc()

    def batch_written(self, size: int, seconds: float) -> None:
        self.writer_batch_size.observe(size)
        self.writer_batch_seconds.observe(seconds)

    def retention_run(self, outcome: str) -> None:
        self._retention[outcome].inc()
        if outcome == "ok":
            self.retention_last_success.set(time.time())

    def webhook_delivered(self, outcome: str) -> None:
        self._webhooks[outcome].inc()

    def webhook_backlog(self, oldest_seconds: float) -> None:
        self.webhook_oldest_pending.set(oldest_seconds)

    def request_done(self, method: str, route: str | None, status: int, seconds: float) -> None:
        self.http_requests.labels(
            method if method in HTTP_METHODS else "other",
            route or UNMATCHED,
            f"{status // 100}xx",
        ).inc()
        self.http_seconds.observe(seconds)

    # -- exposition ------------------------------------------------------------------------

    def exposition(self) -> bytes:
        """The text format of a scrape: this process's metrics, or every process's."""
        if self.directory is None:
            assert self._registry is not None
            return generate_latest(self._registry)
        return generate_latest(scrape_registry(self.directory))

    def close(self) -> None:
        """This process is stopping: its sockets are no longer open anywhere."""
        if self.directory is not None:
            mark_process_dead(os.getpid(), str(self.directory))


def _multiprocess_values(directory: Path) -> None:
    """Have prometheus_client keep this process's values in files of ``directory``. It reads
    the directory from the environment whenever a process opens its files, and picks its value
    class once, when first imported: again here if that was before the environment said so."""
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    if values.ValueClass is values.MutexValue:
        values.ValueClass = values.MultiProcessValue()


class _Directory:
    """A collector of every process's files in the directory, after reaping the dead's."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._merged = MultiProcessCollector(None, str(directory))

    def collect(self) -> Iterable[Metric]:
        reap_dead_processes(self._directory)
        return self._merged.collect()


def scrape_registry(directory: Path) -> CollectorRegistry:
    """A registry holding nothing but the merged files of ``directory``: what a scrape reads
    (by a worker at ``/metrics``, or by the listener of CAUSETTE_METRICS_ADDRESS)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Directory(directory))
    return registry


def reap_dead_processes(directory: Path) -> list[int]:
    """``mark_process_dead`` for every process whose live gauges are in ``directory`` and that
    no longer exists (a worker killed, or replaced by the server): the PIDs reaped."""
    reaped = []
    for path in directory.glob("gauge_live*_*.db"):
        pid_text = path.stem.rsplit("_", 1)[-1]
        if not pid_text.isdigit():
            continue
        pid = int(pid_text)
        if pid != os.getpid() and not _alive(pid):
            mark_process_dead(pid, str(directory))
            reaped.append(pid)
    return reaped


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def parse_address(text: str) -> tuple[str, int]:
    """``127.0.0.1:9108`` or ``[::1]:9108`` -> (host, port); ValueError otherwise."""
    host, sep, port = text.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not HOST:PORT (127.0.0.1:9108, [::1]:9108)")
    return host, int(port)
