"""Separation of spaces, proven route by route and frame by frame: with an admin of space A,
every operation of the OpenAPI document is sent once with the ids of space B's things and
once with ids that do not exist, and the two answers must be the same bytes; then every
operation an API key reaches likewise, with a key of space A holding every scope; every
client frame type likewise over A's sockets. B's things are unchanged afterwards. An
operation or a frame type this file does not aim is a failure: a new route must say how it
is kept apart.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, get_args

import httpx
import pytest
import sqlalchemy as sa

from agents.scopes import SCOPES
from agents.services import OPS
from chat.clock import utcnow
from chat.db import Database
from chat.models import conversations, legal_holds
from chat.protocol import ClientFrame
from tests.agents.consoleclient import ConsoleAgent, KeyClient, console_agent, open_visitor
from tests.agents.test_campaigns_api import BODY as CAMPAIGN
from tests.conftest import new_space
from tests.inproc import App
from tests.privacy_seed import live, space_id
from tests.servers import ServerProcess
from tests.wsclient import ChatClient

pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass
class Ids:
    """The things a request can name: space B's, or ones that do not exist."""

    space: str
    conversation: str
    visitor: str
    agent: str
    team: str
    canned: str
    campaign: str
    hold: str
    key: str  # an API key's id
    webhook: str


def _missing() -> Ids:
    new = lambda: str(uuid.uuid4())  # noqa: E731
    return Ids("no-such-space", new(), new(), new(), new(), new(), new(), new(), new(), new())


@dataclass
class Mine:
    """Space A's own things, which a request may combine with another space's id."""

    space: str
    conversation: str
    team: str
    campaign: str
    agent: str


Aim = Callable[[Ids, Mine], tuple[str, Any]]  # (path with query, body) for these ids


def _q(path: str, **query: str) -> str:
    return path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


