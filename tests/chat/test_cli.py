"""The ``causette`` command: spaces and agents created as an operator would, and every bad
argument or failure answered by one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agents.accounts import authenticate
from chat.db import Database, migrate
from tests.clirun import Result, causette
from tests.rows import fetch


def assert_one_line_failure(result: Result, *, expect: str) -> None:
    """Non-zero, no traceback, nothing on stdout, and the error in one ``Error:`` line on
    stderr (after click's two usage lines when the command line itself is wrong)."""
    assert result.code != 0, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    assert lines[-1] == errors[0]
    if result.code == 2:  # a usage error: click's "Usage:" and "Try ... --help" lines first
        assert len(lines) == 3 and lines[0].startswith("Usage: "), result.stderr
    else:
        assert len(lines) == 1, result.stderr
    assert expect.lower() in errors[0].lower(), errors[0]


async def test_spaces_and_agents_are_created_from_the_command_line(tmp_path: Path) -> None:
    """On SQLite: what the commands do to the database runs on PostgreSQL in the server tests."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    created = await causette(
        "space", "create", "retail", "--name", "Retail", "--origin", "https://shop.example",
        database_url=url,
    )  # fmt: skip
    assert created.code == 0, created.output
    updated = await causette(
        "space", "update", "retail", "--name", "Retail shops", database_url=url
    )
    assert updated.code == 0, updated.output
    listed = await causette("space", "list", database_url=url)
    assert listed.code == 0, listed.output
    rows = {line.split("\t")[0]: line.split("\t") for line in listed.stdout.splitlines()}
    assert set(rows) == {"default", "retail"}
    assert rows["retail"][1:3] == ["Retail shops", "https://shop.example"]

    password = "a long enough password"
    agent = await causette(
        "agent", "create", "--email", "Ann@Example.com", "--name", "Ann", "--role", "relation",
        "--space", "retail", "--space", "default", "--password-stdin",
        database_url=url, stdin=password + "\n",
    )  # fmt: skip
    assert agent.code == 0, agent.output
    assert password not in agent.output
    found = await fetch(
        url,
        "SELECT a.role, a.password_hash, s.key FROM agents a"
        " JOIN agent_spaces m ON m.agent_id = a.id JOIN spaces s ON s.id = m.space_id"
        " WHERE a.email = 'ann@example.com' ORDER BY s.key",
    )
    assert [(r.role, r.key) for r in found] == [("relation", "default"), ("relation", "retail")]
    assert found[0].password_hash.startswith("$argon2id$")
    assert password not in found[0].password_hash

    db = Database(url)
    try:
        account = await authenticate(
            db,
            "ann@example.com",
            password,
            client="127.0.0.1",
            secret=b"k" * 32,
            max_failures=5,
            lock_seconds=60,
        )
    finally:
        await db.dispose()
    assert account.name == "Ann"


BAD_COMMANDS: list[tuple[str, list[str], str, dict[str, str]]] = [
    # (name, arguments, part of the error line, environment)
    (
        "unknown role",
        ["agent", "create", "--email", "a@example.com", "--name", "A", "--role", "boss",
         "--password-stdin"],
        "--role",
        {},
    ),
    ("bad space key", ["space", "create", "Bad Key!", "--name", "X"], "space key", {}),
    (
        "agent in an unknown space",
        ["agent", "create", "--email", "a@example.com", "--name", "A", "--role", "admin",
         "--space", "nope", "--password-stdin"],
        "no such space",
        {},
    ),
    (
        "a guessable password",
        ["agent", "create", "--email", "b@example.com", "--name", "B", "--role", "admin",
         "--password-stdin"],
        "too easy to guess",
        {"STDIN": "password1234"},
    ),
    (
        "a bad rate limit",
        ["space", "list"],
        "CAUSETTE_LIMIT_SIGN_INS",
        {"CAUSETTE_LIMIT_SIGN_INS": "lots"},
    ),
    (
        "export of an unknown space",
        ["export", "--format", "csv", "--out", "{tmp}/x.csv", "--space", "nope"],
        "no such space",
        {},
    ),
    (
        "bad --since",
        ["export", "--format", "csv", "--out", "{tmp}/x.csv", "--since", "yesterday"],
        "--since",
        {},
    ),
    ("bad --format", ["export", "--format", "xml", "--out", "{tmp}/x.csv"], "--format", {}),
    ("unknown database driver", ["migrate"], "nonsense", {"CAUSETTE_DATABASE_URL": "nonsense://x"}),
    (
        "unreachable database",
        ["space", "list"],
        "connect",
        {"CAUSETTE_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:1/causette"},
    ),
]  # fmt: skip


def csv_files(folder: Path) -> list[Path]:
    return list(folder.glob("**/*.csv"))


async def test_bad_arguments_get_one_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    await asyncio.to_thread(migrate, url)

    async def run(args: list[str], env: dict[str, str]) -> Result:
        return await causette(
            *[a.replace("{tmp}", str(tmp_path)) for a in args],
            database_url=url,
            env={k: v for k, v in env.items() if k != "STDIN"},
            stdin=env.get("STDIN", "a long enough password") + "\n",
        )

    results = await asyncio.gather(*(run(args, env) for _, args, _, env in BAD_COMMANDS))
    for (name, _, expect, _), result in zip(BAD_COMMANDS, results, strict=True):
        try:
            assert_one_line_failure(result, expect=expect)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None
    assert csv_files(tmp_path) == []
    # nothing was created by the failed commands
    assert [r.key for r in await fetch(url, "SELECT key FROM spaces")] == ["default"]
    assert (await fetch(url, "SELECT count(*) AS n FROM agents"))[0].n == 0
