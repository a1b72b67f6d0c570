"""API keys, in process on SQLite and PostgreSQL: made by an admin of the space and shown once
(the table keeps a keyed hash only), scopes that let a key in or answer 403 missing_scope,
unknown, expired and revoked keys answered 401 (a revocation on the very next request of
another app on the same database), the last use written at most once a minute, another
space's things "not found", the audit of what is made, revoked and done with a key, and
every operation's scopes against the OpenAPI document and the routes served.

(Every route a key reaches, aimed at another space's ids: tests/agents/test_separation.py.
The command line: tests/test_cli_keys.py.)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from datetime import timedelta
from typing import Any

import pytest
from openapi_spec_validator import validate
from starlette.routing import Route

from agents.apikeys import KeyPrincipal, check_scopes
from agents.models import api_keys
from agents.scopes import SCOPES, SESSION_ONLY
from agents.services import OPS
from agents.web import STATIC
from causette.app import routes
from chat.audit_verify import verify
from chat.clock import parse_iso, utcnow
from chat.db import Database
from chat.errors import MissingScope
from chat.tokens import TokenSigner
from tests.agents.consoleclient import ConsoleAgent, KeyClient, space_with_agents
from tests.agents.test_campaigns_api import BODY as CAMPAIGN
from tests.inproc import App, inprocess_app
from tests.privacy_seed import Life, live, space_id
from tests.rows import fetch
from tests.servers import SECRET

pytestmark = pytest.mark.asyncio(loop_scope="module")

# served under /api/ but not REST operations of the table: the document itself, the agent
# socket's token for other clients (an email and a password, never a key), and the widget's
CALLED_OTHERWISE = {
    ("GET", "/api/openapi.json"),
    ("POST", "/api/agents/login"),
    ("POST", "/api/visitors"),
    ("GET", "/api/spaces/{key}/status"),
}


async def _life(app: App, space: str) -> Life:
    db = Database(app.database_url)
    try:
        return await live(db, await space_id(db, space), utcnow())
    finally:
        await db.dispose()


async def _make(admin: ConsoleAgent, space: str, *scopes: str, **extra: Any) -> dict[str, Any]:
    body = {"space": space, "name": extra.pop("name", "CRM sync"), "scopes": list(scopes)}
    r = await admin.call("POST", "/api/keys", {**body, **extra})
    assert r.status_code == 201, r.text
    return dict(r.json())


def _key(app: App, made: dict[str, Any], address: str = "127.0.0.1") -> KeyClient:
    return KeyClient(app.client(address), made["key"])


async def _row(app: App, key_id: str) -> Any:
    [row] = await fetch(app.database_url, "SELECT * FROM api_keys WHERE id = :i", i=key_id)
    return row


async def _set(app: App, key_id: str, **values: Any) -> None:
    """Change a key's row behind the app's back (time passing)."""
    db = Database(app.database_url)
    try:
        async with db.write() as conn:
            await conn.execute(api_keys.update().where(api_keys.c.id == key_id).values(**values))
    finally:
        await db.dispose()


def _error(r: Any, status: int, code: str) -> str:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.json()["error"]["code"] == code, r.text
    return str(r.json()["error"]["message"])


async def test_a_key_is_shown_once_and_only_its_keyed_hash_is_kept(inproc: App) -> None:
    async with space_with_agents(inproc, "admin", "relation") as (space, [admin, relation]):
        r = await admin.call(
            "POST",
            "/api/keys",
            {"space": space, "name": "CRM sync", "scopes": ["audit:read", "messages:write"]},
        )
        assert r.status_code == 201, r.text
        assert r.headers["cache-control"] == "no-store"
        made = r.json()
        secret = made["key"]
        assert secret.startswith("cst_") and len(secret) >= 4 + 43
        assert made["space"] == space and made["name"] == "CRM sync"
        assert made["scopes"] == ["messages:write", "audit:read"]  # the table's order
        assert made["status"] == "active" and made["created_by"] == "Admin 0"
        expires = parse_iso(made["expires_at"]) - parse_iso(made["created_at"])
        assert expires == timedelta(days=90)  # the default

        listed = await admin.ok("GET", "/api/keys")
        [shown] = [k for k in listed["keys"] if k["id"] == made["id"]]
        assert set(shown) == {
            "id", "name", "space", "scopes", "created_at", "created_by", "expires_at",
            "last_used_at", "last_used_ip", "revoked_at", "status",
        }  # fmt: skip
        assert secret not in json.dumps(listed) and secret[4:20] not in json.dumps(listed)

        row = await _row(inproc, made["id"])
        derived = TokenSigner(SECRET, visitor_ttl=60, agent_ttl=60).derived_key("api_key")
        expected = hmac.new(derived, secret.encode(), hashlib.sha256).hexdigest()
        assert row.key_hash == expected
        assert not [v for v in row if secret[4:20] in str(v)]  # nothing of the key but that

        other = await _make(admin, space, "audit:read", name="Other", expires_days=1)
        assert other["key"] != secret
        assert parse_iso(other["expires_at"]) - parse_iso(other["created_at"]) == timedelta(days=1)

        # admins of the space only; every field checked
        _error(await relation.call("POST", "/api/keys", _body(space)), 403, "not_allowed")
        _error(await relation.call("GET", "/api/keys"), 403, "not_allowed")
        for wrong in (
            {"expires_days": 0},
            {"expires_days": 366},
            {"scopes": []},
            {"scopes": ["everything"]},
            {"name": "  "},
            {"extra": True},
        ):
            _error(await admin.call("POST", "/api/keys", {**_body(space), **wrong}), 400,
                   "invalid_request")  # fmt: skip


def _body(space: str) -> dict[str, Any]:
    return {"space": space, "name": "n", "scopes": ["audit:read"]}


async def test_a_key_calls_what_its_scopes_allow_and_nothing_else(inproc: App) -> None:
    async with space_with_agents(inproc, "admin") as (space, [admin]):
        life = await _life(inproc, space)
        conv = f"/api/conversations/{life.conversation_id}"
        reader = _key(inproc, await _make(admin, space, "conversations:read"))
        writer = _key(inproc, await _make(admin, space, "messages:write", name="Writer"))
        every = _key(inproc, await _make(admin, space, *SCOPES, name="Every"))

        # reads: no cookie, no CSRF token
        inbox = await reader.ok("GET", "/api/conversations?view=all&status=any")
        assert life.conversation_id in [c["id"] for c in inbox["conversations"]]
        assert (await reader.ok("GET", conv))["conversation"]["id"] == life.conversation_id
        assert [s["key"] for s in (await reader.ok("GET", "/api/spaces"))["spaces"]] == [space]
        said = _error(await reader.call("POST", f"{conv}/notes", {"body": "x"}), 403,
                      "missing_scope")  # fmt: skip
        assert "messages:write" in said
        _error(await reader.call("POST", f"{conv}/resolve"), 403, "missing_scope")

        # writes: a note (no agent for author), a tag, resolve; but no reading
        note = await writer.call("POST", f"{conv}/notes", {"body": "from the CRM"})
        assert note.status_code == 201, note.text
        assert note.json()["author"]["id"] is None
        assert "crm" in (await writer.ok("POST", f"{conv}/tags", {"tag": "crm"}))["tags"]
        assert (await writer.ok("POST", f"{conv}/resolve"))["status"] == "resolved"
        _error(await writer.call("GET", conv), 403, "missing_scope")
        _error(await writer.call("GET", "/api/audit"), 403, "missing_scope")
        detail = await admin.ok("GET", conv)
        assert "crm" in detail["conversation"]["tags"]
        assert [n["body"] for n in detail["notes"] if n["author"]["id"] is None] == ["from the CRM"]

        # what is the console's session only, whatever the key's scopes
        for method, path, body in (
            ("GET", "/api/session", None),
            ("DELETE", "/api/session", None),
            ("GET", "/api/keys", None),
            ("POST", "/api/keys", _body(space)),
            ("GET", "/api/agents", None),
            ("POST", f"{conv}/claim", None),
            ("POST", "/api/holds", {"space": space, "scope": "space", "reason": "x"}),
            ("PUT", f"/api/spaces/{space}/retention", {"messages": 30}),
        ):
            said = _error(await every.call(method, path, body), 403, "missing_scope")
            assert "session" in said, (path, said)
        assert (await every.ok("GET", "/api/holds"))["holds"] == []
        assert (await every.ok("GET", f"/api/spaces/{space}/retention"))["space"] == space

        # another space's things are not found, like things that do not exist
        async with space_with_agents(inproc, "admin") as (theirs, [_]):
            foreign = await _life(inproc, theirs)
            a = await every.call("GET", f"/api/conversations/{foreign.conversation_id}")
            b = await every.call("GET", "/api/conversations/00000000-0000-0000-0000-000000000000")
            assert a.status_code == b.status_code == 404 and a.content == b.content
            a = await every.call("GET", f"/api/conversations?view=all&space={theirs}")
            b = await every.call("GET", "/api/conversations?view=all&space=no-such-space")
            assert a.status_code == b.status_code == 404 and a.content == b.content
            listed = await every.ok("GET", "/api/conversations?view=all&status=any")
            assert foreign.conversation_id not in json.dumps(listed)


async def test_unknown_expired_and_revoked_keys_are_refused(inproc: App) -> None:
    async with space_with_agents(inproc, "admin") as (space, [admin]):
        http = inproc.client("127.0.0.1")
        for value in ("Bearer cst_" + "A" * 43, "Bearer not-a-key", "Bearer ", "bearer cst_x"):
            r = await http.get("/api/conversations", headers={"authorization": value})
            said = _error(r, 401, "bad_api_key")
            assert r.headers["www-authenticate"].startswith("Bearer")
            assert said == "Unknown API key."

        made = await _make(admin, space, "conversations:read")
        key = _key(inproc, made)
        assert (await key.call("GET", "/api/inbox/counts")).status_code == 200
        await _set(inproc, made["id"], expires_at=utcnow() - timedelta(seconds=1))
        assert "expired" in _error(await key.call("GET", "/api/inbox/counts"), 401, "bad_api_key")
        listed = await admin.ok("GET", "/api/keys")
        assert [k["status"] for k in listed["keys"] if k["id"] == made["id"]] == ["expired"]

        made = await _make(admin, space, "conversations:read")
        key = _key(inproc, made)
        assert (await key.call("GET", "/api/inbox/counts")).status_code == 200
        revoked = await admin.ok("DELETE", f"/api/keys/{made['id']}")
        assert revoked["status"] == "revoked" and revoked["revoked_at"] is not None
        assert "revoked" in _error(await key.call("GET", "/api/inbox/counts"), 401, "bad_api_key")
        again = await admin.ok("DELETE", f"/api/keys/{made['id']}")  # changes nothing
        assert again["revoked_at"] == revoked["revoked_at"]

        # an admin of another space finds no such key
        async with space_with_agents(inproc, "admin") as (_, [stranger]):
            a = await stranger.call("DELETE", f"/api/keys/{made['id']}")
            b = await stranger.call("DELETE", "/api/keys/00000000-0000-0000-0000-000000000000")
            assert a.status_code == b.status_code == 404 and a.content == b.content
            assert made["id"] not in (await stranger.call("GET", "/api/keys")).text
            r = await stranger.call("POST", "/api/keys", _body(space))
            assert r.status_code == 404 and r.json()["error"]["code"] == "space_not_found"


async def test_a_revoked_key_is_refused_on_the_next_request_of_another_node(inproc: App) -> None:
    """Two apps on one database, as two nodes: no cache, so nothing to wait for."""
    async with space_with_agents(inproc, "admin") as (space, [admin]):
        made = await _make(admin, space, "conversations:read")
        async with inprocess_app(inproc.database_url) as other:
            key = _key(other, made)
            assert (await key.call("GET", "/api/inbox/counts")).status_code == 200
            await admin.ok("DELETE", f"/api/keys/{made['id']}")  # on this node
            started = time.monotonic()
            r = await key.call("GET", "/api/inbox/counts")  # on the other one
            assert time.monotonic() - started < 1.0
            _error(r, 401, "bad_api_key")


async def test_the_last_use_is_written_at_most_once_a_minute(inproc: App) -> None:
    async with space_with_agents(inproc, "admin") as (space, [admin]):
        made = await _make(admin, space, "conversations:read")
        assert (await _row(inproc, made["id"])).last_used_at is None
        await _key(inproc, made, "198.51.100.4").ok("GET", "/api/inbox/counts")
        first = await _row(inproc, made["id"])
        assert first.last_used_at is not None and first.last_used_ip == "198.51.100.4"

        later = _key(inproc, made, "198.51.100.5")
        for _ in range(3):
            await later.ok("GET", "/api/inbox/counts")
        same = await _row(inproc, made["id"])
        assert (same.last_used_at, same.last_used_ip) == (first.last_used_at, "198.51.100.4")

        await _set(inproc, made["id"], last_used_at=utcnow() - timedelta(seconds=61))
        await later.ok("GET", "/api/inbox/counts")
        moved = await _row(inproc, made["id"])
        assert moved.last_used_ip == "198.51.100.5"
        [shown] = [k for k in (await admin.ok("GET", "/api/keys"))["keys"] if k["id"] == made["id"]]
        assert shown["last_used_ip"] == "198.51.100.5" and shown["last_used_at"] is not None


async def test_what_keys_are_and_do_is_in_the_audit_trail(inproc: App) -> None:
    async with space_with_agents(inproc, "admin") as (space, [admin]):
        life = await _life(inproc, space)
        scopes = ("visitors:erase", "campaigns:write", "audit:read")
        made = await _make(admin, space, *scopes, name="Privacy robot")
        key = _key(inproc, made, "192.0.2.9")

        erased = await key.ok("POST", f"/api/visitors/{life.visitor_id}/erase", {"reason": "#9"})
        assert erased["visitors"] == 1
        r = await key.call("POST", "/api/campaigns", {**CAMPAIGN, "space": space})
        assert r.status_code == 201, r.text
        campaign = r.json()
        assert (await key.ok("POST", f"/api/campaigns/{campaign['id']}/launch"))["status"] == "live"
        versions = (await key.ok("GET", f"/api/campaigns/{campaign['id']}"))["versions"]
        assert {v["agent_id"] for v in versions} == {None}  # no agent made them
        await admin.ok("DELETE", f"/api/keys/{made['id']}")

        trail = (await admin.ok("GET", f"/api/audit?space={space}"))["entries"]
        by_action = {e["action"]: e for e in trail}
        for action in ("api_key.create", "api_key.revoke"):
            entry = by_action[action]
            assert entry["space"] == space and entry["outcome"] == "ok"
            assert entry["actor"]["kind"] == "agent" and entry["actor"]["id"] == admin.id
            assert entry["target"]["kind"] == "api_key" and entry["target"]["id"] == made["id"]
            assert entry["target"]["snapshot"]["name"] == "Privacy robot"
            assert made["key"] not in json.dumps(entry)
        assert by_action["api_key.create"]["target"]["snapshot"]["scopes"] == list(scopes)
        for action in ("visitor.erase", "campaign.launch"):
            actor = by_action[action]["actor"]
            assert actor["kind"] == "api_key", (action, actor)
            assert (actor["id"], actor["name"], actor["ip"]) == (
                made["id"], "Privacy robot", "192.0.2.9",
            )  # fmt: skip
        db = Database(inproc.database_url)
        try:
            checked = await verify(db, await space_id(db, space), every=False)
        finally:
            await db.dispose()
        assert checked.broken is None

        # a key reads its own space's trail, never the deployment's
        reader = _key(inproc, await _make(admin, space, "audit:read", name="Auditor"))
        entries = (await reader.ok("GET", "/api/audit?limit=500"))["entries"]
        assert entries and {e["space"] for e in entries} == {space}


async def test_metrics_on_the_main_port_need_a_key_with_metrics_read(inproc: App) -> None:
    async with space_with_agents(inproc, "admin") as (space, [admin]):
        assert (await inproc.client("127.0.0.1").get("/metrics")).status_code == 403
        made = await _make(admin, space, "metrics:read", name="Prometheus")
        scraped = await _key(inproc, made).call("GET", "/metrics")
        assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/")
        reader = _key(inproc, await _make(admin, space, "conversations:read"))
        _error(await reader.call("GET", "/metrics"), 403, "missing_scope")
        await admin.ok("DELETE", f"/api/keys/{made['id']}")
        _error(await _key(inproc, made).call("GET", "/metrics"), 401, "bad_api_key")


async def test_every_operation_declares_its_scopes_and_the_document_says_them(
    inproc: App,
) -> None:
    undecided = [(op.method, op.path) for op in OPS if op.signed_in and op.scopes is None]
    assert not undecided, f"routes that say nothing of API keys (scopes=...): {undecided}"
    public = [(op.method, op.path) for op in OPS if not op.signed_in and op.scopes is not None]
    assert not public, f"public routes need no scope: {public}"
    unknown = [(op.path, s) for op in OPS for s in op.scopes or () if s not in SCOPES]
    assert not unknown, unknown
    assert {op.path for op in OPS if op.tag == "keys"} == {"/api/keys", "/api/keys/{id}"}
    assert all(op.scopes == SESSION_ONLY for op in OPS if op.tag == "keys")
    with pytest.raises(MissingScope):  # an operation with no decision lets no key in
        check_scopes(_principal(frozenset(SCOPES)), None)

    doc = (await inproc.http.get("/api/openapi.json")).json()
    validate(doc)
    listed = {(m.upper(), p) for p, item in doc["paths"].items() for m in item}
    served = {
        (method, route.path)
        for route in routes()
        if isinstance(route, Route) and route.path.startswith("/api/")
        for method in route.methods or ()
        if method != "HEAD"
    }
    assert listed == served - CALLED_OTHERWISE, listed ^ (served - CALLED_OTHERWISE)
    assert CALLED_OTHERWISE <= served

    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["type"] == "http" and schemes["bearerAuth"]["scheme"] == "bearer"
    assert schemes["cookieSession"] == {
        **schemes["cookieSession"],
        "type": "apiKey",
        "in": "cookie",
    }
    assert set(doc["info"]["x-scopes"]) == set(SCOPES)
    named: set[str] = set(doc["info"]["x-scopes"])
    named |= set(doc["components"]["schemas"]["ApiKey"]["properties"]["scopes"]["items"]["enum"])
    by_op = {(op.method, op.path): op for op in OPS}
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            op = by_op[(method.upper(), path)]
            named |= set(operation["x-scopes"])
            for requirement in operation["security"]:
                for scheme, scopes in requirement.items():
                    assert scheme in schemes
                    named |= set(scopes)
            if not op.signed_in:
                assert operation["security"] == [] and operation["x-scopes"] == []
                continue
            assert operation["x-scopes"] == list(op.scopes or ())
            assert operation["security"] == [
                {"cookieSession": []},
                *({"bearerAuth": [s]} for s in op.scopes or ()),
            ]
            assert {"401", "403"} <= set(operation["responses"]), (method, path)
    assert named <= set(SCOPES), named - set(SCOPES)

    # the console's panel offers the same scopes, named in both languages
    panel = (STATIC / "keys.js").read_text()
    offered = re.search(r"export const SCOPES = \[([^\]]*)\]", panel)
    assert offered and re.findall(r'"([a-z:]+)"', offered.group(1)) == list(SCOPES)
    strings = (STATIC / "i18n.js").read_text()
    assert all(strings.count(f'"scope.{s}":') == 2 for s in SCOPES)


def _principal(scopes: frozenset[str]) -> KeyPrincipal:
    return KeyPrincipal("k", "key", "", "admin", 0, {"s": "space"}, scopes=scopes)
