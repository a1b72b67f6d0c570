"""Relay benchmark: N visitor/agent pairs at an offered rate, visitor → agent, run by hand.

Each visitor opens its own conversation and sends on a fixed schedule (``--rate`` messages per
second across all pairs, never waiting for acks); agent sockets of the space receive. Reported:
delivered msgs/s, visitor → agent latency (p50/p90/p99/max), ack latency, lost (acked but never
received after the drain), duplicated, out of order, errors, the server processes' RSS and CPU
time per message, and the generator's own lag and CPU so you can tell who was the bottleneck.

Against a running server (loopback only):

    python bench/relay.py --url http://127.0.0.1:8000 --agent-email E --agent-password P
    CAUSETTE_DATABASE_URL=... python bench/relay.py --url ... --create-agent --server-pid PID

Two nodes, visitors on A and agents on B:

    python bench/relay.py --visitor-url http://127.0.0.1:8001 --agent-url http://127.0.0.1:8002 ...

Or let it start the server itself (stopped at the end, by PID):

    python bench/relay.py --spawn                                      # SQLite, in-process broker
    python bench/relay.py --spawn --fresh-pg postgresql://postgres@127.0.0.1:5432/test
    python bench/relay.py --spawn --fresh-pg ... --own-redis --nodes 2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import resource
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from load import DRAIN_CAP_FACTOR, Load, Plan, Results
from servers import (
    BenchError,
    Cluster,
    RedisServer,
    cpu_between,
    cpu_grown,
    create_agent,
    create_pg_database,
    drop_pg_database,
    ensure_space,
    machine_busy,
    process_tree,
    processes_named,
    require_loopback,
    snapshot,
    stored_indices,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench/relay.py",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    target = p.add_argument_group("target")
    target.add_argument("--url", help="server for visitors and agents, e.g. http://127.0.0.1:8000")
    target.add_argument(
        "--visitor-url",
        action="append",
        default=[],
        metavar="URL",
        help="node visitors connect to (repeatable: spread in turn)",
    )
    target.add_argument(
        "--agent-url",
        action="append",
        default=[],
        metavar="URL",
        help="node agents connect to (repeatable)",
    )
    target.add_argument(
        "--server-pid",
        action="append",
        type=int,
        default=[],
        metavar="PID",
        help="a server process to measure, with its children (repeatable)",
    )
    load = p.add_argument_group("load")
    load.add_argument("--pairs", type=int, default=100, help="visitor/agent pairs (default 100)")
    load.add_argument(
        "--rate",
        type=float,
        default=1000.0,
        help="offered messages per second, all pairs together (default 1000)",
    )
    load.add_argument("--duration", type=float, default=20.0, help="seconds of sending (20)")
    load.add_argument("--space", default="default", help="space key (default: default)")
    load.add_argument(
        "--agent-sockets",
        type=int,
        default=1,
        metavar="K",
        help="agent sockets of the space, each receiving every message of the "
        "space; 0 means one per pair (default 1)",
    )
    load.add_argument("--body-chars", type=int, default=100, help="message length (100)")
    load.add_argument(
        "--drain",
        type=float,
        default=10.0,
        help="after the last send, wait for acks and deliveries until none came for this "
        "many seconds (default 10); what is still missing then counts as lost",
    )
    load.add_argument(
        "--deflate",
        action="store_true",
        help="negotiate permessage-deflate, as browsers do (default off)",
    )
    agent = p.add_argument_group("agent account")
    agent.add_argument("--agent-email")
    agent.add_argument(
        "--agent-password",
        default=os.environ.get("CAUSETTE_BENCH_PASSWORD"),
        help="or CAUSETTE_BENCH_PASSWORD",
    )
    agent.add_argument(
        "--create-agent",
        action="store_true",
        help="create an agent of --space through the causette CLI",
    )
    agent.add_argument(
        "--database-url",
        default=os.environ.get("CAUSETTE_DATABASE_URL"),
        help="for --create-agent and --spawn (default: CAUSETTE_DATABASE_URL; "
        "with --spawn, a new SQLite file)",
    )
    spawn = p.add_argument_group("spawned servers")
    spawn.add_argument(
        "--spawn",
        action="store_true",
        help="start the server(s) on free loopback ports and stop them after",
    )
    spawn.add_argument(
        "--fresh-pg",
        metavar="ADMIN_DSN",
        help="with --spawn: run on a new PostgreSQL database made through this "
        "DSN (e.g. postgresql://postgres@127.0.0.1:5432/test), dropped after",
    )
    spawn.add_argument("--redis-url", help="with --spawn: CAUSETTE_REDIS_URL of the nodes")
    spawn.add_argument(
        "--own-redis",
        action="store_true",
        help="with --spawn: start a redis-server of its own on a free port for the nodes",
    )
    spawn.add_argument(
        "--nodes",
        type=int,
        default=1,
        help="with --spawn: nodes; from 2, visitors use the first half and "
        "agents the rest (needs --redis-url)",
    )
    spawn.add_argument(
        "--source",
        metavar="DIR",
        help="with --spawn: run the server from this source tree (e.g. a `git archive` of a "
        "commit) instead of the installed one",
    )
    spawn.add_argument("--workers", type=int, default=1, help="with --spawn: workers per node")
    spawn.add_argument(
        "--naive-broker",
        action="store_true",
        help="with --spawn and Redis: run the nodes on the naive redis-py broker of "
        "bench/naive_node.py (a PUBLISH awaited per message, one pattern subscription), "
        "to measure what the broker's client path saves",
    )
    spawn.add_argument(
        "--keep-workdir",
        action="store_true",
        help="with --spawn: keep the servers' folder (logs, SQLite file) and say where",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    if args.url:
        args.visitor_url = args.visitor_url or [args.url]
        args.agent_url = args.agent_url or [args.url]
    if args.fresh_pg:
        args.spawn = True
    if not args.spawn and not (args.visitor_url and args.agent_url):
        p.error("give --url (or --visitor-url and --agent-url), or --spawn")
    if args.own_redis and args.redis_url:
        p.error("--own-redis and --redis-url exclude each other")
    if args.naive_broker and not (args.spawn and (args.own_redis or args.redis_url)):
        p.error("--naive-broker needs --spawn and --own-redis or --redis-url")
    if args.naive_broker and (args.workers > 1 or args.source):
        # workers import the app afresh, and the source tree would not be the one patched
        p.error("--naive-broker runs one worker per node from this tree: no --workers, --source")
    if args.spawn and (args.url or args.visitor_url or args.agent_url):
        p.error("--spawn starts its own servers: leave out --url, --visitor-url, --agent-url")
    if not args.spawn and not args.create_agent and not (args.agent_email and args.agent_password):
        p.error("give --agent-email and --agent-password, or --create-agent")
    if args.create_agent and not args.spawn and not args.database_url:
        p.error("--create-agent needs --database-url or CAUSETTE_DATABASE_URL")
    for name in ("pairs", "nodes", "workers", "body_chars"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.rate <= 0 or args.duration <= 0 or args.drain < 0 or args.agent_sockets < 0:
        p.error("--rate and --duration must be positive, --drain and --agent-sockets not negative")
    args.agent_sockets = args.agent_sockets or args.pairs
    return args


# -- one run ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Measured:
    results: Results
    server_cpu: float | None
    rss_start: int
    rss_peak: int
    rss_end: int
    server_processes: int
    client_cpu: float
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    machine_busy: float  # CPU seconds, all cores, everything running on the machine
    cores: int
    services_cpu: dict[str, float]  # postgres, redis-server: every process of that name
    prefix: str  # of every client_id of the run
    acked: set[int]  # indices of the messages acked
    persisted: tuple[int, set[int]] | None = None  # rows stored, message indices among them


def _client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(plan: Plan, pids: list[int]) -> Measured:
    budget = 120 + plan.pairs * 0.5 + plan.duration * (1.5 + DRAIN_CAP_FACTOR) + plan.drain + 60
    async with asyncio.timeout(budget):
        load = Load(plan)
        try:
            await load.setup()
            tree = process_tree(pids) if pids else []
            load_before = os.getloadavg()
            services = processes_named("postgres", "redis-server")
            services_before = {name: snapshot(pids) for name, pids in services.items()}
            busy_before, cores = machine_busy()
            before = snapshot(tree)
            client_before = _client_cpu()
            peak = before.rss_total
            measuring = asyncio.create_task(load.measure())
            while not measuring.done():  # RSS twice a second until the run ends
                await asyncio.wait({measuring}, timeout=0.5)
                peak = max(peak, snapshot(tree).rss_total)
            await measuring
            after = snapshot(tree)
            client_after = _client_cpu()
            busy_after, _ = machine_busy()
            services_cpu = {  # with the processes started meanwhile (new backends)
                name: cpu_grown(services_before[name], snapshot(pids))
                for name, pids in processes_named(*services).items()
            }
            load_after = os.getloadavg()
        finally:
            await load.close()
    return Measured(
        results=load.results(),
        server_cpu=cpu_between(before, after) if tree else None,
        rss_start=before.rss_total,
        rss_peak=max(peak, after.rss_total),
        rss_end=after.rss_total,
        server_processes=len(after.rss),
        client_cpu=client_after - client_before,
        load_before=load_before,
        load_after=load_after,
        machine_busy=busy_after - busy_before,
        cores=cores,
        services_cpu=services_cpu,
        prefix=load.prefix,
        acked={i for i, at in enumerate(load.acked_at) if at},
    )


# -- report ----------------------------------------------------------------------------------


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def _ms(d: dict[str, float]) -> str:
    return "  ".join(f"{k} {v:.1f}" for k, v in d.items())


def report(
    args: argparse.Namespace, setup: str, m: Measured, log_summary: str = ""
) -> dict[str, Any]:
    r = m.results
    per_msg = 1e6 / r.delivered if r.delivered else 0.0
    out: dict[str, Any] = {
        "setup": setup,
        "pairs": args.pairs,
        "offered_rate": args.rate,
        "duration": args.duration,
        "agent_sockets": args.agent_sockets,
        "body_chars": args.body_chars,
        "deflate": args.deflate,
        **dataclasses.asdict(r),
        "server_processes": m.server_processes,
        "server_cpu_seconds": m.server_cpu,
        "server_cpu_us_per_msg": m.server_cpu * per_msg if m.server_cpu is not None else None,
        "server_rss_bytes": {"start": m.rss_start, "peak": m.rss_peak, "end": m.rss_end},
        "client_cpu_seconds": m.client_cpu,
        "client_cpu_us_per_msg": m.client_cpu * per_msg,
        "load_average": {"before": m.load_before, "after": m.load_after},
        "services_cpu_seconds": m.services_cpu,
        "machine_busy_cpu_seconds": m.machine_busy,
        "cores": m.cores,
        "persisted_rows": m.persisted[0] if m.persisted else None,
        "persisted_client_ids": len(m.persisted[1]) if m.persisted else None,
        "acked_not_persisted": len(m.acked - m.persisted[1]) if m.persisted else None,
        "server_log": log_summary,
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return out
    secs = r.measured_seconds or 1.0
    print(f"causette relay benchmark: {setup}")
    print(
        f"  load      {args.pairs} pairs, offered {args.rate:g} msg/s for {args.duration:g} s, "
        f"{args.agent_sockets} agent socket(s), {args.body_chars}-char bodies, "
        f"deflate {'on' if args.deflate else 'off'}"
    )
    print(
        f"  sent      {r.sent} of {r.scheduled} in {r.send_seconds:.2f} s   acked {r.acked}   "
        f"errors {r.errored}   unacked {r.unacked}"
    )
    print(
        f"  delivered {r.delivered} msgs ({r.deliveries} deliveries)   "
        f"{r.delivered_per_s:.1f} msg/s"
    )
    print(f"  latency   visitor→agent ms  {_ms(r.latency_ms)}")
    print(f"            ack ms            {_ms(r.ack_ms)}")
    print(
        f"  lost {r.lost}   duplicated {r.duplicated}   out of order {r.out_of_order}   "
        f"gaps {r.gaps}   delivered unacked {r.delivered_unacked}"
        + ("" if r.settled else f"   (drain gave up at {secs:.0f} s: the server was behind)")
    )
    if m.persisted is not None:
        rows, indices = m.persisted
        print(
            f"  stored    {rows} rows read back for {len(indices)} client_ids "
            f"({rows - len(indices)} stored twice, "
            f"{len(m.acked - indices)} acked but not stored)"
        )
    if r.errors or r.closes:
        print(f"  errors    {r.errors}   closes {r.closes}")
    if m.server_cpu is not None:
        print(
            f"  server    CPU {m.server_cpu:.2f} s ({100 * m.server_cpu / secs:.0f}% of a core) "
            f"= {out['server_cpu_us_per_msg']:.0f} µs/msg   RSS start {_mib(m.rss_start)}, "
            f"peak {_mib(m.rss_peak)}, end {_mib(m.rss_end)} ({m.server_processes} process(es))"
        )
    else:
        print("  server    not measured (give --server-pid)")
    print(
        f"  generator CPU {m.client_cpu:.2f} s ({100 * m.client_cpu / secs:.0f}% of a core) "
        f"= {out['client_cpu_us_per_msg']:.0f} µs/msg   schedule lag ms  {_ms(r.lag_ms)}"
    )
    services = "   ".join(
        f"{name} {cpu * per_msg:.0f} µs/msg" for name, cpu in m.services_cpu.items() if cpu
    )
    print(
        f"  machine   {m.machine_busy / secs:.2f} of {m.cores} cores busy "
        f"= {m.machine_busy * per_msg:.0f} µs/msg in all" + (f"   ({services})" if services else "")
    )
    if log_summary:
        print(f"  server log {log_summary}")
    print(
        "  load avg  before "
        + " ".join(f"{x:.2f}" for x in m.load_before)
        + "   after "
        + " ".join(f"{x:.2f}" for x in m.load_after)
        + f"   ({os.cpu_count()} CPUs)"
    )
    return out


# -- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cleanup = contextlib.ExitStack()
    try:
        with cleanup:
            setup, plan, pids, cluster = prepare(args, cleanup)
            measured = asyncio.run(run(plan, pids))
            if cluster is not None:
                measured.persisted = stored_indices(cluster.database_url, measured.prefix)
            report(args, setup, measured, cluster.log_summary() if cluster else "")
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except TimeoutError:
        print("error: the run overran its time budget and was stopped", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def prepare(
    args: argparse.Namespace, cleanup: contextlib.ExitStack
) -> tuple[str, Plan, list[int], Cluster | None]:
    pids = list(args.server_pid)
    cluster = None
    if args.spawn:
        workdir = Path(tempfile.mkdtemp(prefix="causette-bench-"))
        if args.keep_workdir:
            print(f"server logs and database in {workdir}", file=sys.stderr)
        else:
            cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
        database_url = args.database_url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        if not database_url.startswith("sqlite"):
            require_loopback(database_url)
        if args.own_redis:
            redis = RedisServer()
            cleanup.callback(redis.stop)
            args.redis_url = redis.start().url
        if args.redis_url:
            require_loopback(args.redis_url)
        if args.fresh_pg:
            name, database_url = create_pg_database(args.fresh_pg)
            cleanup.callback(drop_pg_database, args.fresh_pg, name)
        source = Path(args.source).resolve() if args.source else None
        cluster = Cluster(
            *(workdir, database_url, args.redis_url, args.nodes, args.workers),
            source=source,
            naive_broker=args.naive_broker,
        )
        cleanup.callback(cluster.stop)
        cluster.start()
        urls = cluster.urls
        half = max(1, (len(urls) + 1) // 2) if len(urls) > 1 else 1
        args.visitor_url = urls[:half]
        args.agent_url = urls[half:] or urls
        pids += cluster.pids
        ensure_space(database_url, args.space, cwd=workdir, source=source)
        args.agent_email, args.agent_password = create_agent(
            database_url, args.space, workdir, source=source
        )
        backend = "PostgreSQL" if database_url.startswith("postgresql") else "SQLite"
        broker = "Redis" if args.redis_url else "in-process broker"
        if args.naive_broker:
            broker += " (naive redis-py broker)"
        setup = f"{backend}, {broker}, {args.nodes} node(s) x {args.workers} worker(s), spawned"
        if source:
            setup += f" from {source}"
    else:
        if args.create_agent:
            args.agent_email, args.agent_password = create_agent(args.database_url, args.space)
        setup = f"visitors on {' '.join(args.visitor_url)}, agents on {' '.join(args.agent_url)}"
    plan = Plan(
        visitor_urls=[require_loopback(u) for u in args.visitor_url],
        agent_urls=[require_loopback(u) for u in args.agent_url],
        pairs=args.pairs,
        rate=args.rate,
        duration=args.duration,
        space=args.space,
        agent_email=args.agent_email,
        agent_password=args.agent_password,
        agent_sockets=args.agent_sockets,
        body_chars=args.body_chars,
        drain=args.drain,
        deflate=args.deflate,
    )
    return setup, plan, pids, cluster


if __name__ == "__main__":
    sys.exit(main())
