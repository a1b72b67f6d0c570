"""``causette key create|list|revoke`` in this process (click's CliRunner), on both backends: the
key printed once and working against the app (same secret), its JSON, the list without the
secret, revocation, the audit entries with the command line as actor, and every wrong command
line answered in one line (usage errors exit 2, what the database refuses exit 1)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest

from tests.clirun import Cli, ok, one_line_error
from tests.inproc import inprocess_app
from tests.rows import fetch


@pytest.fixture
def run(cli: Callable[[str], Cli], empty_database: str) -> Cli:
    """The command, in this process, on a new database of each backend."""
    return cli(empty_database)


def _status(url: str, key: str) -> int:
    """What the app (with the same secret) answers a request made with the key."""

    async def go() -> int:
        async with inprocess_app(url) as app:
            http = app.client("127.0.0.1")
            r = await http.get("/api/inbox/counts", headers={"authorization": f"Bearer {key}"})
            return r.status_code

    return asyncio.run(go())


def _audit(url: str) -> list[tuple[str, str, str]]:
    rows = asyncio.run(
        fetch(
            url,
            "SELECT action, actor_kind, target_id FROM audit_entries"
            " WHERE action LIKE 'api_key.%' ORDER BY id",
        )
    )
    return [(r.action, r.actor_kind, r.target_id) for r in rows]


def test_a_key_is_made_listed_and_revoked(run: Cli, empty_database: str) -> None:
    scopes = ("--scope", "conversations:read", "--scope", "messages:write")
    made = run(
        "key", "create", "--space", "default", "--name", "CRM", *scopes, "--expires-days", "7"
    )
    key = ok(made).strip()
    assert key.startswith("cst_") and "\n" not in key
    assert "not shown again" in made.stderr
    assert _status(empty_database, key) == 200

    as_json = json.loads(ok(run("key", "create", "--space", "default", "--name", "Robot",
                                "--scope", "audit:read", "--json")))  # fmt: skip
    assert as_json["key"].startswith("cst_") and as_json["scopes"] == ["audit:read"]
    assert as_json["created_by"].startswith("command line (")

    listed = json.loads(ok(run("key", "list", "--json")))
    assert [k["name"] for k in listed] == ["Robot", "CRM"]  # newest first
    assert key not in json.dumps(listed) and as_json["key"] not in json.dumps(listed)
    crm = listed[1]
    assert crm["scopes"] == ["conversations:read", "messages:write"]
    assert crm["status"] == "active" and crm["last_used_at"] is not None
    table = ok(run("key", "list", "--space", "default")).splitlines()
    assert len(table) == 3 and table[2].split("\t")[:5] == [
        crm["id"], "default", "CRM", "conversations:read,messages:write", "active",
    ]  # fmt: skip

    said = ok(run("key", "revoke", crm["id"]))
    assert said.startswith(f"revoked {crm['id']} (CRM) at ")
    assert _status(empty_database, key) == 401
    assert json.loads(ok(run("key", "list", "--json")))[1]["status"] == "revoked"
    assert _audit(empty_database) == [
        ("api_key.create", "system", crm["id"]),
        ("api_key.create", "system", as_json["id"]),
        ("api_key.revoke", "system", crm["id"]),
    ]


def test_wrong_command_lines_are_one_line(run: Cli) -> None:
    base = ("key", "create", "--space", "default", "--name", "X")
    one_line_error(run(*base), code=2, expect="--scope")
    one_line_error(run(*base, "--scope", "everything"), code=2, expect="everything")
    one_line_error(run(*base, "--scope", "audit:read", "--expires-days", "0"), code=2,
                   expect="--expires-days")  # fmt: skip
    one_line_error(run(*base, "--scope", "audit:read", "--expires-days", "366"), code=2,
                   expect="--expires-days")  # fmt: skip
    one_line_error(run("key", "create", "--space", "default", "--name", " ", "--scope",
                       "audit:read"), code=2, expect="--name")  # fmt: skip
    one_line_error(run("key", "revoke"), code=2, expect="ID")
    one_line_error(run("key", "create", "--space", "nope", "--name", "X", "--scope",
                       "audit:read"), code=1, expect="No such space: nope")  # fmt: skip
    one_line_error(run("key", "list", "--space", "nope"), code=1, expect="No such space: nope")
    one_line_error(run("key", "revoke", "no-such-key"), code=1, expect="No such API key")
