"""Privacy with real processes: an erasure closes the visitor's sockets on the server
(close 4002) and its token stops working; the command line's retention run, killed with
SIGKILL in the middle of a purge, leaves whole batches behind and the next run finishes
it; the command line's errors are one line with exit 2; ``audit verify`` exits 1 naming
the entry that was changed."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import websockets

from chat.clock import utcnow
from chat.db import Database, migrate
from chat.models import conversations, messages, spaces, visitors
from tests.agents.consoleclient import open_visitor, space_with_agents
from tests.clirun import CAUSETTE, Cli, causette, one_line_error
from tests.conftest import new_database
from tests.servers import SECRET, ServerProcess


async def test_an_erasure_closes_the_visitors_sockets_and_ends_its_token(
    server: ServerProcess,
) -> None:
    async with space_with_agents(server, "admin") as (space, [admin]):
        visitor, conversation = await open_visitor(server, space, "please forget me")
        token = visitor.hello_token
        profile = await admin.ok("GET", f"/api/conversations/{conversation}")
        visitor_id = profile["visitor"]["id"]
        erased = await admin.ok("POST", f"/api/visitors/{visitor_id}/erase", {"reason": "asked"})
        assert erased["counts"]["messages"] == 1
        code, _ = await visitor.wait_closed()
        assert code == 4002
        async with websockets.connect(f"{server.ws_url}/ws/visitor?space={space}") as ws:
            await ws.send(json.dumps({"type": "hello", "token": token}))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert "token" in closed.value.rcvd.reason  # the widget starts afresh on this


async def _seed_old(url: str, space_key: str, conversations_n: int, per: int) -> int:
    """Old conversations of ``per`` messages each, in bulk: the messages written."""
    db = Database(url)
    try:
        async with db.write() as conn:
            sid = await conn.scalar(sa.select(spaces.c.id).where(spaces.c.key == space_key))
            old = utcnow() - timedelta(days=90)
            vrows, crows, mrows = [], [], []
            for _ in range(conversations_n):
                vid, cid = str(uuid.uuid4()), str(uuid.uuid4())
                vrows.append({"id": vid, "space_id": sid, "created_at": old})
                crows.append(
                    {"id": cid, "space_id": sid, "visitor_id": vid, "status": "resolved",
                     "last_seq": per, "created_at": old, "updated_at": old}
                )  # fmt: skip
                mrows += [
                    {"conversation_id": cid, "space_id": sid, "seq": i + 1,
                     "client_id": str(uuid.uuid4()), "author_kind": "visitor",
                     "author_id": vid, "body": "old", "created_at": old}
                    for i in range(per)
                ]  # fmt: skip
            await conn.execute(visitors.insert(), vrows)
            await conn.execute(conversations.insert(), crows)
            await conn.execute(messages.insert(), mrows)
    finally:
        await db.dispose()
    return len(mrows)


async def _count(url: str, table: sa.Table) -> int:
    db = Database(url)
    try:
        async with db.read() as conn:
            return int(await conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0)
    finally:
        await db.dispose()


async def _messages(url: str) -> int:
    return await _count(url, messages)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_a_purge_killed_midway_is_finished_by_the_next_run(
    backend: str, tmp_path: Path
) -> None:
    with new_database(backend, tmp_path) as url:
        await asyncio.to_thread(migrate, url)
        seeded = await _seed_old(url, "default", 300, 10)
        assert (await causette("space", "update", "default", "--retain", "messages=30d",
                               database_url=url)).code == 0  # fmt: skip
        env = {
            k: v for k, v in os.environ.items() if not k.startswith("CAUSETTE_")
        } | {
            "CAUSETTE_DATABASE_URL": url, "CAUSETTE_SECRET_KEY": SECRET,
            "CAUSETTE_RETENTION_BATCH_ROWS": "50", "CAUSETTE_RETENTION_PAUSE_SECONDS": "0.02",
        }  # fmt: skip
        proc = await asyncio.create_subprocess_exec(
            CAUSETTE, "retention", "run", "--json", env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            async with asyncio.timeout(60):
                while (left := await _messages(url)) == seeded:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)  # what another process writes: no event to await
        finally:
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
        assert 0 < left < seeded  # killed in the middle
        conversations_left = await _count(url, conversations)

        second = await causette("retention", "run", "--json", database_url=url)
        assert second.code == 0, second.output
        report = json.loads(second.stdout)
        [default] = [s for s in report["spaces"] if s["space"] == "default"]
        assert default["counts"]["messages"] == left
        assert default["counts"]["conversations"] == conversations_left
        assert await _messages(url) == 0 and await _count(url, conversations) == 0
        verify = await causette("audit", "verify", database_url=url)
        assert verify.code == 0, verify.output


def test_command_line_errors_are_one_line_with_exit_2(
    cli: Callable[[str], Cli], tmp_path: Path
) -> None:
    run = cli(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    cases = [
        (("space", "update", "default", "--retain", "messages=lots"), "messages=lots"),
        (("space", "update", "default", "--retain", "chats=30d"), "chats=30d"),
        (("retention", "run", "--retain", "messages=3d"), "--dry-run"),
        (("hold", "place", "--space", "default", "--reason", "x"), "exactly one of"),
        (("hold", "place", "--space", "default", "--since", "soon", "--reason", "x"), "soon"),
        (("visitor", "erase", "--space", "default"), "exactly one of"),
        (("visitor", "erase", "--space", "default", "--email", "a@b", "--phone", "1"),
         "exactly one of"),
        (("audit", "export"), "--out"),
    ]  # fmt: skip
    for args, said in cases:
        one_line_error(run(*args), code=2, expect=said)
    one_line_error(
        run("visitor", "erase", "--space", "nowhere", "--visitor", "x"),
        code=1,
        expect="No such space: nowhere",
    )
    one_line_error(
        run("visitor", "erase", "--space", "default", "--phone", "abc"),
        code=1,
        expect="international form",
    )


def test_audit_verify_exits_1_naming_the_changed_entry(
    cli: Callable[[str], Cli], tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
    run = cli(url)
    for days in ("30d", "40d", "50d"):
        assert run("space", "update", "default", "--retain", f"messages={days}").exit_code == 0
    verified = run("audit", "verify")
    assert verified.exit_code == 0 and "verified 3 entries" in verified.stdout
    assert "ok  default  3 entries  head " in verified.stdout

    async def tamper() -> None:
        db = Database(url)
        try:
            async with db.write() as conn:
                await conn.execute(sa.text("DROP TRIGGER audit_entries_no_update"))
                await conn.execute(
                    sa.text("UPDATE audit_entries SET reason = 'nothing' WHERE seq = 2")
                )
        finally:
            await db.dispose()

    asyncio.run(tamper())
    broken = run("audit", "verify", "--space", "default")
    assert broken.exit_code == 1
    assert "chain default, seq 2" in broken.stderr and "does not match its hash" in broken.stderr
    out = tmp_path / "audit.jsonl"
    assert run("audit", "export", "--out", str(out)).exit_code == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["seq"] for x in lines] == [1, 2, 3] and lines[1]["reason"] == "nothing"