# How each operation is aimed at another space. None: it names nothing of a space (it answers
# about the caller, checked below not to list B's things).
AIMS: dict[tuple[str, str], Aim | None] = {
    ("GET", "/api/setup"): None,
    ("POST", "/api/session"): None,
    ("GET", "/api/session"): None,
    ("DELETE", "/api/session"): None,
    ("POST", "/api/session/password"): None,
    ("GET", "/api/inbox/counts"): None,
    ("GET", "/api/spaces"): None,
    ("GET", "/api/agents"): None,
    ("GET", "/api/teams"): None,
    ("GET", "/api/canned"): None,
    ("GET", "/api/conversations"): lambda i, m: (
        _q("/api/conversations", space=i.space, visitor=i.visitor),
        None,
    ),
    ("GET", "/api/conversations/{conversation_id}"): lambda i, m: (
        f"/api/conversations/{i.conversation}",
        None,
    ),
    **{
        ("POST", f"/api/conversations/{{conversation_id}}/{action}"): (
            lambda i, m, action=action: (f"/api/conversations/{i.conversation}/{action}", None)
        )
        for action in ("claim", "unassign", "resolve", "reopen")
    },
    ("POST", "/api/conversations/{conversation_id}/transfer"): lambda i, m: (
        f"/api/conversations/{m.conversation}/transfer",
        {"agent_id": i.agent},
    ),
    ("POST", "/api/conversations/{conversation_id}/notes"): lambda i, m: (
        f"/api/conversations/{i.conversation}/notes",
        {"body": "hello"},
    ),
    ("POST", "/api/conversations/{conversation_id}/tags"): lambda i, m: (
        f"/api/conversations/{i.conversation}/tags",
        {"tag": "vip"},
    ),
    ("DELETE", "/api/conversations/{conversation_id}/tags/{tag}"): lambda i, m: (
        f"/api/conversations/{i.conversation}/tags/billing",
        None,
    ),
    ("POST", "/api/agents"): lambda i, m: (
        "/api/agents",
        {
            "email": f"x{uuid.uuid4().hex[:6]}@example.com",
            "name": "X",
            "role": "relation",
            "password": "purple monkey dishwasher",
            "spaces": [i.space],
        },
    ),
    ("PATCH", "/api/agents/{agent_id}"): lambda i, m: (f"/api/agents/{i.agent}", {"name": "Y"}),
    ("POST", "/api/agents/{agent_id}/password"): lambda i, m: (
        f"/api/agents/{i.agent}/password",
        {"password": "orange llama sofa bed"},
    ),
    ("POST", "/api/teams"): lambda i, m: ("/api/teams", {"space": i.space, "name": "Night"}),
    ("PATCH", "/api/teams/{team_id}"): lambda i, m: (f"/api/teams/{i.team}", {"name": "Day"}),
    ("DELETE", "/api/teams/{team_id}"): lambda i, m: (f"/api/teams/{i.team}", None),
    ("POST", "/api/canned"): lambda i, m: (
        "/api/canned",
        {"space": m.space, "team_id": i.team, "shortcut": "hi", "body": "Hi!"},
    ),
    ("PATCH", "/api/canned/{canned_id}"): lambda i, m: (f"/api/canned/{i.canned}", {"body": "x"}),
    ("DELETE", "/api/canned/{canned_id}"): lambda i, m: (f"/api/canned/{i.canned}", None),
    ("POST", "/api/campaigns"): lambda i, m: ("/api/campaigns", {**CAMPAIGN, "space": i.space}),
    ("GET", "/api/campaigns"): lambda i, m: (_q("/api/campaigns", space=i.space), None),
    ("GET", "/api/campaigns/{campaign_id}"): lambda i, m: (f"/api/campaigns/{i.campaign}", None),
    ("PATCH", "/api/campaigns/{campaign_id}"): lambda i, m: (
        f"/api/campaigns/{i.campaign}",
        {"name": "Renamed"},
    ),
    **{
        ("POST", f"/api/campaigns/{{campaign_id}}/{action}"): (
            lambda i, m, action=action: (f"/api/campaigns/{i.campaign}/{action}", None)
        )
        for action in ("launch", "pause", "kill")
    },
    ("GET", "/api/campaigns/{campaign_id}/results"): lambda i, m: (
        f"/api/campaigns/{i.campaign}/results",
        None,
    ),
    ("GET", "/api/review-tags"): lambda i, m: (_q("/api/review-tags", space=i.space), None),
    ("PUT", "/api/review-tags"): lambda i, m: (
        _q("/api/review-tags", space=i.space),
        {"tags": ["rude"]},
    ),
    ("GET", "/api/campaigns/{campaign_id}/transcripts"): lambda i, m: (
        f"/api/campaigns/{i.campaign}/transcripts",
        None,
    ),
    ("PUT", "/api/campaigns/{campaign_id}/transcripts/{conversation_id}/tags"): lambda i, m: (
        f"/api/campaigns/{m.campaign}/transcripts/{i.conversation}/tags",
        {"tags": []},
    ),
    ("GET", "/api/campaigns/{campaign_id}/charts/{chart}"): lambda i, m: (
        f"/api/campaigns/{i.campaign}/charts/rate",
        None,
    ),
    ("GET", "/api/csat"): lambda i, m: (_q("/api/csat", space=i.space), None),
    ("GET", "/api/reports/{report}"): lambda i, m: (
        _q("/api/reports/overview", space=i.space),
        None,
    ),
    ("GET", "/api/exports/{table}"): lambda i, m: (
        _q("/api/exports/messages", space=i.space),
        None,
    ),
    ("POST", "/api/visitors/{id}/erase"): lambda i, m: (f"/api/visitors/{i.visitor}/erase", {}),
    ("POST", "/api/erasures"): lambda i, m: (
        "/api/erasures",
        {"space": i.space, "email": "ada@example.com"},
    ),
    ("GET", "/api/visitors/{id}/export"): lambda i, m: (f"/api/visitors/{i.visitor}/export", None),
    ("GET", "/api/holds"): lambda i, m: (_q("/api/holds", space=i.space), None),
    ("POST", "/api/holds"): lambda i, m: (
        "/api/holds",
        {
            "space": m.space,
            "scope": "conversation",
            "conversation_id": i.conversation,
            "reason": "probe",
        },
    ),
    ("DELETE", "/api/holds/{id}"): lambda i, m: (f"/api/holds/{i.hold}", None),
    ("GET", "/api/spaces/{key}/retention"): lambda i, m: (f"/api/spaces/{i.space}/retention", None),
    ("PUT", "/api/spaces/{key}/retention"): lambda i, m: (
        f"/api/spaces/{i.space}/retention",
        {"messages": 1},
    ),
    ("GET", "/api/audit"): lambda i, m: (_q("/api/audit", space=i.space), None),
    ("POST", "/api/keys"): lambda i, m: (
        "/api/keys",
        {"space": i.space, "name": "probe", "scopes": ["audit:read"]},
    ),
    ("GET", "/api/keys"): lambda i, m: (_q("/api/keys", space=i.space), None),
    ("DELETE", "/api/keys/{id}"): lambda i, m: (f"/api/keys/{i.key}", None),
    ("POST", "/api/webhooks"): lambda i, m: (
        "/api/webhooks",
        {"space": i.space, "url": HOOK_URL, "events": ["webhook.test"]},
    ),
    ("GET", "/api/webhooks"): lambda i, m: (_q("/api/webhooks", space=i.space), None),
    ("GET", "/api/webhooks/{id}"): lambda i, m: (f"/api/webhooks/{i.webhook}", None),
    ("PATCH", "/api/webhooks/{id}"): lambda i, m: (
        f"/api/webhooks/{i.webhook}",
        {"enabled": False, "rotate_secret": True},
    ),
    ("DELETE", "/api/webhooks/{id}"): lambda i, m: (f"/api/webhooks/{i.webhook}", None),
    ("GET", "/api/webhooks/{id}/deliveries"): lambda i, m: (
        f"/api/webhooks/{i.webhook}/deliveries",
        None,
    ),
    ("POST", "/api/webhooks/{id}/test"): lambda i, m: (f"/api/webhooks/{i.webhook}/test", None),
    ("POST", "/api/webhooks/{id}/redeliver"): lambda i, m: (
        f"/api/webhooks/{i.webhook}/redeliver",
        {"event_id": "evt_0"},
    ),
}
HOOK_URL = "https://93.184.215.14/hook"  # a public address: no DNS needed to check it


