"""What ``causette serve`` does for the metrics of its processes: the directory they share,
and the listener of CAUSETTE_METRICS_ADDRESS.

The directory (CAUSETTE_METRICS_DIR, or a private temporary one) is emptied when the server
starts, so nothing of a previous run is counted, and locked for as long as it runs, so two
servers never share one. Its path reaches the workers through the environment they inherit
(CAUSETTE_METRICS_DIR for their settings, PROMETHEUS_MULTIPROC_DIR for prometheus_client),
set before the first of them starts.

The listener is one small HTTP server in the ``serve`` process itself, in a thread: one per
server whatever the number of workers, reading every worker's files at each scrape, and
still answering while a worker restarts.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from chat.errors import UsageError
from chat.metrics import parse_address, scrape_registry

__all__ = ["metrics_directory", "start_listener"]

LOCK = "serve.lock"  # not a *.db: prometheus_client reads only those
PREFIX = "causette-metrics-"  # of the temporary directories


class _Terminated(BaseException):
    """SIGTERM, as an exception: it unwinds through the clean-up before the process dies."""


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise _Terminated()


@contextlib.contextmanager
def metrics_directory(configured: Path | None) -> Iterator[Path]:
    """The directory every process of this server writes its metrics to: emptied, locked,
    named in the environment; a temporary one is removed afterwards.

    Also when the server stops on SIGTERM: uvicorn, serving in this process, raises the
    signal again once it has shut down, and the process then dies of it as it always did, but
    only after the clean-up (the default action would skip it)."""
    made = configured is None
    if made:
        _sweep(Path(tempfile.gettempdir()))
    previous = signal.signal(signal.SIGTERM, _terminated)
    terminated = False
    path = Path(tempfile.mkdtemp(prefix=PREFIX)) if configured is None else configured
    lock = None
    try:
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            lock = open(path / LOCK, "a")  # held until the server stops
        except OSError as exc:
            raise UsageError(f"CAUSETTE_METRICS_DIR {path}: {exc.strerror}") from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(
                f"CAUSETTE_METRICS_DIR {path} is used by another causette serve: "
                "give each server a directory of its own."
            ) from None
        for stale in path.glob("*.db"):  # a previous run's: its counts are not this run's
            stale.unlink()
        path = path.resolve()  # named absolutely in the environment
        os.environ["CAUSETTE_METRICS_DIR"] = str(path)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
        yield path
    except _Terminated:
        terminated = True
    finally:
        signal.signal(signal.SIGTERM, previous)
        if lock is not None:
            lock.close()
        if made:
            shutil.rmtree(path, ignore_errors=True)
    if terminated:
        signal.raise_signal(signal.SIGTERM)


def _sweep(parent: Path, older_than: float = 60.0) -> None:
    """Remove the temporary directories of servers that were killed (no clean-up then): this
    user's, a minute old at least, whose lock nobody holds."""
    for path in parent.glob(f"{PREFIX}*"):
        try:
            info = path.stat()
            if info.st_uid != os.getuid() or time.time() - info.st_mtime < older_than:
                continue
            with open(path / LOCK, "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held: a server runs
                shutil.rmtree(path, ignore_errors=True)
        except OSError:  # BlockingIOError included
            continue


def start_listener(address: str, directory: Path) -> str:
    """Serve every process's metrics on ``address`` (HOST:PORT), from a thread of this
    process; the URL to scrape."""
    from prometheus_client import start_http_server

    try:
        host, port = parse_address(address)
    except ValueError as exc:
        raise UsageError(f"CAUSETTE_METRICS_ADDRESS: {exc}") from None
    try:
        start_http_server(port, addr=host, registry=scrape_registry(directory))
    except OSError as exc:
        raise UsageError(f"CAUSETTE_METRICS_ADDRESS {address}: {exc.strerror or exc}") from None
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/metrics"
