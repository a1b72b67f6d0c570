"""Running a deployment from the command line, in this process (click's CliRunner) on both
backends: ``agent list/update/reset-password/delete``, ``space show/delete``, their JSON, and
every wrong command line answered by click's usage error, exit 2, never a traceback.

What only a process shows (``serve``, its port and settings) is in tests/chat/test_first_run.py.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from agents.accounts import authenticate
from agents.models import goal_events, notes, team_members, teams
from chat.clock import utcnow
from chat.db import Database
from chat.errors import BadCredentials, BadToken
from chat.models import visitors
from chat.store import Store
from tests.agents.seeding import seed_conversation
from tests.clirun import Cli, ok, one_line_error
from tests.rows import fetch

PASSWORD = "correct horse battery staple"


def sign_in(url: str, email: str, password: str) -> str:
    """The agent's id, or BadCredentials."""

    async def go() -> str:
        db = Database(url)
        try:
            account = await authenticate(
                db, email, password, client="127.0.0.1", secret=b"k" * 32,
                max_failures=100, lock_seconds=60,
            )  # fmt: skip
            return account.id
        finally:
            await db.dispose()

    return asyncio.run(go())


def session_works(url: str, agent_id: str, token_version: int) -> bool:
    """Whether a session or token of that version still passes (chat/store.py)."""

    async def go() -> bool:
        db = Database(url)
        store = Store(db)
        try:
            await store.agent_principal(agent_id, token_version)
            return True
        except BadToken:
            return False
        finally:
            await store.close()
            await db.dispose()

    return asyncio.run(go())


def rows(url: str, sql: str, **params: Any) -> list[Any]:
    return asyncio.run(fetch(url, sql, **params))


def insert(url: str, table: sa.Table, **values: Any) -> None:
    """One row, behind the commands' back."""

    async def go() -> None:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(table.insert().values(**values))
        finally:
            await engine.dispose()

    asyncio.run(go())


def create_agent(
    run: Cli, email: str, *, role: str = "relation", spaces: tuple[str, ...] = ()
) -> None:
    args = ["agent", "create", "--email", email, "--name", "Ann", "--role", role]
    for key in spaces:
        args += ["--space", key]
    ok(run(*args, "--password-stdin", stdin=PASSWORD + "\n"))


def space_id(url: str, key: str) -> str:
    return str(rows(url, "SELECT id FROM spaces WHERE key = :k", k=key)[0].id)


def agent_row(url: str, agent_id: str) -> Any:
    return rows(url, "SELECT * FROM agents WHERE id = :a", a=agent_id)[0]


def test_agents_are_listed_and_updated(cli: Callable[[str], Cli], empty_database: str) -> None:
    run = cli(empty_database)
    assert ok(run("agent", "list")).splitlines() == ["EMAIL\tNAME\tROLE\tSPACES\tSTATUS\tMAX_CHATS"]
    assert json.loads(ok(run("agent", "list", "--json"))) == []
    create_agent(run, "Ann@Example.com", role="admin")
    ok(run("space", "create", "retail", "--name", "Retail"))

    said = ok(
        run(
            "agent", "update", "ann@example.com", "--name", "Ann B", "--role", "relation",
            "--add-space", "retail", "--max-chats", "2",
        )
    )  # fmt: skip
    assert said == "agent ann@example.com updated: Ann B, relation in default, retail, active\n"
    [listed] = json.loads(ok(run("agent", "list", "--json")))
    assert set(listed) == {
        "id", "email", "name", "role", "spaces", "disabled", "max_chats", "created_at",
    }  # fmt: skip
    assert listed["email"] == "ann@example.com"
    assert (listed["name"], listed["role"], listed["max_chats"]) == ("Ann B", "relation", 2)
    assert listed["spaces"] == ["default", "retail"] and listed["disabled"] is False

    table = ok(run("agent", "list", "--space", "retail")).splitlines()
    assert table[1].split("\t") == [
        "ann@example.com", "Ann B", "relation", "default,retail", "active", "2",
    ]  # fmt: skip
    ok(run("agent", "update", "ann@example.com", "--remove-space", "retail"))
    assert ok(run("agent", "list", "--space", "retail")).count("\n") == 1  # the header only
    one_line_error(run("agent", "list", "--space", "nope"), code=1, expect="No such space: nope")
    one_line_error(
        run("agent", "update", "nobody@example.com", "--name", "X"),
        code=1,
        expect="No agent has the email nobody@example.com",
    )