async def _space_b(app: App) -> tuple[Ids, ConsoleAgent]:
    """Space B with one of everything, made by B's own admin."""
    key = await new_space(app.database_url)
    admin = await console_agent(app, role="admin", spaces=[key], name="B admin")
    db = Database(app.database_url)
    try:
        life = await live(db, await space_id(db, key), utcnow())
        async with db.write() as conn:  # open, so that resolve and claim have work to do
            await conn.execute(
                conversations.update()
                .where(conversations.c.id == life.conversation_id)
                .values(status="open", resolved_at=None)
            )
    finally:
        await db.dispose()
    team = await admin.ok("POST", "/api/teams", {"space": key, "name": "Shop"})
    canned = await admin.ok(
        "POST", "/api/canned", {"space": key, "shortcut": "bye", "body": "Bye!"}
    )
    campaign = (await admin.call("POST", "/api/campaigns", {**CAMPAIGN, "space": key})).json()
    hold = (
        await admin.call("POST", "/api/holds", {"space": key, "scope": "space", "reason": "law"})
    ).json()
    api_key = await admin.ok(
        "POST", "/api/keys", {"space": key, "name": "B", "scopes": ["audit:read"]}
    )
    webhook = await admin.ok(
        "POST", "/api/webhooks", {"space": key, "url": HOOK_URL, "events": ["webhook.test"]}
    )
    ids = Ids(
        key, life.conversation_id, life.visitor_id, admin.id, team["id"], canned["id"],
        campaign["id"], hold["id"], api_key["id"], webhook["id"],
    )  # fmt: skip
    return ids, admin


async def _space_a(app: App) -> tuple[Mine, ConsoleAgent]:
    key = await new_space(app.database_url)
    admin = await console_agent(app, role="admin", spaces=[key], name="A admin")
    db = Database(app.database_url)
    try:
        life = await live(db, await space_id(db, key), utcnow())
        async with db.write() as conn:
            await conn.execute(
                conversations.update()
                .where(conversations.c.id == life.conversation_id)
                .values(status="open", resolved_at=None)
            )
    finally:
        await db.dispose()
    team = await admin.ok("POST", "/api/teams", {"space": key, "name": "Mine"})
    campaign = (await admin.call("POST", "/api/campaigns", {**CAMPAIGN, "space": key})).json()
    return Mine(key, life.conversation_id, team["id"], campaign["id"], admin.id), admin


