"""Webhook delivery benchmark, run by hand, alone on the machine (loopback only):

    python bench/webhooks.py                                   # SQLite
    python bench/webhooks.py --pg postgresql://postgres@127.0.0.1:5432/test

Starts a server, a receiver in this process (a bare asyncio HTTP server that answers 204 at
once), makes a webhook for ``message.created`` with an API key, then ``--visitors`` visitors
each send ``--messages`` messages as fast as their acks come back. Reported: deliveries per
second at the receiver (first event received to last), and the commit-to-first-attempt
latency of each event (the event's own timestamp, written when the message was stored, to
the moment the receiver read the request; one clock, one machine), p50/p90/p99/max.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from servers import create_pg_database, drop_pg_database, require_loopback  # noqa: E402

CAUSETTE = str(Path(sys.executable).with_name("causette"))
SECRET = secrets.token_urlsafe(48)


def _env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAUSETTE_")}
    env.update(
        CAUSETTE_DATABASE_URL=url,
        CAUSETTE_SECRET_KEY=SECRET,
        CAUSETTE_RATE_LIMITS="off",
        CAUSETTE_WEBHOOK_ALLOWED_NETWORKS='["127.0.0.0/8"]',
        CAUSETTE_LOG_LEVEL="warning",
    )
    env.update(extra)
    return env


class Receiver:
    """Reads requests, answers 204, keeps (arrival time, body)."""

    def __init__(self) -> None:
        self.got: list[tuple[float, bytes]] = []
        self.port = 0
        self.done = asyncio.Event()
        self.want = 0

    async def start(self) -> None:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                self.got.append((time.time(), body))
                writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
                if len(self.got) >= self.want:
                    self.done.set()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the sender closed, or the benchmark is over
        finally:
            writer.close()


async def _visitor(base: str, ws_url: str, n: int, interval: float) -> None:
    async with httpx.AsyncClient(base_url=base) as http:
        token = (await http.post("/api/visitors", json={"space": "default"})).json()["token"]
    async with websockets.connect(f"{ws_url}/ws/visitor?space=default") as ws:
        await ws.send(json.dumps({"type": "hello", "token": token}))
        while json.loads(await ws.recv())["type"] != "welcome":
            pass
        conversation = None
        for i in range(n):
            frame: dict[str, Any] = {"type": "message", "client_id": str(uuid.uuid4()),
                                     "body": f"message {i}"}  # fmt: skip
            if conversation:
                frame["conversation_id"] = conversation
            await ws.send(json.dumps(frame))
            while True:
                got = json.loads(await ws.recv())
                if got["type"] == "ack":
                    conversation = got["conversation_id"]
                    break
            if interval:
                await asyncio.sleep(interval)  # the offered rate: a schedule, not a wait


def _percentiles(values: list[float]) -> dict[str, float]:
    s = sorted(values)
    rank = lambda q: s[min(len(s) - 1, int(q * len(s)))]  # noqa: E731
    return {"p50": rank(0.5), "p90": rank(0.9), "p99": rank(0.99), "max": s[-1]}


def _setup(url: str) -> tuple[str, int, subprocess.Popen[bytes]]:
    """Migrate, make an API key that manages webhooks, start the server: (key, port, process)."""
    subprocess.run([CAUSETTE, "migrate"], env=_env(url), check=True, capture_output=True)
    made = subprocess.run(
        [CAUSETTE, "key", "create", "--space", "default", "--name", "bench",
         "--scope", "webhooks:manage", "--json"],
        env=_env(url), check=True, capture_output=True, text=True,
    )  # fmt: skip
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [CAUSETTE, "serve", "--port", str(port)], env=_env(url), cwd=tempfile.mkdtemp(),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return json.loads(made.stdout)["key"], port, server


async def run(args: argparse.Namespace, key: str, port: int) -> dict[str, Any]:
    receiver = Receiver()
    await receiver.start()
    base, ws_url = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base) as http:
        for _ in range(200):
            try:
                if (await http.get("/readyz")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
        r = await http.post(
            "/api/webhooks",
            json={"space": "default", "url": f"http://127.0.0.1:{receiver.port}/hook",
                  "events": ["message.created"]},
            headers={"authorization": f"Bearer {key}"},
        )  # fmt: skip
        r.raise_for_status()
    receiver.want = args.visitors * args.messages
    start = time.perf_counter()
    await asyncio.gather(
        *(_visitor(base, ws_url, args.messages, args.interval) for _ in range(args.visitors))
    )
    sent = time.perf_counter() - start
    await asyncio.wait_for(receiver.done.wait(), 300)
    arrivals = [at for at, _ in receiver.got]
    latencies = []
    for at, body in receiver.got:
        stamp = datetime.fromisoformat(json.loads(body)["timestamp"].replace("Z", "+00:00"))
        latencies.append((at - stamp.astimezone(UTC).timestamp()) * 1000)
    span = max(arrivals) - min(arrivals)
    return {
        "backend": "postgresql" if args.pg else "sqlite",
        "events": len(receiver.got),
        "messages_sent_seconds": round(sent, 2),
        "deliveries_per_second": round((len(arrivals) - 1) / span, 1) if span else None,
        "commit_to_first_attempt_ms": {k: round(v, 1) for k, v in _percentiles(latencies).items()},
        "load_average": os.getloadavg(),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--pg", help="admin DSN: a fresh database is made next to it")
    p.add_argument("--visitors", type=int, default=50)
    p.add_argument("--messages", type=int, default=40)
    p.add_argument(
        "--interval", type=float, default=0.0, help="seconds between a visitor's messages (0)"
    )
    args = p.parse_args()
    name = None
    if args.pg:
        require_loopback(args.pg)
        name, url = create_pg_database(args.pg)
    else:
        url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    server = None
    try:
        key, port, server = _setup(url)
        print(json.dumps(asyncio.run(run(args, key, port)), indent=2))
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
        if name:
            drop_pg_database(args.pg, name)


if __name__ == "__main__":
    main()
