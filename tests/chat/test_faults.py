"""Faults with real processes on loopback: Redis killed, a node killed, PostgreSQL stopped,
the same message sent from everywhere at once. Nothing acknowledged is lost or repeated.

Each test prints its figures (run with ``-s`` to see them)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from chat.broker.redis import RESYNC_CHANNEL
from chat.db import Database
from chat.store import Store
from tests.cluster import (
    Peer,
    Tally,
    agent_login,
    connect_agent,
    connect_visitor,
    start_nodes,
    tally,
)
from tests.rows import fetch
from tests.servers import REDIS_URL, ServerProcess, create_pg_database, drop_pg_database
from tests.services import PostgresCluster, RedisServer, log_events, logged, redis_publish
from tests.wsclient import visitor_token


@pytest.fixture
def database() -> Iterator[str]:
    name, url = create_pg_database()
    yield url
    drop_pg_database(name)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[ServerProcess]]]:
    """Two nodes on the shared Redis and a database of their own, for the tests that kill
    nothing: (database URL, [node A, node B])."""
    name, url = create_pg_database()
    nodes = start_nodes(2, url, REDIS_URL, tmp_path_factory.mktemp("pair"))
    yield url, nodes
    for node in nodes:
        node.stop()
    drop_pg_database(name)


class Progress:
    """A count that can be awaited: ``await progress.reach(n)``."""

    def __init__(self) -> None:
        self.count = 0
        self._event = asyncio.Event()

    def bump(self) -> None:
        self.count += 1
        self._event.set()

    async def reach(self, n: int, timeout: float = 60.0) -> None:
        async def wait() -> None:
            while self.count < n:
                self._event.clear()
                await self._event.wait()

        await asyncio.wait_for(wait(), timeout)


async def stream(
    peer: Peer,
    client_ids: list[str],
    conversation_id: str,
    acks: dict[str, dict[str, Any]],
    progress: Progress,
    window: int = 16,
) -> list[str]:
    """Send one message per client_id, at most ``window`` unanswered at a time, until all
    are answered or the socket closes. Acks go into ``acks``; returns the client_ids left
    without an ack (answered by an error, sent unanswered, or never sent), in order."""
    inflight: set[asyncio.Future[dict[str, Any]]] = set()

    def settle(cid: str, future: asyncio.Future[dict[str, Any]]) -> None:
        if not future.cancelled() and future.exception() is None:
            frame = future.result()
            if frame["type"] == "ack":
                acks[cid] = frame
                progress.bump()

    for cid in client_ids:
        while len(inflight) >= window:
            _, inflight = await asyncio.wait(inflight, return_when=asyncio.FIRST_COMPLETED)
        if peer.closed:
            break
        future = await peer.post(f"body of {cid}", conversation_id, cid)
        future.add_done_callback(lambda f, cid=cid: settle(cid, f))
        inflight.add(future)
    if inflight:
        await asyncio.wait(inflight)
    return [cid for cid in client_ids if cid not in acks]


async def opened(
    visitor_node: ServerProcess, agent_node: ServerProcess, database_url: str, body: str
) -> tuple[Peer, Peer, dict[str, Any]]:
    """A new visitor on one node, an agent on the other, and the visitor's first message
    (its ack), once the agent has it."""
    token = (await visitor_token(visitor_node.base_url))["token"]
    visitor = await connect_visitor(visitor_node, token)
    agent = await connect_agent(agent_node, database_url)
    first = await visitor.say(body)
    await agent.expect("message", client_id=first["client_id"])
    return visitor, agent, first


async def readyz(node: ServerProcess) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        r = await http.get(f"{node.base_url}/readyz", timeout=10.0)
        return r.status_code, r.json()


async def until_ready(node: ServerProcess, timeout: float = 30.0) -> None:
    """Poll /readyz (there is no event to await for a dependency coming back)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (await readyz(node))[0] == 200:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{node.base_url} not ready after {timeout}s: {await readyz(node)}")


async def stored(database_url: str, conversation_id: str) -> list[Any]:
    return await fetch(
        database_url,
        "SELECT seq, client_id, author_kind FROM messages WHERE conversation_id = :c ORDER BY seq",
        c=conversation_id,
    )


def new_ids(n: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(n)]


# -- R1 ----------------------------------------------------------------------------------


