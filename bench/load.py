"""The load: visitor sockets sending on a schedule, agent sockets receiving, and what they saw.

A client id carries its message's index (a random prefix for the run, then 12 hex digits), so
every ack and every delivery is tied back to its send time by an array lookup: no object, no
task and no dict entry per message, which keeps the generator cheap next to the server.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import string
import time
import urllib.error
import urllib.request
import uuid
from array import array
from collections import Counter
from dataclasses import dataclass
from typing import Any

from servers import BenchError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

__all__ = ["Load", "Plan", "Results", "post_json"]

SETUP_CONCURRENCY = 16
MAX_BATCH = 200  # sends in a row before the readers get a turn, when the schedule is behind
DRAIN_CAP_FACTOR = 5  # a backlog is waited for, up to this many times the sending time


@dataclass(frozen=True, slots=True)
class Plan:
    visitor_urls: list[str]
    agent_urls: list[str]
    pairs: int
    rate: float  # messages per second, all pairs together
    duration: float
    space: str
    agent_email: str
    agent_password: str
    agent_sockets: int = 1
    body_chars: int = 100
    drain: float = 10.0  # seconds without progress before the stragglers count as lost
    deflate: bool = False


@dataclass(frozen=True, slots=True)
class Results:
    scheduled: int
    sent: int
    acked: int
    errored: int
    unacked: int
    delivered: int  # distinct messages seen by at least one agent socket
    deliveries: int  # (agent socket, message) pairs
    delivered_per_s: float
    lost: int  # acked, then missing at an agent socket after the drain
    duplicated: int
    out_of_order: int
    gaps: int
    delivered_unacked: int
    latency_ms: dict[str, float]
    ack_ms: dict[str, float]
    lag_ms: dict[str, float]
    errors: dict[str, int]
    closes: dict[str, int]
    send_seconds: float
    measured_seconds: float
    settled: bool  # everything acked and delivered before the drain gave up


def post_json(url: str, payload: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 - loopback URLs only, checked by the caller
        url,
        data=json.dumps(payload).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return json.loads(response.read())  # type: ignore[no-any-return]
    except urllib.error.HTTPError as exc:
        raise BenchError(f"POST {url}: HTTP {exc.code} {exc.read()[:200]!r}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise BenchError(f"POST {url}: {exc}") from None


def _ws(url: str, path: str) -> str:
    return ("wss" + url[5:] if url.startswith("https") else "ws" + url[4:]) + path


def percentiles(samples: array[float]) -> dict[str, float]:
    if not samples:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}
    ordered = sorted(samples)
    n = len(ordered)

    def rank(q: float) -> float:  # nearest rank
        return ordered[min(n - 1, max(0, math.ceil(q * n) - 1))] * 1000

    return {"p50": rank(0.50), "p90": rank(0.90), "p99": rank(0.99), "max": ordered[-1] * 1000}


class Load:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.total = max(1, round(plan.rate * plan.duration))
        self.prefix = str(uuid.uuid4())[:24]  # 8-4-4-4- : the index fills the last 12 digits
        zeros = bytes(8 * self.total)
        self.sent_at = array("d", zeros)
        self.acked_at = array("d", zeros)
        self.errored = bytearray(self.total)
        self.received = [bytearray(self.total) for _ in range(plan.agent_sockets)]
        self.latency = array("d")
        self.ack_latency = array("d")
        self.lag = array("d")
        self.errors: Counter[str] = Counter()
        self.closes: Counter[str] = Counter()
        self.sent = self.acked = self.errored_count = self.deliveries = 0
        self.duplicates = self.out_of_order = self.gaps = 0
        self.t0 = self.send_end = self.end = self.last_delivery = 0.0
        self.settled = False
        self.visitors: list[ClientConnection] = []
        self.conversations: list[str] = []
        self.agents: list[ClientConnection] = []
        self._readers: list[asyncio.Task[None]] = []
        self._closing = False

    # -- setup -----------------------------------------------------------------------------

    async def setup(self) -> None:
        plan = self.plan
        login = await asyncio.to_thread(
            post_json,
            f"{plan.agent_urls[0]}/api/agents/login",
            {"email": plan.agent_email, "password": plan.agent_password},
        )
        token = login["token"]
        for i in range(plan.agent_sockets):
            ws = await self._open(plan.agent_urls[i % len(plan.agent_urls)], "/ws/agent", token)
            self.agents.append(ws)
            self._readers.append(asyncio.create_task(self._read_agent(ws, i)))
        gate = asyncio.Semaphore(SETUP_CONCURRENCY)
        pairs = await asyncio.gather(*(self._visitor(i, gate) for i in range(plan.pairs)))
        for ws, conversation_id in pairs:
            self.visitors.append(ws)
            self.conversations.append(conversation_id)
            self._readers.append(asyncio.create_task(self._read_visitor(ws)))

    async def _visitor(self, i: int, gate: asyncio.Semaphore) -> tuple[ClientConnection, str]:
        """A new visitor with an open conversation: its first message is a warm-up, not
        measured (it creates the conversation)."""
        url = self.plan.visitor_urls[i % len(self.plan.visitor_urls)]
        async with gate:
            created = await asyncio.to_thread(
                post_json, f"{url}/api/visitors", {"space": self.plan.space}
            )
            ws = await self._open(url, "/ws/visitor", created["token"])
            client_id = str(uuid.uuid4())
            await ws.send(
                json.dumps({"type": "message", "client_id": client_id, "body": "warm-up"})
            )
            try:
                async with asyncio.timeout(30):
                    while True:
                        frame = json.loads(await ws.recv())
                        if frame.get("type") == "ack" and frame.get("client_id") == client_id:
                            return ws, str(frame["conversation_id"])
                        if frame.get("type") == "error":
                            raise BenchError(f"warm-up message refused: {frame}")
            except (TimeoutError, ConnectionClosed) as exc:
                raise BenchError(f"warm-up message of visitor {i} not acked: {exc!r}") from None

    async def _open(self, url: str, path: str, token: str) -> ClientConnection:
        try:
            ws = await connect(
                _ws(url, path),
                compression="deflate" if self.plan.deflate else None,
                open_timeout=15,
                close_timeout=3,
                max_queue=1024,
                ping_interval=None,  # as browsers: only the server's keepalive pings
            )
            await ws.send(json.dumps({"type": "hello", "token": token}))
            async with asyncio.timeout(15):
                frame = json.loads(await ws.recv())
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else 1006
            reason = exc.rcvd.reason if exc.rcvd else ""
            raise BenchError(f"{path}: closed with {code} {reason}".rstrip()) from None
        except (OSError, TimeoutError, WebSocketException) as exc:
            raise BenchError(f"{path}: {exc!r}") from None
        if frame.get("type") != "welcome":
            raise BenchError(f"{path}: expected a welcome, got {frame.get('type')!r}")
        return ws

    # -- the run ---------------------------------------------------------------------------

    async def measure(self) -> None:
        """Send on the schedule (message k at t0 + k/rate, pairs in turn), never waiting for
        acks; then give the receivers ``drain`` seconds to settle."""
        plan = self.plan
        rate, total, pairs = plan.rate, self.total, plan.pairs
        alphabet = string.ascii_letters + "      "
        bodies = ["".join(random.choices(alphabet, k=plan.body_chars)) for _ in range(256)]
        template = (
            '{"type":"message","client_id":"' + self.prefix + '%012x","body":"%s",'
            '"conversation_id":"%s"}'
        )
        sends = [ws.send for ws in self.visitors]
        conversations = self.conversations
        sent_at, lag = self.sent_at, self.lag
        perf = time.perf_counter
        self.t0 = t0 = perf() + 0.01
        hard_stop = t0 + plan.duration * 1.5 + 5
        k = 0
        while k < total:
            now = perf()
            if now > hard_stop:
                break
            due = min(total, int((now - t0) * rate) + 1, k + MAX_BATCH)
            while k < due:
                pair = k % pairs
                at = perf()
                sent_at[k] = at
                lag.append(at - (t0 + k / rate))
                try:
                    await sends[pair](template % (k, bodies[k & 255], conversations[pair]))
                except ConnectionClosed:
                    self.errors["send_on_closed_socket"] += 1
                k += 1
            wait = t0 + k / rate - perf()
            await asyncio.sleep(wait if wait > 0 else 0)
        self.sent = k
        self.send_end = perf()
        await self._drain()
        self.end = perf()

    async def _drain(self) -> None:
        """Wait until every message is acked (or refused) and every ack delivered to every
        agent socket; give up after ``drain`` seconds without progress, or at the cap."""
        perf = time.perf_counter
        cap = self.send_end + DRAIN_CAP_FACTOR * self.plan.duration + self.plan.drain
        per_message = len(self.agents)
        progress, idle_since = -1, perf()
        while (now := perf()) < cap:
            if self.acked + self.errored_count >= self.sent:
                if self.deliveries >= self.acked * per_message:
                    self.settled = True
                    return
            seen = self.acked + self.errored_count + self.deliveries
            if seen != progress:
                progress, idle_since = seen, now
            elif now - idle_since > self.plan.drain:
                return
            await asyncio.sleep(0.02)

    async def _read_visitor(self, ws: ClientConnection) -> None:
        loads, perf, index = json.loads, time.perf_counter, self._index
        sent_at, acked_at = self.sent_at, self.acked_at
        try:
            async for raw in ws:
                now = perf()
                frame = loads(raw)
                kind = frame.get("type")
                if kind == "ack":
                    k = index(frame.get("client_id"))
                    if k >= 0 and not acked_at[k]:
                        acked_at[k] = now
                        self.acked += 1
                        self.ack_latency.append(now - sent_at[k])
                elif kind == "error":
                    self.errors[str(frame.get("code"))] += 1
                    k = index(frame.get("ref"))
                    if k >= 0 and not self.errored[k]:
                        self.errored[k] = 1
                        self.errored_count += 1
        except ConnectionClosed:
            pass
        self._ended("visitor", ws)

    async def _read_agent(self, ws: ClientConnection, i: int) -> None:
        loads, perf, index = json.loads, time.perf_counter, self._index
        sent_at, received = self.sent_at, self.received[i]
        last_seq: dict[str, int] = {}
        try:
            async for raw in ws:
                now = perf()
                frame = loads(raw)
                if frame.get("type") != "message":
                    continue
                k = index(frame.get("client_id"))
                if k >= 0 and received[k]:
                    self.duplicates += 1
                    continue
                conversation_id, seq = frame.get("conversation_id"), frame.get("seq")
                previous = last_seq.get(conversation_id)
                if previous is None or seq > previous:
                    if previous is not None and seq > previous + 1:
                        self.gaps += 1
                    last_seq[conversation_id] = seq
                else:
                    self.out_of_order += 1
                if k >= 0:
                    received[k] = 1
                    self.deliveries += 1
                    self.latency.append(now - sent_at[k])
                    self.last_delivery = now
        except ConnectionClosed:
            pass
        self._ended("agent", ws)

    def _index(self, client_id: object) -> int:
        if type(client_id) is str and len(client_id) == 36 and client_id.startswith(self.prefix):
            try:
                k = int(client_id[24:], 16)
            except ValueError:
                return -1
            return k if k < self.total else -1
        return -1

    def _ended(self, role: str, ws: ClientConnection) -> None:
        if not self._closing:
            self.closes[f"{role} socket closed with {ws.close_code}"] += 1

    async def close(self) -> None:
        self._closing = True
        sockets = self.visitors + self.agents
        try:
            async with asyncio.timeout(15):
                await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
        except TimeoutError:
            pass
        for task in self._readers:
            task.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)

    # -- results ---------------------------------------------------------------------------

    def results(self) -> Results:
        sent, acked_at, errored = self.sent, self.acked_at, self.errored
        acked = [k for k in range(sent) if acked_at[k]]
        lost = sum(1 for got in self.received for k in acked if not got[k])
        seen = bytearray(self.total)
        for got in self.received:
            for k in range(sent):
                if got[k]:
                    seen[k] = 1
        delivered = sum(seen)
        span = self.last_delivery - self.t0
        return Results(
            scheduled=self.total,
            sent=sent,
            acked=len(acked),
            errored=self.errored_count,
            unacked=sum(1 for k in range(sent) if not acked_at[k] and not errored[k]),
            delivered=delivered,
            deliveries=self.deliveries,
            delivered_per_s=delivered / span if span > 0 else 0.0,
            lost=lost,
            duplicated=self.duplicates,
            out_of_order=self.out_of_order,
            gaps=self.gaps,
            delivered_unacked=sum(1 for k in range(sent) if seen[k] and not acked_at[k]),
            latency_ms=percentiles(self.latency),
            ack_ms=percentiles(self.ack_latency),
            lag_ms=percentiles(self.lag),
            errors=dict(self.errors),
            closes=dict(self.closes),
            send_seconds=self.send_end - self.t0,
            measured_seconds=self.end - self.t0,
            settled=self.settled,
        )
