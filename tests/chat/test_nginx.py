"""Behind nginx: Debian's nginx runs docs/nginx.conf.example, the deployment guide's own file
(only its ports, upstream addresses and certificate paths replaced), in front of two nodes."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.cluster import Peer, start_nodes
from tests.conftest import new_agent
from tests.servers import REDIS_URL, ServerProcess, create_pg_database, drop_pg_database, free_port
from tests.services import NginxProcess

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "nginx.conf.example"
SITE = "https://chat.example.com"
HOST = "chat.example.com"


def site_config(nodes: list[ServerProcess], http_port: int, https_port: int, cert: Path) -> str:
    """The documented file with what differs on a test machine replaced, each exactly once."""
    text = EXAMPLE.read_text()
    replacements = {
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen 443 ssl;": f"listen 127.0.0.1:{https_port} ssl;",
        "server 127.0.0.1:8001 ": f"server 127.0.0.1:{nodes[0].port} ",
        "server 127.0.0.1:8002 ": f"server 127.0.0.1:{nodes[1].port} ",
        "/etc/letsencrypt/live/chat.example.com/fullchain.pem": str(cert / "cert.pem"),
        "/etc/letsencrypt/live/chat.example.com/privkey.pem": str(cert / "key.pem"),
    }
    for old, new in replacements.items():
        assert text.count(old) == 1, f"docs/nginx.conf.example no longer has {old!r} once"
        text = text.replace(old, new)
    return text


def self_signed(directory: Path) -> ssl.SSLContext:
    """A certificate for chat.example.com (and 127.0.0.1), and a client context trusting it."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", f"/CN={HOST}",
            "-addext", f"subjectAltName=DNS:{HOST},IP:127.0.0.1",
            "-keyout", str(directory / "key.pem"), "-out", str(directory / "cert.pem"),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    return ssl.create_default_context(cafile=str(directory / "cert.pem"))


@pytest.fixture(scope="module")
def nginx_binary() -> str:
    """Debian's nginx; installed here if missing, as .ci/run does."""
    found = shutil.which("nginx") or (Path("/usr/sbin/nginx").exists() and "/usr/sbin/nginx")
    if not found:
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "nginx-light"],
            check=True,
            capture_output=True,
            timeout=300,
        )
        found = shutil.which("nginx") or "/usr/sbin/nginx"
    return str(found)


@pytest.fixture
def database() -> Iterator[str]:
    name, url = create_pg_database()
    yield url
    drop_pg_database(name)


async def connect(
    https_port: int, ctx: ssl.SSLContext, path: str, token: str, **kwargs: Any
) -> Peer:
    """A socket as a browser on the site opens it: wss://chat.example.com, Origin the site."""
    client = await Peer.connect(
        f"wss://{HOST}:{https_port}",
        path,
        token,
        ssl=ctx,
        host="127.0.0.1",
        port=https_port,
        origin=SITE,
        **kwargs,
    )
    assert isinstance(client, Peer)
    return client


async def answers(peer: Peer) -> bool:
    """Whether the socket still answers a ping (False once it is closed)."""

    def pongs() -> int:
        return sum(f["type"] == "pong" for f in peer.frames)

    before = pongs()
    try:
        await peer.send({"type": "ping"})
        await peer.until(lambda: pongs() > before, "pong", 10.0)
    except (AssertionError, websockets.ConnectionClosed):
        return False
    return True