async def settle(
    conversation_id: str, expectations: list[tuple[str, Peer, str | None, set[int]]]
) -> list[Tally]:
    """Wait until each receiver has every seq it should, flush what is still queued for
    it (ping, pong), then count what it got against what it should have."""
    for name, peer, kind, expected in expectations:
        await peer.until(
            lambda peer=peer, kind=kind, expected=expected: (
                set(peer.seqs(conversation_id, kind)) >= expected
            ),
            name,
            timeout=60.0,
        )
    for _, peer, _, _ in expectations:
        await peer.send({"type": "ping"})
        await peer.expect("pong")
    return [
        tally(name, peer.seqs(conversation_id, kind), expected)
        for name, peer, kind, expected in expectations
    ]


async def test_r1_redis_killed_and_restarted_mid_conversation(
    database: str, tmp_path: Path
) -> None:
    """R1. Redis (our own redis-server) is SIGKILLed and restarted on the same port in the
    middle of 2,000 messages: 1,500 from a visitor on node A, 500 from an agent on node B,
    sent without pause. Figures: every send acked, those made during the outage included;
    /readyz answers 503 naming the broker on both nodes while Redis is down; both nodes log
    broker_down and broker_up; at each of the 4 receivers (the visitor and a second tab of
    it, the agent and a second agent, on both nodes) 0 lost, 0 duplicated, in seq order.
    Then a second outage at the very end: 50 more messages while Redis is down and none
    after, so they can only arrive by the catch-up from the database: same figures."""
    redis = RedisServer(tmp_path / "redis").start()
    a, b = start_nodes(2, database, redis.url, tmp_path)
    peers: list[Peer] = []
    try:
        token = (await visitor_token(a.base_url))["token"]
        visitor = await connect_visitor(a, token)
        tab = await connect_visitor(b, token)
        agent = await connect_agent(b, database, name="Agent B")
        watcher = await connect_agent(a, database, name="Agent A")
        peers = [visitor, tab, agent, watcher]

        visitor_ids, agent_ids = new_ids(1500), new_ids(500)
        first = await visitor.say("first", client_id=visitor_ids[0])
        conversation_id = first["conversation_id"]
        await agent.expect("message", client_id=first["client_id"])
        acks: dict[str, dict[str, Any]] = {visitor_ids[0]: first}
        progress = Progress()

        async def outage() -> dict[str, Any]:
            await progress.reach(600)
            redis.kill()
            killed_at, acked_at_kill = time.monotonic(), progress.count
            down = {node.base_url: await readyz(node) for node in (a, b)}
            await progress.reach(acked_at_kill + 400)
            redis.start()
            return {
                "down_seconds": round(time.monotonic() - killed_at, 2),
                "acked_during_outage": progress.count - acked_at_kill,
                "readyz": down,
            }

        chaos = asyncio.create_task(outage())
        left = await asyncio.gather(
            stream(visitor, visitor_ids[1:], conversation_id, acks, progress),
            stream(agent, agent_ids, conversation_id, acks, progress),
        )
        figures = await chaos
        assert left == [[], []], "every send is acked: the store is PostgreSQL, not Redis"

        def expectations() -> list[tuple[str, Peer, str | None, set[int]]]:
            mine = {acks[c]["seq"] for c in visitor_ids}
            theirs = {acks[c]["seq"] for c in agent_ids}
            return [
                ("visitor (node A), agent's messages", visitor, "agent", theirs),
                ("visitor's 2nd tab (node B), all", tab, None, mine | theirs),
                ("agent (node B), visitor's messages", agent, "visitor", mine),
                ("2nd agent (node A), all", watcher, None, mine | theirs),
            ]

        assert {x["seq"] for x in acks.values()} == set(range(1, 2001))
        tallies = await settle(conversation_id, expectations())
        for node in (a, b):
            for event in ("broker_down", "broker_up"):
                await logged(node, event)
            await until_ready(node)

        print(
            f"\nR1 Redis SIGKILLed after 600 acks, restarted after {figures['down_seconds']} s;"
            f" sends acked during the outage: {figures['acked_during_outage']}; total acked:"
            f" {len(acks)} of 2000"
        )
        for url, (status, body) in figures["readyz"].items():
            print(f"R1 /readyz during the outage on {url}: {status} {body}")
        for line in tallies:
            print(f"R1 {line}")
        for status, body in figures["readyz"].values():
            assert status == 503 and body["broker"] == "unavailable", body
            assert body["database"] == "ok"
        assert figures["acked_during_outage"] >= 400
        assert all(t.perfect for t in tallies), [str(t) for t in tallies]

        # the tail: Redis down, 50 more messages, Redis back, nothing more said
        redis.kill()
        tail_visitor, tail_agent = new_ids(30), new_ids(20)
        visitor_ids += tail_visitor
        agent_ids += tail_agent
        left = await asyncio.gather(
            stream(visitor, tail_visitor, conversation_id, acks, progress),
            stream(agent, tail_agent, conversation_id, acks, progress),
        )
        assert left == [[], []]
        redis.start()
        assert {x["seq"] for x in acks.values()} == set(range(1, 2051))
        tallies = await settle(conversation_id, expectations())
        for line in tallies:
            print(f"R1 after a 2nd outage at the end (50 more, nothing after): {line}")
        echoes = {
            "visitor": len(visitor.seqs(conversation_id, "visitor")),
            "agent": len(agent.seqs(conversation_id, "agent")),
        }
        print(f"R1 senders' own messages echoed back to the sending socket: {echoes}")
        assert echoes == {"visitor": 0, "agent": 0}, "a sender gets an ack, not a copy"
        assert all(t.perfect for t in tallies), [str(t) for t in tallies]
        rows = await stored(database, conversation_id)
        assert [r.seq for r in rows] == list(range(1, 2051))
    finally:
        for peer in peers:
            await peer.close()
        a.stop()
        b.stop()
        redis.stop()