def test_a_disabled_agent_cannot_sign_in_and_its_sessions_end(
    cli: Callable[[str], Cli], empty_database: str
) -> None:
    run = cli(empty_database)
    create_agent(run, "ann@example.com")
    agent_id = sign_in(empty_database, "ann@example.com", PASSWORD)
    version = agent_row(empty_database, agent_id).token_version
    now = utcnow()
    default = space_id(empty_database, "default")
    said = [("visitor", now - timedelta(minutes=5)), ("agent", now - timedelta(minutes=4))]
    open_id = asyncio.run(seed_conversation(empty_database, default, said, agent_id=agent_id))
    done_id = asyncio.run(
        seed_conversation(empty_database, default, said, agent_id=agent_id, resolved=now)
    )

    out = ok(run("agent", "update", "ann@example.com", "--disable"))
    assert out.endswith("disabled; 1 open conversation back in the queue\n"), out
    with pytest.raises(BadCredentials):
        sign_in(empty_database, "ann@example.com", PASSWORD)
    assert not session_works(empty_database, agent_id, version)
    assert not session_works(
        empty_database, agent_id, agent_row(empty_database, agent_id).token_version
    )
    assigned = {
        r.id: r.assignee_id
        for r in rows(empty_database, "SELECT id, assignee_id FROM conversations")
    }
    assert assigned == {open_id: None, done_id: agent_id}  # the queue; history stays
    listed = json.loads(ok(run("agent", "list", "--json")))
    assert listed[0]["disabled"] is True

    ok(run("agent", "update", "ann@example.com", "--enable"))
    assert sign_in(empty_database, "ann@example.com", PASSWORD) == agent_id


def test_a_password_reset_follows_the_policy_and_ends_the_sessions(
    cli: Callable[[str], Cli], empty_database: str
) -> None:
    run = cli(empty_database)
    create_agent(run, "ann@example.com")
    agent_id = sign_in(empty_database, "ann@example.com", PASSWORD)
    version = agent_row(empty_database, agent_id).token_version
    reset = ("agent", "reset-password", "ann@example.com", "--password-stdin")

    one_line_error(run(*reset, stdin="password1234\n"), code=1, expect="too easy to guess")
    one_line_error(run(*reset, stdin="short\n"), code=1, expect="at least 10 characters")
    one_line_error(run(*reset, stdin=PASSWORD + "\n"), code=1, expect="the current one")
    assert session_works(empty_database, agent_id, version)  # nothing changed so far

    new = "violet kettle drums at noon"
    said = ok(run(*reset, stdin=new + "\n"))
    assert said == "password of ann@example.com reset; its sessions have ended\n"
    assert new not in said
    assert not session_works(empty_database, agent_id, version)
    with pytest.raises(BadCredentials):
        sign_in(empty_database, "ann@example.com", PASSWORD)
    assert sign_in(empty_database, "ann@example.com", new) == agent_id


