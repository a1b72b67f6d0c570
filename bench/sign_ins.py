"""A burst of sign-ins against a running server, and what it does to the sockets: the round
trip of a visitor's ping, measured every 10 ms before and during the burst.

    python bench/sign_ins.py --url http://127.0.0.1:8000 --sign-ins 120

Run the server with CAUSETTE_RATE_LIMITS=off (else the per-address limit refuses the
burst after 10), alone on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import httpx
import websockets


async def pings(ws_url: str, token: str, stop: asyncio.Event, out: list[float]) -> None:
    async with websockets.connect(f"{ws_url}/ws/visitor") as ws:
        await ws.send(json.dumps({"type": "hello", "token": token}))
        await ws.recv()
        while not stop.is_set():
            started = time.perf_counter()
            await ws.send('{"type":"ping"}')
            while json.loads(await ws.recv()).get("type") != "pong":
                pass
            out.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.01)


def summary(ms: list[float]) -> str:
    ms = sorted(ms)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"{len(ms)} pings, p50 {statistics.median(ms):.1f} / p99 {p99:.1f} / max {ms[-1]:.1f} ms"


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--sign-ins", type=int, default=120)
    a = p.parse_args()
    ws_url = a.url.replace("http", "ws", 1)
    async with httpx.AsyncClient(base_url=a.url, timeout=120) as http:
        token = (await http.post("/api/visitors", json={"space": "default"})).json()["token"]
        idle: list[float] = []
        stop = asyncio.Event()
        task = asyncio.create_task(pings(ws_url, token, stop, idle))
        await asyncio.sleep(2)
        stop.set()
        await task
        busy: list[float] = []
        stop = asyncio.Event()
        task = asyncio.create_task(pings(ws_url, token, stop, busy))
        started = time.perf_counter()
        await asyncio.gather(
            *(
                http.post(
                    "/api/agents/login",
                    json={"email": f"nobody-{i}@example.com", "password": "wrong password"},
                )
                for i in range(a.sign_ins)
            )
        )
        took = time.perf_counter() - started
        stop.set()
        await task
    print(f"idle: {summary(idle)}")
    print(f"during {a.sign_ins} concurrent sign-ins ({took:.1f} s): {summary(busy)}")


if __name__ == "__main__":
    asyncio.run(main())