async def test_the_burst_after_a_redis_outage_does_not_drop_readers(
    database: str, tmp_path: Path
) -> None:
    """Two nodes whose sockets queue at most 16 frames. Redis is killed; a visitor on node A
    sends 300 messages (acked: they are stored). Node A is paused (SIGSTOP) while Redis comes
    back and node B subscribes again and catches its sockets up from the store; then A resumes
    and publishes the 300 held-back announcements at once, to B's live subscription (19 times
    the queue, repeats by then). Figures: the agent on B, which reads its socket all along,
    has the 301 messages once each, in seq order, and stays connected (its ping is answered;
    node B logs no ws_queue_full). Delivery through a burst that brings new messages is
    tested on the connection itself, in tests/chat/test_connection.py."""
    redis = RedisServer(tmp_path / "redis").start()
    env = {"CAUSETTE_SEND_QUEUE_SIZE": "16"}
    a, b = start_nodes(2, database, redis.url, tmp_path, env=env)
    peers: list[Peer] = []
    try:
        visitor, agent, first = await opened(a, b, database, "before the outage")
        peers = [visitor, agent]
        conversation_id = first["conversation_id"]

        redis.kill()
        acks: dict[str, dict[str, Any]] = {}
        left = await stream(visitor, new_ids(300), conversation_id, acks, Progress())
        assert left == []
        assert a.proc is not None
        os.kill(a.proc.pid, signal.SIGSTOP)
        try:
            redis.start()
            await logged(b, "broker_up")  # B listens again before A says anything
        finally:
            os.kill(a.proc.pid, signal.SIGCONT)
        await logged(a, "broker_publisher_up")
        expected = {first["seq"]} | {ack["seq"] for ack in acks.values()}
        await agent.until(
            lambda: set(agent.seqs(conversation_id, "visitor")) >= expected,
            "the burst",
            timeout=60.0,
        )
        await agent.send({"type": "ping"})
        await agent.expect("pong")
        at_agent = tally("agent on B", agent.seqs(conversation_id, "visitor"), expected)
        print(f"\nBurst of {len(acks)} after a Redis outage, queue of 16: {at_agent}")
        assert at_agent.perfect, str(at_agent)
        assert not agent.closed
        assert "ws_queue_full" not in log_events(b)
    finally:
        for peer in peers:
            await peer.close()
        for node in (a, b):
            node.stop()
        redis.stop()


# -- R2 ----------------------------------------------------------------------------------