class _Caller(Protocol):
    async def call(self, method: str, path: str, json: Any = None) -> httpx.Response: ...


async def _aim_every(caller: _Caller, ops: set[tuple[str, str]], theirs: Ids, mine: Mine) -> int:
    """Each of these operations with B's ids and with missing ids: the same bytes. Those
    that name nothing list A's things only. The number compared."""
    b_text = {theirs.conversation, theirs.visitor, theirs.team, theirs.canned, theirs.campaign,
              theirs.hold, theirs.agent, theirs.key, theirs.webhook}  # fmt: skip
    compared = 0
    for (method, path), aim in sorted(AIMS.items()):
        if (method, path) not in ops:
            continue
        if aim is None:
            if method == "GET" and path != "/api/setup":  # what it lists is A's only
                r = await caller.call(method, path)
                assert r.status_code == 200, (path, r.text)
                assert not [t for t in b_text if t in r.text], path
            continue
        foreign_path, foreign_body = aim(theirs, mine)
        missing_path, missing_body = aim(_missing(), mine)
        foreign = await caller.call(method, foreign_path, foreign_body)
        missing = await caller.call(method, missing_path, missing_body)
        assert foreign.status_code == missing.status_code, (method, path, foreign.text)
        assert foreign.content == missing.content, (method, path, foreign.text, missing.text)
        assert foreign.status_code in (400, 404), (method, path, foreign.status_code)
        compared += 1
    return compared


async def test_every_route_answers_another_spaces_ids_as_ids_that_do_not_exist(
    inproc: App,
) -> None:
    served = {(op.method, op.path) for op in OPS}
    document = (await inproc.http.get("/api/openapi.json")).json()
    listed = {(m.upper(), p) for p, item in document["paths"].items() for m in item}
    assert listed == served  # the document is what is served
    unaimed = sorted(listed - set(AIMS))
    assert not unaimed, f"routes with no cross-space check: {unaimed}"
    stale = sorted(set(AIMS) - listed)
    assert not stale, f"checks of routes that no longer exist: {stale}"

    theirs, their_admin = await _space_b(inproc)
    mine, me = await _space_a(inproc)
    try:
        compared = await _aim_every(me, served, theirs, mine)
    finally:
        await me.close()
    assert compared == sum(aim is not None for aim in AIMS.values())
    await _b_unchanged(inproc, theirs, their_admin)


async def test_every_route_a_key_reaches_answers_another_spaces_ids_as_ids_that_do_not_exist(
    inproc: App,
) -> None:
    """The same with an API key of space A that holds every scope: its principal is limited
    to its one space, whatever the operation lets it do there."""
    reachable = {(op.method, op.path) for op in OPS if op.signed_in and op.scopes}
    theirs, their_admin = await _space_b(inproc)
    mine, me = await _space_a(inproc)
    made = await me.ok(
        "POST", "/api/keys", {"space": mine.space, "name": "every scope", "scopes": list(SCOPES)}
    )
    await me.close()
    key = KeyClient(inproc.client("127.0.0.1"), made["key"])
    compared = await _aim_every(key, reachable, theirs, mine)
    assert compared == sum(AIMS[r] is not None for r in reachable)
    assert compared >= 25  # most of the API is open to keys
    await _b_unchanged(inproc, theirs, their_admin)


async def _b_unchanged(inproc: App, theirs: Ids, their_admin: ConsoleAgent) -> None:
    """Nothing of B moved."""
    detail = await their_admin.ok("GET", f"/api/conversations/{theirs.conversation}")
    assert detail["conversation"]["status"] == "open" and detail["notes"][0]["body"].startswith(
        "VIP"
    )
    assert (await their_admin.ok("GET", f"/api/campaigns/{theirs.campaign}"))["status"] == "draft"
    holds = (await their_admin.ok("GET", "/api/holds"))["holds"]
    assert [h["active"] for h in holds if h["id"] == theirs.hold] == [True]
    db = Database(inproc.database_url)
    try:
        async with db.read() as conn:
            probe = await conn.scalar(
                sa.select(sa.func.count()).where(legal_holds.c.reason == "probe")
            )
    finally:
        await db.dispose()
    assert probe == 0
    keys = (await their_admin.ok("GET", "/api/keys"))["keys"]
    assert [k["status"] for k in keys if k["id"] == theirs.key] == ["active"]
    assert "probe" not in [k["name"] for k in keys]
    [hook] = (await their_admin.ok("GET", "/api/webhooks"))["webhooks"]
    assert hook["id"] == theirs.webhook and hook["enabled"] and not hook["previous_secret_until"]
    await their_admin.close()


