"""A first run that explains itself, and a ``serve`` that says in one line why it cannot.

``/`` leads to the console, whose sign-in page learns from the server that no agent exists
yet (and nothing else), in process. What only the process shows runs ``causette serve``: the
next steps printed on a terminal, and a bad setting, an unreachable database or a port in use
refused before anything says it is serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pty
import select
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.clirun import CAUSETTE, causette
from tests.conftest import new_agent
from tests.inproc import inprocess_app
from tests.servers import SECRET, free_port


async def test_the_root_leads_to_the_console(empty_database: str) -> None:
    async with inprocess_app(empty_database) as app:
        r = await app.http.get("/")
        assert r.status_code == 302 and r.headers["location"] == "/console"
        assert (await app.http.get(r.headers["location"])).status_code == 200


async def test_the_sign_in_page_learns_that_no_agent_exists_yet(empty_database: str) -> None:
    async with inprocess_app(empty_database) as app:
        first = await app.client("203.0.113.9").get("/api/setup")  # anyone may ask
        assert first.status_code == 200 and first.json() == {"has_agents": False}
        await new_agent(empty_database, role="admin")
        assert (await app.http.get("/api/setup")).json() == {"has_agents": True}

        script = (await app.http.get("/console/assets/app.js")).text
        assert '"/api/setup"' in script and 'showSignIn("", await noAgentYet())' in script
        assert "causette agent create --email you@example.com" in script
        assert "--role admin --password-stdin" in script
        strings = (await app.http.get("/console/assets/i18n.js")).text
        assert strings.count('"signin.noAgent"') == 2  # English and French


def _environ(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAUSETTE_")}
    env.update(CAUSETTE_DATABASE_URL=database_url, CAUSETTE_SECRET_KEY=SECRET)
    return env


def test_serve_on_a_terminal_prints_the_next_steps_of_a_first_run(tmp_path: Path) -> None:
    """On SQLite: what is read from the database is the same on both (test_cli_admin.py)."""
    port = free_port()
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [CAUSETTE, "serve", "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        cwd=tmp_path,
        env=_environ(f"sqlite+aiosqlite:///{tmp_path / 'causette.db'}"),
        start_new_session=True,
    )
    os.close(follower)
    seen = b""
    try:
        deadline = time.monotonic() + 30
        while b"causette serving on" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(leader, 4096)
                except OSError:  # the process is gone
                    break
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        os.close(leader)
    text = seen.decode(errors="replace").replace("\r\n", "\n")
    steps, serving = text.split("causette serving on", 1)
    assert serving.startswith(f" http://127.0.0.1:{port}"), text
    assert "No agent yet. Next steps:" in steps, text
    assert (
        f"echo 'a long passphrase' | {CAUSETTE} agent create --email you@example.com"
        " --name 'Your Name' --role admin --password-stdin"
    ) in steps
    assert f"http://127.0.0.1:{port}/console\n" in steps
    assert f"http://127.0.0.1:{port}/demo (no agent online yet" in steps


async def test_serve_refuses_in_one_line_before_saying_it_serves(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'causette.db'}"
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    secret = "s3cret-passw0rd"
    try:
        in_use, bad_setting, no_database = await asyncio.gather(
            causette("serve", "--port", str(port), database_url=url, cwd=tmp_path),
            causette(
                "serve", "--port", str(free_port()), database_url=url, cwd=tmp_path,
                env={"CAUSETTE_MAX_BODY_CHARS": "lots"},
            ),
            causette(
                "serve", "--port", str(free_port()), cwd=tmp_path,
                database_url=f"postgresql+asyncpg://causette:{secret}@127.0.0.1:1/causette",
            ),
        )  # fmt: skip
    finally:
        taken.close()
    for result, line in (
        (in_use, f"Error: port {port} on 127.0.0.1 is in use"),
        (
            bad_setting,
            "Error: Bad setting CAUSETTE_MAX_BODY_CHARS='lots': a whole number is needed",
        ),
        (
            no_database,
            "Error: cannot connect to the database"
            " postgresql+asyncpg://causette:***@127.0.0.1:1/causette: connection refused",
        ),
    ):
        assert result.code == 1, result.output
        assert result.stdout == "" and result.stderr == line + "\n", result.output
    assert secret not in no_database.output