async def test_r2_node_killed_visitor_resumes_on_the_other_node(
    database: str, tmp_path: Path
) -> None:
    """R2. ``kill -9`` of node A, which holds the visitor, while the visitor (A) and the
    agent (B) both send 300 messages. The visitor reconnects to node B resuming past the
    last message it received, resends its unacked messages with the same client_id, then
    sends the rest. Figures: every client_id stored once (601 rows, seqs 1..601); at the
    agent every visitor message once, in order; at the visitor every agent message once
    across both sockets, in order; every visitor message acked, resent ones with the seq
    they were stored under."""
    a, b = start_nodes(2, database, REDIS_URL, tmp_path)
    peers: list[Peer] = []
    try:
        token = (await visitor_token(a.base_url))["token"]
        visitor = await connect_visitor(a, token)
        agent = await connect_agent(b, database)
        peers = [visitor, agent]
        first = await visitor.say("first")
        conversation_id = first["conversation_id"]
        await agent.expect("message", client_id=first["client_id"])

        visitor_ids, agent_ids = new_ids(300), new_ids(300)
        acks: dict[str, dict[str, Any]] = {first["client_id"]: first}
        visitor_progress, agent_progress = Progress(), Progress()

        acked_at_kill = 0

        async def kill_a() -> None:
            nonlocal acked_at_kill
            await visitor_progress.reach(100)
            a.kill()
            acked_at_kill = visitor_progress.count

        killer = asyncio.create_task(kill_a())
        agent_sends = asyncio.create_task(
            stream(agent, agent_ids, conversation_id, acks, agent_progress, window=8)
        )
        unacked = await stream(visitor, visitor_ids, conversation_id, acks, visitor_progress, 8)
        await killer
        await visitor.wait_closed()
        sent_unanswered = [c for c in unacked if c in visitor.outcomes]
        on_a = visitor.seqs(conversation_id)
        resume_at = max(on_a)  # in seq order on A: everything up to here was seen or is ours

        back = await connect_visitor(b, token, resume={conversation_id: resume_at})
        peers.append(back)
        left = await stream(back, unacked, conversation_id, acks, visitor_progress, window=8)
        assert left == []
        assert await agent_sends == []

        rows = await stored(database, conversation_id)
        by_client = {r.client_id: r.seq for r in rows}
        visitor_seqs = {by_client[c] for c in [first["client_id"], *visitor_ids]}
        agent_seqs = {by_client[c] for c in agent_ids}
        await agent.until(
            lambda: set(agent.seqs(conversation_id, "visitor")) >= visitor_seqs, "visitor msgs"
        )
        await back.until(
            lambda: (
                set(visitor.seqs(conversation_id, "agent") + back.seqs(conversation_id, "agent"))
                >= agent_seqs
            ),
            "agent msgs",
        )
        for peer in (agent, back):
            await peer.send({"type": "ping"})
            await peer.expect("pong")
        at_agent = tally(
            "agent (node B), visitor's messages",
            agent.seqs(conversation_id, "visitor"),
            visitor_seqs,
        )
        at_visitor = tally(
            "visitor (A then B), agent's messages",
            visitor.seqs(conversation_id, "agent") + back.seqs(conversation_id, "agent"),
            agent_seqs,
        )
        echoes = back.seqs(conversation_id, "visitor")
        print(
            f"\nR2 node A SIGKILLed after {acked_at_kill} visitor acks; visitor resumed"
            f" on B at seq {resume_at}; sent on A but unanswered: {len(sent_unanswered)}"
            f" (resent with the same client_id), never sent on A:"
            f" {len(unacked) - len(sent_unanswered)}; rows stored: {len(rows)} (expected 601),"
            f" distinct client_ids: {len(by_client)}"
        )
        print(f"R2 {at_agent}")
        print(f"R2 {at_visitor}")
        print(
            f"R2 visitor's own messages replayed to it on B (stored past its resume point):"
            f" {len(echoes)}, each once: {len(echoes) == len(set(echoes))}"
        )

        assert len(rows) == 601 and [r.seq for r in rows] == list(range(1, 602))
        assert len(by_client) == 601
        for cid in [first["client_id"], *visitor_ids, *agent_ids]:
            assert acks[cid]["seq"] == by_client[cid]
        assert at_agent.perfect, str(at_agent)
        assert at_visitor.perfect, str(at_visitor)
        assert len(echoes) == len(set(echoes)) and all(s > resume_at for s in echoes)
        assert set(echoes) <= visitor_seqs
    finally:
        for peer in peers:
            await peer.close()
        a.stop()
        b.stop()