# -- frames -----------------------------------------------------------------------------------

# each client frame type, aimed at a conversation or campaign id (None: it names none)
FRAMES: dict[str, Callable[[str, str], dict[str, Any]] | None] = {
    "hello": None,
    "ping": None,
    "presence": None,
    "context": None,
    "identify": None,
    "contact": None,
    "attributes": None,
    "track": None,
    "message": lambda c, _: {
        "type": "message",
        "client_id": str(uuid.uuid4()),
        "body": "hi",
        "conversation_id": c,
    },
    "typing": lambda c, _: {"type": "typing", "conversation_id": c},
    "resolve": lambda c, _: {"type": "resolve", "conversation_id": c},
    "history": lambda c, _: {"type": "history", "conversation_id": c, "before_seq": 10},
    "read": lambda c, _: {"type": "read", "conversation_id": c, "seq": 1},
    "exposure": lambda _, k: {"type": "exposure", "campaign_id": k, "phase": 1},
    "csat": lambda c, _: {"type": "csat", "conversation_id": c, "score": 5},
}


def _frame_types() -> set[str]:
    return {get_args(t.model_fields["type"].annotation)[0] for t in get_args(ClientFrame)}


async def _answers(sock: ChatClient, frame: dict[str, Any], own: set[str]) -> list[dict[str, Any]]:
    """What the socket gets for a frame, up to the pong of a ping sent after it (but what it
    hears meanwhile of its own conversations: routing, typing, presence)."""
    start = len(sock.frames)
    await sock.send(frame)
    await sock.send({"type": "ping"})
    await sock.expect("pong")
    got = [
        f
        for f in sock.frames[start:]
        if f["type"] not in ("pong", "presence") and f.get("conversation_id") not in own
    ]
    for f in got:  # a client id the frame carried is echoed: the same for both
        f.pop("ref", None)
    return got


async def test_every_frame_answers_another_spaces_ids_as_ids_that_do_not_exist(
    server: ServerProcess,
) -> None:
    assert _frame_types() == set(FRAMES), "a client frame type with no cross-space check"
    theirs_key = await new_space(server.database_url)
    mine_key = await new_space(server.database_url)
    theirs_visitor, theirs_conv = await open_visitor(server, theirs_key, "theirs")
    me = await console_agent(server, role="admin", spaces=[mine_key], name="A")
    their_admin = await console_agent(server, role="admin", spaces=[theirs_key], name="B")
    their_campaign = (
        await their_admin.call("POST", "/api/campaigns", {**CAMPAIGN, "space": theirs_key})
    ).json()["id"]
    agent_socket = await me.socket()
    visitor, mine_conv = await open_visitor(server, mine_key, "mine")
    try:
        for kind, aim in sorted(FRAMES.items()):
            if aim is None:
                continue
            for sock in (agent_socket, visitor):
                if kind in ("exposure", "csat") and sock is agent_socket:
                    continue  # visitors' frames only
                if kind == "resolve" and sock is visitor:
                    continue  # agents' frame only
                own = {mine_conv}
                foreign = await _answers(sock, aim(theirs_conv, their_campaign), own)
                missing = await _answers(sock, aim(str(uuid.uuid4()), str(uuid.uuid4())), own)
                assert json.dumps(foreign) == json.dumps(missing), (kind, foreign, missing)
        # the visitor of B saw none of it
        await theirs_visitor.send({"type": "ping"})
        await theirs_visitor.expect("pong")
        seen = [f["type"] for f in theirs_visitor.frames]
        assert "message" not in seen[seen.index("ack") + 1 :]
        detail = await their_admin.ok("GET", f"/api/conversations/{theirs_conv}")
        assert detail["conversation"]["status"] == "open"
        assert [m["body"] for m in detail["messages"]] == ["theirs"]
    finally:
        for s in (agent_socket, visitor, theirs_visitor):
            await s.close()
        await me.close()
        await their_admin.close()