def test_a_deleted_agent_leaves_its_name_in_the_history(
    cli: Callable[[str], Cli], empty_database: str
) -> None:
    run = cli(empty_database)
    create_agent(run, "ann@example.com")
    agent_id = sign_in(empty_database, "ann@example.com", PASSWORD)
    version = agent_row(empty_database, agent_id).token_version
    default = space_id(empty_database, "default")
    now = utcnow()
    said = [("visitor", now - timedelta(minutes=5)), ("agent", now - timedelta(minutes=4))]
    conv = asyncio.run(seed_conversation(empty_database, default, said, agent_id=agent_id))
    team = str(uuid.uuid4())
    insert(empty_database, teams, id=team, space_id=default, name="Sales", created_at=now)
    insert(empty_database, team_members, team_id=team, agent_id=agent_id)
    insert(
        empty_database, notes,
        conversation_id=conv, space_id=default, author_id=agent_id, body="a note", created_at=now,
    )  # fmt: skip

    out = ok(run("agent", "delete", "ann@example.com"))
    assert out == (
        "agent ann@example.com deleted (history keeps the name Ann);"
        " 1 open conversation back in the queue\n"
    )
    row = agent_row(empty_database, agent_id)
    assert row.name == "Ann" and row.deleted_at is not None
    assert "ann" not in row.email and row.disabled
    # what history shows still finds the agent's name
    authors = rows(
        empty_database,
        "SELECT a.name FROM messages m JOIN agents a ON a.id = m.author_id"
        " WHERE m.author_kind = 'agent' UNION ALL"
        " SELECT a.name FROM notes n JOIN agents a ON a.id = n.author_id",
    )
    assert [r.name for r in authors] == ["Ann", "Ann"]
    assert rows(empty_database, "SELECT assignee_id, status FROM conversations")[0] == (
        None,
        "open",
    )
    memberships = "SELECT agent_id FROM agent_spaces UNION ALL SELECT agent_id FROM team_members"
    assert rows(empty_database, memberships) == []
    assert not session_works(empty_database, agent_id, version)
    with pytest.raises(BadCredentials):
        sign_in(empty_database, "ann@example.com", PASSWORD)
    assert ok(run("agent", "list")).count("\n") == 1  # not listed
    one_line_error(run("agent", "delete", "ann@example.com"), code=1, expect="No agent has")
    create_agent(run, "ann@example.com")  # the email is free again: a new account
    assert sign_in(empty_database, "ann@example.com", PASSWORD) != agent_id


def test_a_space_is_shown_and_deleted_with_what_it_holds(
    cli: Callable[[str], Cli], empty_database: str
) -> None:
    run = cli(empty_database)
    url = empty_database
    ok(run("space", "create", "retail", "--name", "Retail", "--origin", "https://shop.example"))
    create_agent(run, "ann@example.com", spaces=("retail",))
    agent_id = sign_in(url, "ann@example.com", PASSWORD)
    retail, default = space_id(url, "retail"), space_id(url, "default")
    now = utcnow()
    said = [("visitor", now - timedelta(minutes=5)), ("agent", now - timedelta(minutes=4))]
    conv = asyncio.run(
        seed_conversation(url, retail, said, agent_id=agent_id, resolved=now, csat=5, tags=("vip",))
    )
    kept = asyncio.run(seed_conversation(url, default, said))
    visitor = rows(url, "SELECT visitor_id FROM conversations WHERE id = :c", c=conv)[0][0]
    insert(
        url, notes,
        conversation_id=conv, space_id=retail, author_id=agent_id, body="a note", created_at=now,
    )  # fmt: skip
    insert(url, goal_events, space_id=retail, visitor_id=visitor, name="purchase", at=now)
    insert(url, visitors, id=str(uuid.uuid4()), space_id=retail, created_at=now)

    shown = json.loads(ok(run("space", "show", "retail", "--json")))
    assert (shown["key"], shown["name"], shown["origins"]) == (
        "retail",
        "Retail",
        ["https://shop.example"],
    )
    assert (shown["agents"], shown["visitors"]) == (1, 2)
    assert shown["conversations"] == {"open": 0, "resolved": 1}
    assert {"identity_mode", "prechat", "time_zone", "csat", "created_at"} <= set(shown)
    secret = rows(url, "SELECT identity_secret FROM spaces WHERE key = 'retail'")[0][0]
    table = ok(run("space", "show", "retail"))
    assert "identity_secret" not in shown and secret not in table
    assert "origins\thttps://shop.example\n" in table
    one_line_error(run("space", "show", "nope"), code=1, expect="No such space: nope")

    refused = run("space", "delete", "retail", "--confirm", "retail")
    one_line_error(refused, code=1, expect="holds 1 conversation(s)")
    out = ok(run("space", "delete", "retail", "--confirm", "retail", "--purge"))
    assert out == "space retail deleted, with 1 conversation\n"
    for table_name in (
        "spaces", "space_origins", "agent_spaces", "visitors", "conversations", "messages",
        "notes", "goal_events", "csat_ratings",
    ):  # fmt: skip
        column = "id" if table_name == "spaces" else "space_id"
        left = rows(url, f"SELECT count(*) FROM {table_name} WHERE {column} = :s", s=retail)
        assert left[0][0] == 0, table_name
    assert rows(url, "SELECT count(*) FROM conversation_tags")[0][0] == 0
    assert [r.id for r in rows(url, "SELECT id FROM conversations")] == [kept]
    assert agent_row(url, agent_id).name == "Ann"  # in no space now, but still there

    # a space with visitors but no conversation goes without --purge
    ok(run("space", "create", "quiet", "--name", "Quiet"))
    quiet = space_id(url, "quiet")
    insert(url, visitors, id=str(uuid.uuid4()), space_id=quiet, created_at=now)
    assert ok(run("space", "delete", "quiet", "--confirm", "quiet")) == "space quiet deleted\n"
    assert [r.key for r in rows(url, "SELECT key FROM spaces")] == ["default"]