async def test_r2_a_message_stored_but_never_published_reaches_the_others_on_resend(
    pair: tuple[str, list[ServerProcess]],
) -> None:
    """R2, the narrow case made deterministic: a node committed a visitor's message and died
    before acking or publishing it (here: stored behind the servers' backs). The visitor,
    never acked, resends it with the same client_id on another node. Figures: 1 stored row,
    the ack carries its seq, and the agent receives it exactly once."""
    database, (a, b) = pair
    peers: list[Peer] = []
    try:
        visitor_info = await visitor_token(a.base_url)
        visitor = await connect_visitor(a, visitor_info["token"])
        agent = await connect_agent(b, database)
        peers = [visitor, agent]
        first = await visitor.say("first")
        conversation_id = first["conversation_id"]
        await agent.expect("message", client_id=first["client_id"])

        lost_cid = str(uuid.uuid4())
        db = Database(database)
        try:
            store = Store(db)
            (space,) = await fetch(
                database,
                "SELECT space_id FROM visitors WHERE id = :v",
                v=visitor_info["visitor_id"],
            )
            principal = await store.visitor_principal(visitor_info["visitor_id"], space.space_id)
            result = await store.append(principal, conversation_id, lost_cid, "unpublished")
        finally:
            await db.dispose()
        assert result.message.seq == 2

        again = await connect_visitor(b, visitor_info["token"], resume={conversation_id: 1})
        peers.append(again)
        ack = await again.say("unpublished", conversation_id, client_id=lost_cid)
        got = await agent.expect("message", client_id=lost_cid)
        await agent.send({"type": "ping"})
        await agent.expect("pong")
        copies = [m for m in agent.messages if m["client_id"] == lost_cid]
        print(
            f"\nR2 stored-but-unpublished, resent: ack seq {ack['seq']}, agent copies {len(copies)}"
        )
        assert ack["seq"] == got["seq"] == 2 and len(copies) == 1
        assert len(await stored(database, conversation_id)) == 2
    finally:
        for peer in peers:
            await peer.close()


# -- R3 ----------------------------------------------------------------------------------


@pytest.fixture
def own_postgres() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster().init()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()