async def test_a_conversation_through_nginx_in_front_of_two_nodes(
    nginx_binary: str, database: str, tmp_path: Path
) -> None:
    """Figures: through the documented config, HTTP gets a 301 to HTTPS; a visitor token
    and an agent sign-in over HTTPS; WebSocket upgrades (101) for both; messages and typing
    both ways; a foreign Origin refused (403); requests spread over both nodes; after one
    node is SIGKILLed, a visitor reconnecting through nginx is served by the other node
    and resumes with nothing lost."""
    nodes = start_nodes(2, database, REDIS_URL, tmp_path, env={"CAUSETTE_PUBLIC_URL": SITE})
    http_port, https_port = free_port(), free_port()
    ctx = self_signed(tmp_path / "tls")
    nginx = NginxProcess(
        tmp_path / "nginx",
        site_config(nodes, http_port, https_port, tmp_path / "tls"),
        ports=(http_port, https_port),
        binary=nginx_binary,
    )
    peers: list[Peer] = []
    try:
        nginx.start()
        base = f"https://127.0.0.1:{https_port}"
        headers = {"Host": HOST, "Origin": SITE}
        async with httpx.AsyncClient(verify=ctx) as http:
            plain = await http.get(f"http://127.0.0.1:{http_port}/healthz", headers={"Host": HOST})
            assert plain.status_code == 301
            assert plain.headers["location"] == f"https://{HOST}/healthz"

            r = await http.post(f"{base}/api/visitors", json={"space": "default"}, headers=headers)
            assert r.status_code == 201, r.text
            visitor_tok = r.json()["token"]
            email, password = await new_agent(database)
            r = await http.post(
                f"{base}/api/agents/login",
                json={"email": email, "password": password},
                headers=headers,
            )
            assert r.status_code == 200, r.text
            agent_tok = r.json()["token"]

        visitor = await connect(https_port, ctx, "/ws/visitor", visitor_tok)
        agent = await connect(https_port, ctx, "/ws/agent", agent_tok)
        peers += [visitor, agent]
        ack = await visitor.say("Hello through the proxy")
        conversation_id = ack["conversation_id"]
        await agent.expect("message", client_id=ack["client_id"])
        await visitor.send({"type": "typing", "conversation_id": conversation_id})
        await agent.expect("typing", conversation_id=conversation_id)
        reply = await agent.say("Hello back", conversation_id=conversation_id)
        await visitor.expect("message", client_id=reply["client_id"])

        with pytest.raises(websockets.InvalidStatus) as refused:
            await Peer.connect(
                f"wss://{HOST}:{https_port}",
                "/ws/visitor",
                visitor_tok,
                ssl=ctx,
                host="127.0.0.1",
                port=https_port,
                origin="https://evil.example",
            )
        assert refused.value.response.status_code == 403

        # one node dies; whoever it held comes back through nginx, to the other node
        await visitor.close()
        nodes[0].kill()
        agent_survived = await answers(agent)
        if not agent_survived:
            last = max(*agent.seqs(conversation_id), reply["seq"])
            agent = await connect(
                https_port, ctx, "/ws/agent", agent_tok, resume={conversation_id: last}
            )
            peers.append(agent)
        while_down = await agent.say("Are you still there?", conversation_id=conversation_id)
        back = await connect(
            https_port, ctx, "/ws/visitor", visitor_tok, resume={conversation_id: reply["seq"]}
        )
        peers.append(back)
        got = await back.expect("message", client_id=while_down["client_id"])
        assert got["seq"] == reply["seq"] + 1
        again = await back.say("Yes!", conversation_id=conversation_id)
        await agent.expect("message", client_id=again["client_id"])
        assert back.seqs(conversation_id) == [got["seq"]]
        for peer in peers:  # the resumed visitor last: its upgrade is logged last
            if peer is not back:
                await peer.close()
        await back.close()
        peers = []

        log = nginx.access_log()
        upgrades = [row for row in log if row[1].startswith("/ws/") and row[2] == "101"]
        used = {addr.rstrip(",") for row in log for addr in row[3:] if addr != "-"}
        print(
            f"\nnginx: {len(log)} requests, {len(upgrades)} WebSocket upgrades, upstreams"
            f" {sorted(used)}; agent socket survived the node's death: {agent_survived}"
        )
        assert len(upgrades) >= 3
        assert {f"127.0.0.1:{n.port}" for n in nodes} <= used
        # the last socket was opened after node A died: nginx sent it to node B
        assert upgrades[-1][-1] == f"127.0.0.1:{nodes[1].port}"
    finally:
        for peer in peers:
            await peer.close()
        nginx.stop()
        for node in nodes:
            node.stop()