USAGE_ERRORS: list[tuple[list[str], str]] = [
    (["agent", "update", "ann@example.com"], "nothing to update: give at least one option"),
    (["space", "update", "default"], "nothing to update: give at least one option"),
    (["agent", "update", "ann@example.com", "--add-space", "a", "--remove-space", "a"],
     "--add-space and --remove-space both name a"),
    (["agent", "update", "ann@example.com", "--role", "boss"], "--role"),
    (["agent", "update", "ann@example.com", "--max-chats", "500"], "--max-chats"),
    (["agent", "list", "--bogus"], "No such option '--bogus'"),
    (["agent", "delete"], "Missing argument 'EMAIL'"),
    (["agent", "reset-password", "ann@example.com"], "--password-stdin"),
    (["space", "show"], "Missing argument 'KEY'"),
    (["space", "delete", "default"], "Missing option '--confirm'"),
    (["space", "delete", "default", "--confirm", "retail"],
     "Invalid value for --confirm: must repeat the space's key, default"),
]  # fmt: skip


def test_a_wrong_command_line_is_a_usage_error(cli: Callable[[str], Cli], tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    run = cli(url)
    create_agent(run, "ann@example.com")
    for args, expect in USAGE_ERRORS:
        try:
            one_line_error(run(*args), code=2, expect=expect)
        except AssertionError as exc:
            raise AssertionError(f"{' '.join(args)}: {exc}") from None
    assert [r.key for r in rows(url, "SELECT key FROM spaces")] == ["default"]
    assert len(json.loads(ok(run("agent", "list", "--json")))) == 1


def test_bad_settings_and_databases_are_named_in_one_line(
    cli: Callable[[str], Cli], tmp_path: Path
) -> None:
    run = cli(f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    line = one_line_error(
        run("space", "list", env={"CAUSETTE_MAX_BODY_CHARS": "lots"}), code=1, expect=""
    )
    assert line == "Error: Bad setting CAUSETTE_MAX_BODY_CHARS='lots': a whole number is needed"
    line = one_line_error(
        run("agent", "list", env={"CAUSETTE_CONSOLE_ORIGINS": "https://a.example"}),
        code=1,
        expect="CAUSETTE_CONSOLE_ORIGINS='https://a.example': not valid JSON",
    )
    one_line_error(
        run("agent", "list", env={"CAUSETTE_RATE_LIMITS": "maybe"}),
        code=1,
        expect="CAUSETTE_RATE_LIMITS='maybe': expected 'on' or 'off'",
    )
    secret = "s3cret-passw0rd"
    line = one_line_error(
        run(
            "agent", "list",
            env={"CAUSETTE_DATABASE_URL": f"postgresql+asyncpg://causette:{secret}@127.0.0.1:1/x"},
        ),
        code=1,
        expect="cannot connect to the database postgresql+asyncpg://causette:***@127.0.0.1:1/x",
    )  # fmt: skip
    assert secret not in line and "connection refused" in line