async def test_r3_postgres_stopped_sends_get_retryable_errors_then_land_once(
    own_postgres: PostgresCluster, tmp_path: Path
) -> None:
    """R3. Our own PostgreSQL is stopped (fast shutdown) for 3 seconds while a visitor keeps
    sending. Figures: every send during the outage answered by an ``error``
    (store_unavailable, retryable: true), none by an ack, none hanging; /readyz 503 naming
    the database; the same server, not restarted, is ready again once PostgreSQL is back;
    each message resent with its client_id is acked and stored once; resent a second time,
    acked with the same seq; the agent receives each exactly once. A socket opened during
    the outage is not told its token is bad (no 1008). Sockets asked to catch up while the
    database is away (a resync request on Redis) are closed with 1013 and resume after.
    Then PostgreSQL restarts while nobody writes: the first message after it is acked."""
    url = await own_postgres.create_database("causette")
    redis = RedisServer(tmp_path / "redis").start()
    node = ServerProcess(database_url=url, workdir=tmp_path, redis_url=redis.url).start()
    peers: list[Peer] = []
    try:
        visitor_tok = (await visitor_token(node.base_url))["token"]
        agent_tok = await agent_login(node, url)
        visitor = await connect_visitor(node, visitor_tok)
        agent = await connect_agent(node, url, agent_tok)
        peers = [visitor, agent]
        first = await visitor.say("before the outage")
        conversation_id = first["conversation_id"]
        await agent.expect("message", client_id=first["client_id"])

        own_postgres.stop()
        stopped = time.monotonic()
        outcomes: dict[str, dict[str, Any]] = {}
        slowest = 0.0
        while time.monotonic() - stopped < 3.0:
            cid = str(uuid.uuid4())
            sent = time.monotonic()
            future = await visitor.post(f"during {len(outcomes)}", conversation_id, cid)
            outcomes[cid] = await asyncio.wait_for(future, 15.0)
            slowest = max(slowest, time.monotonic() - sent)
            await asyncio.sleep(0.02)  # a visitor typing fast, not a flood
        status, body = await readyz(node)
        newcomer = await websockets.connect(f"{node.ws_url}/ws/visitor")
        await newcomer.send(json.dumps({"type": "hello", "token": visitor.hello_token}))
        with contextlib.suppress(websockets.ConnectionClosed):
            await asyncio.wait_for(newcomer.recv(), 15.0)
        await newcomer.wait_closed()
        newcomer_close = newcomer.close_code
        # every node is asked to catch its sockets up (as after a Redis blip), which needs
        # the database: each socket is closed with "try again later", to resume
        await redis_publish(redis.url, RESYNC_CHANNEL, "test")
        resync_closes = [(await peer.wait_closed())[0] for peer in (visitor, agent)]
        own_postgres.start()
        down = round(time.monotonic() - stopped, 2)
        await until_ready(node)
        resume = {conversation_id: first["seq"]}
        visitor = await connect_visitor(node, visitor_tok, resume=resume)
        agent = await connect_agent(node, url, agent_tok, resume=resume)
        peers += [visitor, agent]

        kinds = {(f["type"], f.get("code"), f.get("retryable")) for f in outcomes.values()}
        acked: dict[str, dict[str, Any]] = {}
        for cid in outcomes:  # resent after recovery, in order, same client_id
            acked[cid] = await visitor.say("resent", conversation_id, client_id=cid)
        again = {
            cid: await visitor.say("again", conversation_id, client_id=cid) for cid in outcomes
        }
        expected = {a["seq"] for a in acked.values()}
        await agent.until(
            lambda: set(agent.seqs(conversation_id, "visitor")) >= expected, "resent messages"
        )
        await agent.send({"type": "ping"})
        await agent.expect("pong")
        at_agent = tally(
            "agent, resent messages",
            agent.seqs(conversation_id, "visitor"),
            expected,
        )
        rows = await stored(url, conversation_id)
        print(
            f"\nR3 PostgreSQL down {down} s; sends during the outage: {len(outcomes)};"
            f" answers: {sorted(kinds, key=str)}; slowest answer: {slowest:.3f} s;"
            f" /readyz while down: {status} {body}"
        )
        print(
            f"R3 after recovery: resent {len(acked)}, acked {len(acked)}, rows stored"
            f" {len(rows) - 1} (+1 from before), second resend same seq:"
            f" {all(again[c]['seq'] == acked[c]['seq'] for c in outcomes)}"
        )
        print(f"R3 {at_agent}")
        print(f"R3 a socket opened during the outage: closed with {newcomer_close}")
        print(f"R3 sockets asked to catch up during the outage: closed with {resync_closes}")

        assert kinds == {("error", "store_unavailable", True)}
        assert newcomer_close != 1008, "a database outage must not tell a client its token is bad"
        assert resync_closes == [1013, 1013]
        assert status == 503 and body["database"] == "unavailable", body
        assert len(rows) == 1 + len(outcomes)
        assert sorted(r.client_id for r in rows[1:]) == sorted(outcomes)
        assert all(again[c]["seq"] == acked[c]["seq"] for c in outcomes)
        assert at_agent.perfect, str(at_agent)

        # restarted while nobody wrote: the pool still holds connections to the old server,
        # and the next message must not pay for them
        own_postgres.stop()
        own_postgres.start()
        after_idle_restart = await visitor.post("after an idle restart", conversation_id)
        answer = await asyncio.wait_for(after_idle_restart, 15.0)
        print(f"R3 first message after an idle restart of PostgreSQL: {answer['type']}")
        assert answer["type"] == "ack", answer
    finally:
        for peer in peers:
            await peer.close()
        node.stop()
        redis.stop()


