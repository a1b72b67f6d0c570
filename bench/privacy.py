"""Privacy benchmarks, run by hand, alone on the machine (loopback only):

    python bench/privacy.py purge  --pg postgresql://postgres@127.0.0.1:5432/test
    python bench/privacy.py export --pg ...        # or --sqlite
    python bench/privacy.py verify --pg ...

purge   seeds N old messages (10 per conversation) into a fresh database, starts a server on
        it, drives chat traffic with bench/relay.py (visitor -> agent latency), and runs
        ``causette retention run`` against the live database meanwhile: the purge's time and
        the chat's p50/p99 with and without it.
export  a visitor with 10,000 messages: the time of ``causette visitor export`` (JSON and
        zip), the process's start included.
verify  N audit entries in one space's chain: the time of ``causette audit verify``.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from servers import create_pg_database, drop_pg_database, require_loopback  # noqa: E402

CAUSETTE = str(Path(sys.executable).with_name("causette"))
SECRET = secrets.token_urlsafe(48)  # one key for the server and the commands of this run


def _env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAUSETTE_")}
    env.update(CAUSETTE_DATABASE_URL=url, CAUSETTE_SECRET_KEY=SECRET, CAUSETTE_RATE_LIMITS="off")
    env.update(extra)
    return env


def _cli(url: str, *args: str, **extra: str) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(
        [CAUSETTE, *args], env=_env(url, **extra), capture_output=True, text=True, check=False
    )
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"causette {' '.join(args)} failed: {done.stderr.strip()}")
    return took, done.stdout


def _raw(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _seed_messages(url: str, total: int, per: int, days_old: int) -> None:
    """``total`` messages in conversations of ``per``, all ``days_old`` days old, by COPY."""
    import asyncpg

    conn = await asyncpg.connect(_raw(url))
    try:
        sid = await conn.fetchval("SELECT id FROM spaces WHERE key = 'default'")
        old = datetime.now(UTC) - timedelta(days=days_old)
        n_conv = total // per
        visitors, convs, msgs = [], [], []
        for _ in range(n_conv):
            vid, cid = str(uuid.uuid4()), str(uuid.uuid4())
            visitors.append((vid, sid, old))
            convs.append((cid, sid, vid, "resolved", per, old, old, per))
            for seq in range(1, per + 1):
                msgs.append((cid, sid, seq, uuid.uuid4().hex, "visitor", vid, "x" * 80, old))
        await conn.copy_records_to_table(
            "visitors", records=visitors, columns=["id", "space_id", "created_at"]
        )
        await conn.copy_records_to_table(
            "conversations",
            records=convs,
            columns=["id", "space_id", "visitor_id", "status", "last_seq", "created_at",
                     "updated_at", "visitor_messages"],
        )  # fmt: skip
        await conn.copy_records_to_table(
            "messages",
            records=msgs,
            columns=["conversation_id", "space_id", "seq", "client_id", "author_kind",
                     "author_id", "body", "created_at"],
        )  # fmt: skip
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _relay(
    base: str, pid: int, url: str, rate: float, pairs: int, duration: float
) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "relay.py"), "--url", base, "--create-agent",
         "--server-pid", str(pid), "--rate", str(rate), "--pairs", str(pairs),
         "--duration", str(duration), "--json"],
        env=_env(url), capture_output=True, text=True, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"relay.py failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def purge(args: argparse.Namespace) -> dict[str, Any]:
    name, url = create_pg_database(args.pg)
    tmp = Path(tempfile.mkdtemp())
    server = None
    try:
        _cli(url, "migrate")
        t0 = time.perf_counter()
        asyncio.run(_seed_messages(url, args.messages, 10, 90))
        seeded = time.perf_counter() - t0
        _cli(url, "space", "update", "default", "--retain", "messages=30d")
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [CAUSETTE, "serve", "--port", str(port)],
            env=_env(url, CAUSETTE_RETENTION_INTERVAL_SECONDS="0", CAUSETTE_LOG_LEVEL="warning"),
            cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        import urllib.request

        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/readyz", timeout=1).read()  # noqa: S310
                break
            except OSError:
                time.sleep(0.1)
        quiet = _relay(base, server.pid, url, args.rate, args.pairs, 15)
        # the purge, started two seconds into a chat run long enough to cover it
        purge_out: dict[str, Any] = {}

        def run_purge() -> None:
            time.sleep(2)
            took, stdout = _cli(url, "retention", "run", "--json", "--space", "default")
            purge_out["seconds"] = took
            purge_out["report"] = json.loads(stdout)

        import threading

        worker = threading.Thread(target=run_purge)
        worker.start()
        busy = _relay(base, server.pid, url, args.rate, args.pairs, args.chat_seconds)
        worker.join()
        counts = purge_out["report"]["spaces"][0]["counts"]
        return {
            "seeded_messages": args.messages,
            "seed_seconds": round(seeded, 1),
            "purge_seconds": round(purge_out["seconds"], 1),
            "deleted": counts,
            "chat_offered_rate": args.rate,
            "chat_without_purge_ms": quiet["latency_ms"],
            "chat_during_purge_ms": busy["latency_ms"],
            "ack_during_purge_ms": busy["ack_ms"],
            "lost_during_purge": busy["lost"],
            "load_average": os.getloadavg(),
        }
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
        drop_pg_database(args.pg, name)


def _target(args: argparse.Namespace) -> tuple[str, Any]:
    if args.sqlite:
        path = Path(tempfile.mkdtemp()) / "bench.db"
        return f"sqlite+aiosqlite:///{path}", None
    name, url = create_pg_database(args.pg)
    return url, name


def export(args: argparse.Namespace) -> dict[str, Any]:
    url, name = _target(args)
    try:
        _cli(url, "migrate")
        visitor = asyncio.run(_seed_visitor(url, args.messages))
        out = Path(tempfile.mkdtemp())
        t_json, _ = _cli(url, "visitor", "export", "--space", "default", "--visitor", visitor,
                         "--out", str(out / "v.json"))  # fmt: skip
        t_zip, _ = _cli(url, "visitor", "export", "--space", "default", "--visitor", visitor,
                        "--out", str(out / "v.zip"))  # fmt: skip
        return {
            "backend": "sqlite" if args.sqlite else "postgresql",
            "messages": args.messages,
            "json_seconds": round(t_json, 2),
            "zip_seconds": round(t_zip, 2),
            "json_bytes": (out / "v.json").stat().st_size,
            "zip_bytes": (out / "v.zip").stat().st_size,
            "load_average": os.getloadavg(),
        }
    finally:
        if name:
            drop_pg_database(args.pg, name)


async def _seed_visitor(url: str, n: int) -> str:
    """One visitor with ``n`` messages over conversations of 1,000."""
    from chat.db import Database
    from chat.models import conversations, messages, spaces, visitors

    db = Database(url)
    try:
        async with db.write() as conn:
            import sqlalchemy as sa

            sid = await conn.scalar(sa.select(spaces.c.id).where(spaces.c.key == "default"))
            vid = str(uuid.uuid4())
            now = datetime.now(UTC)
            await conn.execute(
                visitors.insert().values(id=vid, space_id=sid, created_at=now, name="Ada",
                                         email="ada@example.com")
            )  # fmt: skip
            for c in range((n + 999) // 1000):
                cid = str(uuid.uuid4())
                k = min(1000, n - c * 1000)
                await conn.execute(
                    conversations.insert().values(
                        id=cid, space_id=sid, visitor_id=vid, status="resolved", last_seq=k,
                        created_at=now, updated_at=now,
                    )
                )  # fmt: skip
                await conn.execute(
                    messages.insert(),
                    [{"conversation_id": cid, "space_id": sid, "seq": i + 1,
                      "client_id": uuid.uuid4().hex, "author_kind": "visitor", "author_id": vid,
                      "body": "Where is my order? " * 4, "created_at": now}
                     for i in range(k)],
                )  # fmt: skip
        return vid
    finally:
        await db.dispose()


def verify(args: argparse.Namespace) -> dict[str, Any]:
    url, name = _target(args)
    try:
        _cli(url, "migrate")
        t0 = time.perf_counter()
        asyncio.run(_seed_audit(url, args.entries))
        seeded = time.perf_counter() - t0
        took, stdout = _cli(url, "audit", "verify")
        return {
            "backend": "sqlite" if args.sqlite else "postgresql",
            "entries": args.entries,
            "seed_seconds": round(seeded, 1),
            "verify_seconds": round(took, 1),
            "said": stdout.strip().splitlines()[-1],
            "load_average": os.getloadavg(),
        }
    finally:
        if name:
            drop_pg_database(args.pg, name)


async def _seed_audit(url: str, n: int) -> None:
    """``n`` entries chained in the default space, as ``record`` writes them."""
    import sqlalchemy as sa

    from chat import audit
    from chat.db import Database
    from chat.models import audit_entries, audit_heads, spaces

    db = Database(url)
    try:
        async with db.read() as conn:
            sid = await conn.scalar(sa.select(spaces.c.id).where(spaces.c.key == "default"))
        prev, seq = audit.GENESIS, 0
        start = datetime.now(UTC) - timedelta(days=1)
        batch: list[dict[str, Any]] = []
        async with db.write() as conn:
            for i in range(n):
                seq += 1
                row = {
                    "chain": sid, "seq": seq, "at": start + timedelta(microseconds=i * 50),
                    "space_id": sid, "actor_kind": "agent", "actor_id": "a1",
                    "actor_name": "Ada Admin", "ip": "127.0.0.1", "user_agent": "Firefox/140",
                    "request_id": uuid.uuid4().hex[:16], "action": "space.update",
                    "target_kind": "space", "target_id": "default", "target": {"key": "default"},
                    "outcome": "ok", "diff": {"csat": [True, False]}, "reason": None,
                    "prev_hash": prev,
                }  # fmt: skip
                row["hash"] = prev = audit.entry_hash(row)
                batch.append(row)
                if len(batch) == 5000:
                    await conn.execute(audit_entries.insert(), batch)
                    batch = []
            if batch:
                await conn.execute(audit_entries.insert(), batch)
            await conn.execute(audit_heads.insert().values(chain=sid, seq=seq, hash=prev))
    finally:
        await db.dispose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("what", choices=["purge", "export", "verify"])
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    p.add_argument("--sqlite", action="store_true", help="export, verify: on SQLite")
    p.add_argument("--messages", type=int, default=None)
    p.add_argument("--entries", type=int, default=1_000_000)
    p.add_argument("--rate", type=float, default=200.0, help="purge: chat msg/s offered")
    p.add_argument("--pairs", type=int, default=50)
    p.add_argument("--chat-seconds", type=float, default=60.0)
    args = p.parse_args()
    require_loopback(args.pg)
    if args.what == "purge":
        args.messages = args.messages or 1_000_000
        result = purge(args)
    elif args.what == "export":
        args.messages = args.messages or 10_000
        result = export(args)
    else:
        result = verify(args)
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