async def test_r5_postgres_that_hangs_answers_retryable_errors_in_bounded_time(
    own_postgres: PostgresCluster, tmp_path: Path
) -> None:
    """R5, beyond the four: our own PostgreSQL is frozen with SIGSTOP (a paused host, a
    partition that drops packets: no error, no reset, no answer) while a visitor sends 3
    messages and an agent a read receipt, on a node given CAUSETTE_DATABASE_TIMEOUT_SECONDS=1.
    Figures: each is answered ``store_unavailable`` with ``retryable: true`` within seconds, none
    acked, none left hanging; /readyz 503 naming the database; once PostgreSQL runs again the
    node, not restarted, acks the 3 resent with their client_ids, stores each once, and the
    agent receives each once."""
    url = await own_postgres.create_database("causette")
    env = {"CAUSETTE_DATABASE_TIMEOUT_SECONDS": "1"}
    node = ServerProcess(database_url=url, workdir=tmp_path, env=env).start()
    peers: list[Peer] = []
    try:
        visitor, agent, first = await opened(node, node, url, "before the hang")
        peers = [visitor, agent]
        conversation_id = first["conversation_id"]

        own_postgres.pause()
        try:
            outcomes: dict[str, dict[str, Any]] = {}
            slowest = 0.0
            for i in range(3):
                cid = str(uuid.uuid4())
                sent = time.monotonic()
                future = await visitor.post(f"during the hang {i}", conversation_id, cid)
                outcomes[cid] = await asyncio.wait_for(future, 30.0)
                slowest = max(slowest, time.monotonic() - sent)
            # a frame that goes another way to the database: a read receipt
            sent = time.monotonic()
            await agent.send({"type": "read", "conversation_id": conversation_id, "seq": 1})
            receipt = await agent.expect("error", timeout=30.0)
            slowest = max(slowest, time.monotonic() - sent)
            status, body = await readyz(node)
        finally:
            own_postgres.resume()

        acked = {
            cid: await visitor.say("resent", conversation_id, client_id=cid) for cid in outcomes
        }
        expected = {first["seq"]} | {a["seq"] for a in acked.values()}
        await agent.until(
            lambda: set(agent.seqs(conversation_id, "visitor")) >= expected, "resent messages"
        )
        await agent.send({"type": "ping"})
        await agent.expect("pong")
        at_agent = tally("agent, every message", agent.seqs(conversation_id, "visitor"), expected)
        rows = await stored(url, conversation_id)
        kinds = {
            (f["type"], f.get("code"), f.get("retryable")) for f in [*outcomes.values(), receipt]
        }
        print(
            f"\nR5 PostgreSQL frozen; sends: {len(outcomes)} messages and a read receipt;"
            f" answers: {sorted(kinds, key=str)};"
            f" slowest answer: {slowest:.2f} s; /readyz while frozen: {status} {body};"
            f" after: {len(acked)} acked, {len(rows) - 1} rows (+1 from before); {at_agent}"
        )
        assert kinds == {("error", "store_unavailable", True)}
        assert slowest < 10.0, "a hung database must not hold a frame until it comes back"
        assert status == 503 and body["database"] == "unavailable", body
        assert len(rows) == 1 + len(outcomes)
        assert sorted(r.client_id for r in rows[1:]) == sorted(outcomes)
        assert at_agent.perfect, str(at_agent)
    finally:
        for peer in peers:
            await peer.close()
        node.stop()


# -- R4 ----------------------------------------------------------------------------------


async def test_r4_same_client_id_from_three_connections_on_two_nodes(
    pair: tuple[str, list[ServerProcess]],
) -> None:
    """R4. One client_id sent at the same moment from 3 sockets of one visitor (node A,
    node B, node A): first as the message that opens the conversation, then again on the
    open conversation. Figures, each round: 1 stored message, 3 acks with the same seq and
    id, 1 copy at the agent."""
    database, (a, b) = pair
    peers: list[Peer] = []
    try:
        token = (await visitor_token(a.base_url))["token"]
        tabs = [
            await connect_visitor(a, token),
            await connect_visitor(b, token),
            await connect_visitor(a, token),
        ]
        agent = await connect_agent(b, database)
        peers = [*tabs, agent]
        conversation_id: str | None = None
        for round_ in ("opening message", "in an open conversation"):
            cid = str(uuid.uuid4())
            futures = [await tab.post("same", conversation_id, cid) for tab in tabs]
            acks = await asyncio.wait_for(asyncio.gather(*futures), 20.0)
            conversation_id = acks[0]["conversation_id"]
            got = await agent.expect("message", client_id=cid)
            await agent.send({"type": "ping"})
            await agent.expect("pong")
            rows = await fetch(database, "SELECT seq FROM messages WHERE client_id = :c", c=cid)
            copies = [m for m in agent.messages if m["client_id"] == cid]
            print(
                f"\nR4 {round_}: acks {[x['type'] for x in acks]} seqs {[x['seq'] for x in acks]};"
                f" stored rows {len(rows)}; agent copies {len(copies)}"
            )
            assert [x["type"] for x in acks] == ["ack"] * 3
            assert len({(x["seq"], x["id"], x["conversation_id"]) for x in acks}) == 1
            assert len(rows) == 1 and rows[0].seq == acks[0]["seq"] == got["seq"]
            assert len(copies) == 1
    finally:
        for peer in peers:
            await peer.close()
