"""Webhooks in process, on SQLite and PostgreSQL, against real receivers on loopback
(tests/agents/receiver.py): the routes (admins of the space, audited, secrets shown once),
deliveries verified with the ``standardwebhooks`` library and the OpenAPI document's payload
schemas, the retry schedule on a fake clock, ``Retry-After``, 410, the order of a
conversation's events, a receiver down then up, a slow endpoint beside a fast one and the
chat, SSRF refusals (at creation and at delivery), redirects not followed, minimal mode,
secret rotation, redelivery, the request id, erasure of queued payloads and the 30-day
cleanup. The worker is driven by hand (``webhook_poll_seconds=0``) with its clock set here.

(Processes killed while delivering: tests/agents/test_webhooks_live.py.)
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest
import pytest_asyncio
from openapi_spec_validator import validate
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from agents.webhooks.client import Guard
from agents.webhooks.schedule import DELAYS
from agents.webhooks.worker import Worker
from chat.clock import utcnow
from chat.principals import VisitorPrincipal
from tests.agents.consoleclient import ConsoleAgent, console_agent
from tests.agents.receiver import Received, Receiver, Reply
from tests.conftest import BACKENDS, new_database, new_space
from tests.inproc import App, inprocess_app
from tests.rows import execute, fetch

pytestmark = pytest.mark.asyncio(loop_scope="module")

SETTINGS: dict[str, Any] = {
    "webhook_allowed_networks": ["127.0.0.0/8"],  # the receivers are on loopback
    "webhook_poll_seconds": 0,  # no background worker: each test drives it
    "webhook_timeout_seconds": 2.0,
    "webhook_lease_seconds": 30.0,
}


@pytest_asyncio.fixture(scope="module", params=BACKENDS, loop_scope="module")
async def app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[App]:
    with new_database(request.param, tmp_path_factory.mktemp(f"hooks-{request.param}")) as url:
        async with inprocess_app(url, **SETTINGS) as running:
            yield running


class Clock:
    def __init__(self) -> None:
        self.at = utcnow()

    def now(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> None:
        self.at += delta


@dataclass
class Space:
    app: App
    key: str
    id: str
    admin: ConsoleAgent
    worker: Worker
    clock: Clock

    async def hook(self, url: str, *events: str, **more: Any) -> dict[str, Any]:
        body = {"space": self.key, "url": url, "events": list(events), **more}
        r = await self.admin.call("POST", "/api/webhooks", body)
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def visitor(self) -> VisitorPrincipal:
        store = self.app.state["ctx"].store
        visitor_id = await store.create_visitor(self.id)
        return await store.visitor_principal(visitor_id, self.id)

    async def say(self, who: VisitorPrincipal, text: str, conversation: str | None = None) -> Any:
        store = self.app.state["ctx"].store
        done = await store.append(who, conversation, str(uuid.uuid4()), text, hint=conversation)
        return done.message

    async def deliver(self) -> int:
        """Look until nothing more is ready now; every send recorded. How many were sent."""
        total = 0
        for _ in range(100):
            started = await self.worker.step()
            await self.worker.settle()
            total += started
            if not started:
                return total
        raise AssertionError("still delivering")

    async def log(self, hook: dict[str, Any]) -> list[dict[str, Any]]:
        return list(
            (await self.admin.ok("GET", f"/api/webhooks/{hook['id']}/deliveries"))["deliveries"]
        )


@pytest_asyncio.fixture(loop_scope="module")
async def space(app: App) -> AsyncIterator[Space]:
    key = await new_space(app.database_url)
    admin = await console_agent(app, role="admin", spaces=[key], name="Hook admin")
    [sid] = [s["id"] for s in admin.session["spaces"] if s["key"] == key]
    worker: Worker = app.state["console"].webhooks.worker
    clock = Clock()
    worker.clock, worker.jitter = clock.now, lambda: 0.0
    guard = worker.client.guard
    try:
        yield Space(app, key, sid, admin, worker, clock)
    finally:
        worker.client.guard = guard
        for hook in (await admin.ok("GET", f"/api/webhooks?space={key}"))["webhooks"]:
            await admin.ok("DELETE", f"/api/webhooks/{hook['id']}")
        await admin.close()


@pytest_asyncio.fixture(loop_scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()


def verified(secret: str, request: Received) -> Any:
    return Webhook(secret).verify(request.body, request.headers)


def during_at(request: Received) -> datetime:
    return datetime.fromtimestamp(int(request.headers["webhook-timestamp"]), UTC)


_SCHEMAS: dict[str, Any] = {}


async def check_schema(app: App, payload: dict[str, Any]) -> None:
    """The payload is what the OpenAPI document's ``webhooks`` section says of its type."""
    if not _SCHEMAS:
        doc = (await app.http.get("/api/openapi.json")).json()
        validate(doc)  # the whole document, webhooks section included, is valid OpenAPI 3.1
        _SCHEMAS.update(doc["webhooks"])
    schema = _SCHEMAS[payload["type"]]["post"]["requestBody"]["content"]["application/json"]
    jsonschema.Draft202012Validator(
        schema["schema"], format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(payload)


async def outbox_rows(app: App, space_id: str) -> list[Any]:
    return await fetch(
        app.database_url, "SELECT * FROM events_outbox WHERE space_id = :s ORDER BY id", s=space_id
    )


# -- the routes --------------------------------------------------------------------------------


async def test_admins_make_change_and_delete_webhooks_audited_with_the_secret_shown_once(
    app: App, space: Space, receiver: Receiver
) -> None:
    made = await space.hook(receiver.url(), "message.created", "conversation.created")
    secret = made["secret"]
    assert secret.startswith("whsec_") and made["enabled"] and not made["minimal"]
    assert made["events"] == ["message.created", "conversation.created"]
    listed = await space.admin.ok("GET", "/api/webhooks")
    assert [h["id"] for h in listed["webhooks"]] == [made["id"]]
    assert secret not in json.dumps(listed)
    one = await space.admin.ok("GET", f"/api/webhooks/{made['id']}")
    assert "secret" not in one and one["url"] == receiver.url()

    changed = await space.admin.ok(
        "PATCH",
        f"/api/webhooks/{made['id']}",
        {
            "events": ["csat.submitted"],
            "minimal": True,
            "enabled": False,
            "url": receiver.url("/x"),
        },
    )
    assert changed["events"] == ["csat.submitted"] and changed["minimal"]
    assert not changed["enabled"] and changed["url"].endswith("/x") and "secret" not in changed

    # admins only; unknown events and fields refused
    relation = await console_agent(app, role="relation", spaces=[space.key])
    r = await relation.call("GET", "/api/webhooks")
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_allowed"
    await relation.close()
    for wrong in ({"events": ["message.deleted"]}, {"events": []}, {"extra": 1}):
        body = {"space": space.key, "url": receiver.url(), "events": ["webhook.test"], **wrong}
        r = await space.admin.call("POST", "/api/webhooks", body)
        assert r.status_code == 400, r.text

    r = await space.admin.call("DELETE", f"/api/webhooks/{made['id']}")
    assert r.status_code == 204
    r = await space.admin.call("GET", f"/api/webhooks/{made['id']}")
    assert r.status_code == 404 and r.json()["error"]["code"] == "webhook_not_found"

    entries = await fetch(
        app.database_url,
        "SELECT action, target, diff FROM audit_entries WHERE space_id = :s AND target_id = :t "
        "ORDER BY seq",
        s=space.id,
        t=made["id"],
    )
    assert [e.action for e in entries] == ["webhook.create", "webhook.update", "webhook.delete"]
    assert secret not in str([tuple(e) for e in entries])


# -- deliveries ------------------------------------------------------------------------------


async def test_messages_and_the_conversation_they_open_are_delivered_signed_in_order(
    app: App, space: Space, receiver: Receiver
) -> None:
    made = await space.hook(receiver.url(), "message.created", "conversation.created")
    ada = await space.visitor()
    first = await space.say(ada, "Hello, where is my order?")  # opens: the general path
    second = await space.say(ada, "It was order 1742", first.conversation_id)  # the batch writer
    assert await space.deliver() == 3
    bodies = [verified(made["secret"], r) for r in receiver.received]
    assert [b["type"] for b in bodies] == ["conversation.created", "message.created"] * 1 + [
        "message.created"
    ]
    opened, m1, m2 = (b["data"] for b in bodies)
    assert opened["space"] == space.key and opened["conversation"]["id"] == first.conversation_id
    assert opened["visitor"]["id"] == ada.id
    assert (m1["message"]["seq"], m1["message"]["body"]) == (1, "Hello, where is my order?")
    assert (m2["message"]["seq"], m2["message"]["body"]) == (2, "It was order 1742")
    assert m2["message"]["id"] == str(second.id) and m2["message"]["author"]["kind"] == "visitor"
    for body in bodies:
        await check_schema(app, body)
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert len(set(ids)) == 3 and all(i.startswith("evt_") for i in ids)
    log = await space.log(made)
    assert [d["status"] for d in log] == ["delivered"] * 3
    assert all(d["response"] == "ok" and d["response_status"] == 200 for d in log)
    assert all(d["latency_ms"] is not None for d in log)


async def test_the_batch_writer_writes_the_events_of_its_batch_in_its_transaction(
    app: App, space: Space, receiver: Receiver
) -> None:
    from chat.writer import Pending

    await space.hook(receiver.url(), "message.created")
    ada, bob = await space.visitor(), await space.visitor()
    a = (await space.say(ada, "a0")).conversation_id
    b = (await space.say(bob, "b0")).conversation_id
    writer = app.state["ctx"].store.writer
    batch = [
        Pending(conv, str(uuid.uuid4()), "visitor", who.id, f"{tag}{i}", who.name, f"req-{tag}{i}")
        for i in range(1, 4)
        for conv, who, tag in ((a, ada, "a"), (b, bob, "b"))
    ]
    stored = await asyncio.gather(*(writer.append(p) for p in batch))  # one batch
    assert all(s is not None for s in stored)  # the fast path took them all
    rows = [r for r in await outbox_rows(app, space.id) if (r.request_id or "")[:4] == "req-"]
    assert [r.request_id for r in rows if r.conversation_id == a] == ["req-a1", "req-a2", "req-a3"]
    assert [r.request_id for r in rows if r.conversation_id == b] == ["req-b1", "req-b2", "req-b3"]
    by_request = {r.request_id: r for r in rows}
    for done, item in zip(stored, batch, strict=True):
        assert done is not None
        row = by_request[item.request_id]
        payload = row.payload if isinstance(row.payload, dict) else json.loads(row.payload)
        assert payload["message"]["id"] == str(done.id) and payload["message"]["seq"] == done.seq
        assert payload["message"]["body"] == item.body and row.type == "message.created"
    await space.deliver()
    assert len(receiver.received) == 8


async def test_a_space_without_webhooks_writes_no_event(app: App, space: Space) -> None:
    ada = await space.visitor()
    first = await space.say(ada, "nobody listens")
    await space.say(ada, "still nobody", first.conversation_id)
    assert await outbox_rows(app, space.id) == []


async def test_failed_tries_follow_the_schedule_then_give_up(
    app: App, space: Space, receiver: Receiver
) -> None:
    receiver.answer = lambda _r: Reply(500, b"down for maintenance")
    made = await space.hook(receiver.url(), "webhook.test")
    r = await space.admin.call("POST", f"/api/webhooks/{made['id']}/test")
    assert r.status_code == 202 and r.json()["delivery"]["type"] == "webhook.test"
    start = space.clock.at
    assert await space.deliver() == 1
    elapsed = timedelta(0)
    for n, delay in enumerate(DELAYS, start=2):
        space.clock.advance(delay - timedelta(seconds=1))
        assert await space.deliver() == 0  # not yet
        space.clock.advance(timedelta(seconds=1))
        assert await space.deliver() == 1, n  # at its time (jitter held at 0 here)
        elapsed += delay
        assert len(receiver.received) == n
    assert space.clock.at - start == elapsed == timedelta(hours=75, minutes=35, seconds=5)
    space.clock.advance(timedelta(days=2))
    assert await space.deliver() == 0  # given up after the tenth
    [entry] = await space.log(made)
    assert (entry["status"], entry["attempts"]) == ("failed", 10)
    assert entry["response"] == "down for maintenance" and entry["response_status"] == 500
    # every try the same event and body, signed afresh
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    assert len({r.body for r in receiver.received}) == 1


async def test_jitter_and_retry_after(app: App, space: Space, receiver: Receiver) -> None:
    receiver.answer = lambda _r: Reply(503, b"busy", {"retry-after": "600"})
    made = await space.hook(receiver.url(), "webhook.test")
    await space.admin.ok("POST", f"/api/webhooks/{made['id']}/test")
    assert await space.deliver() == 1
    [entry] = await space.log(made)
    wait = datetime.fromisoformat(entry["next_at"].replace("Z", "+00:00")) - space.clock.at
    assert wait == timedelta(seconds=600)  # later than the schedule's 5 s: as the receiver said
    space.worker.jitter = lambda: 1.0  # the most: +10 %
    receiver.answer = lambda _r: Reply(500)
    space.clock.advance(wait)
    assert await space.deliver() == 1
    [entry] = await space.log(made)
    wait = datetime.fromisoformat(entry["next_at"].replace("Z", "+00:00")) - space.clock.at
    assert wait == DELAYS[1] * 1.1


async def test_a_conversations_events_are_delivered_one_after_the_other(
    app: App, space: Space, receiver: Receiver
) -> None:
    failed: set[str] = set()

    def answer(r: Received) -> Reply:
        text = r.json["data"]["message"]["body"]
        if text == "A1" and text not in failed:  # the first try of A1 fails
            failed.add(text)
            return Reply(500)
        return Reply()

    receiver.answer = answer
    await space.hook(receiver.url(), "message.created")
    a, b = await space.visitor(), await space.visitor()
    a1 = await space.say(a, "A1")
    await space.say(a, "A2", a1.conversation_id)
    await space.say(b, "B1")
    await space.deliver()
    bodies = [r.json["data"]["message"]["body"] for r in receiver.received]
    assert sorted(bodies) == ["A1", "B1"]  # A2 waits for A1; B's conversation does not
    space.clock.advance(DELAYS[0])
    await space.deliver()
    bodies = [r.json["data"]["message"]["body"] for r in receiver.received]
    assert bodies[2:] == ["A1", "A2"]  # A1 again, then only A2

    # a waiting delivery left with nothing before it (it should never be) is healed
    a3 = await space.say(a, "A3", a1.conversation_id)
    a4 = await space.say(a, "A4", a1.conversation_id)
    assert a3.seq == 3 and a4.seq == 4
    receiver.answer = lambda _r: Reply(500)
    await space.deliver()  # A3 fails, A4 waits
    await execute(
        app.database_url,
        "UPDATE webhook_deliveries SET status = 'failed' WHERE status = 'pending' AND "
        f"endpoint_id IN (SELECT id FROM webhook_endpoints WHERE space_id = '{space.id}')",
    )  # ended behind the worker's back: nothing promoted A4
    receiver.answer = lambda _r: Reply()
    assert await space.deliver() == 0
    await space.worker.cleanup()
    await space.deliver()
    assert receiver.received[-1].json["data"]["message"]["body"] == "A4"


async def test_a_receiver_down_then_up_gets_everything(
    app: App, space: Space, receiver: Receiver
) -> None:
    made = await space.hook(receiver.url(), "message.created")
    await receiver.stop()  # connection refused
    ada = await space.visitor()
    first = await space.say(ada, "one")
    await space.say(ada, "two", first.conversation_id)
    bob = await space.visitor()
    await space.say(bob, "three")
    await space.deliver()
    log = await space.log(made)
    assert sorted(d["status"] for d in log) == ["pending", "pending", "waiting"]  # "two" waits
    assert {d["error"] for d in log if d["attempts"]} == {"could not connect"}
    space.clock.advance(timedelta(hours=3))  # hours later
    await receiver.start()  # on the same port
    await space.deliver()
    got = sorted(r.json["data"]["message"]["body"] for r in receiver.received)
    assert got == ["one", "three", "two"]
    assert {d["status"] for d in await space.log(made)} == {"delivered"}


async def test_410_gone_disables_the_endpoint(app: App, space: Space, receiver: Receiver) -> None:
    receiver.answer = lambda _r: Reply(410, b"gone")
    made = await space.hook(receiver.url(), "message.created")
    ada = await space.visitor()
    first = await space.say(ada, "one")
    await space.deliver()
    hook = await space.admin.ok("GET", f"/api/webhooks/{made['id']}")
    assert not hook["enabled"] and hook["disabled_reason"] == "410 Gone"
    await space.say(ada, "two", first.conversation_id)  # nobody wants it now
    space.clock.advance(timedelta(days=1))
    await space.deliver()
    assert len(receiver.received) == 1
    [entry] = await space.log(made)
    assert entry["status"] == "failed" and entry["response_status"] == 410
    [audited] = await fetch(
        app.database_url,
        "SELECT actor_kind, diff FROM audit_entries WHERE target_id = :t AND action = "
        "'webhook.update'",
        t=made["id"],
    )
    assert audited.actor_kind == "system"


# -- a slow endpoint, the chat ---------------------------------------------------------------


async def test_a_hanging_endpoint_delays_neither_another_nor_the_chat(
    app: App, space: Space, receiver: Receiver
) -> None:
    release = asyncio.Event()
    slow = await Receiver(lambda _r: Reply(hang=release)).start()
    worker = space.worker
    worker.poll, worker.client.total = 0.05, 30.0  # the background loop, and a long wait
    await worker.start()
    try:
        await space.hook(slow.url(), "message.created")
        await space.hook(receiver.url(), "message.created")
        visitors = [await space.visitor() for _ in range(6)]
        started = time.monotonic()
        for i, v in enumerate(visitors):
            await space.say(v, f"m{i}")
        await receiver.until(lambda got: len(got) == 6, timeout=5)
        assert time.monotonic() - started < 2.0  # the fast one got all, while the slow hangs
        await slow.until(lambda got: len(got) == 4, timeout=5)

        # chat traffic meanwhile: each message stored at once
        ada = await space.visitor()
        first = await space.say(ada, "chat 0")
        started = time.monotonic()
        for i in range(20):
            await space.say(ada, f"chat {i + 1}", first.conversation_id)
        assert time.monotonic() - started < 2.0
        await receiver.until(lambda got: len(got) == 6 + 21, timeout=5)
        assert slow.most_in_flight == 4 and len(slow.received) == 4  # its own slots, no more
    finally:
        release.set()
        await slow.until(lambda got: len(got) == 6 + 21, timeout=10)
        await worker.stop()
        worker.poll, worker.client.total = 0, 2.0
        await slow.stop()
    assert slow.most_in_flight == 4


# -- what is refused --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/hook",
        "http://192.168.1.20:8080/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://[::1]:9000/",  # loopback, but not in the allowed 127.0.0.0/8
        "http://0.0.0.0:9000/",
        "http://224.0.0.1/",
        "http://[::ffff:10.0.0.1]/",
        "http://user:pw@127.0.0.1/",
        "ftp://127.0.0.1/",
        "http://no-such-host.invalid/",
    ],
)
async def test_targets_that_are_not_public_are_refused(space: Space, url: str) -> None:
    r = await space.admin.call(
        "POST", "/api/webhooks", {"space": space.key, "url": url, "events": ["webhook.test"]}
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "url_not_allowed"


async def test_the_guard_checks_the_resolved_address() -> None:
    strict = Guard()
    for url in ("http://localhost:8000/", "http://127.0.0.1/", "http://2130706433/"):
        with pytest.raises(Exception) as refused:
            await strict.resolve(url)
        assert getattr(refused.value, "code", None) == "url_not_allowed", url
    target = await Guard(["127.0.0.0/8"]).resolve("http://localhost:8000/x?y=1")
    assert str(target.address) == "127.0.0.1" and target.host == "localhost"
    assert target.pinned == "http://127.0.0.1:8000/x?y=1" and target.host_header == "localhost:8000"
    public = await strict.resolve("https://93.184.215.14/hook")
    assert public.port == 443 and public.host_header == "93.184.215.14"


async def test_each_delivery_checks_again_and_follows_no_redirect(
    app: App, space: Space, receiver: Receiver
) -> None:
    elsewhere = await Receiver().start()
    try:
        receiver.answer = lambda _r: Reply(302, b"", {"location": elsewhere.url()})
        made = await space.hook(receiver.url(), "webhook.test")
        await space.admin.ok("POST", f"/api/webhooks/{made['id']}/test")
        await space.deliver()
        [entry] = await space.log(made)
        assert (entry["status"], entry["response_status"]) == ("pending", 302)
        assert elsewhere.received == []  # the redirect was not followed

        space.worker.client.guard = Guard()  # the deployment no longer allows loopback
        space.clock.advance(DELAYS[0])
        await space.deliver()
        [entry] = await space.log(made)
        assert entry["attempts"] == 2 and entry["response_status"] is None
        assert "public addresses only" in entry["error"]
        assert len(receiver.received) == 1  # nothing reached it the second time
    finally:
        await elsewhere.stop()


# -- modes, secrets, redelivery ----------------------------------------------------------------


async def test_minimal_mode_sends_ids_only(app: App, space: Space, receiver: Receiver) -> None:
    made = await space.hook(receiver.url(), "message.created", "conversation.created", minimal=True)
    ada = await space.visitor()
    first = await space.say(ada, "my card is 4242 4242 4242 4242")
    assert first.seq == 1
    await space.deliver()
    opened, message = (verified(made["secret"], r)["data"] for r in receiver.received)
    assert opened["visitor"] == {"id": ada.id}
    assert set(message["message"]) == {"id", "seq", "created_at", "author"}
    assert message["message"]["author"] == {"kind": "visitor", "id": ada.id}
    assert "4242" not in b"".join(r.body for r in receiver.received).decode()
    for r in receiver.received:
        await check_schema(app, r.json)


async def test_a_rotated_secret_and_the_old_one_both_sign_for_a_day(
    app: App, space: Space, receiver: Receiver
) -> None:
    made = await space.hook(receiver.url(), "webhook.test")
    rotated = await space.admin.ok("PATCH", f"/api/webhooks/{made['id']}", {"rotate_secret": True})
    new, old = rotated["secret"], made["secret"]
    assert new != old and new.startswith("whsec_") and rotated["previous_secret_until"]
    space.clock.at = utcnow()
    await space.admin.ok("POST", f"/api/webhooks/{made['id']}/test")
    await space.deliver()
    [during] = receiver.received
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert verified(new, during) == verified(old, during)  # either secret verifies it

    # a day later, the new one only (signed at the worker's clock, a day ahead of the
    # library's: so the signature is compared here rather than verified)
    space.clock.advance(timedelta(hours=24, seconds=1))
    await space.admin.ok("POST", f"/api/webhooks/{made['id']}/test")
    await space.deliver()
    after = receiver.received[1]
    at = datetime.fromtimestamp(int(after.headers["webhook-timestamp"]), UTC)
    assert at - during_at(during) >= timedelta(hours=24)
    event_id = after.headers["webhook-id"]
    assert after.headers["webhook-signature"] == Webhook(new).sign(event_id, at, after.body)
    assert Webhook(old).sign(event_id, at, after.body) not in after.headers["webhook-signature"]
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(during.body, {**during.headers, "webhook-signature": "v1,bad"})


async def test_redelivery_of_one_event_and_of_a_time_range(
    app: App, space: Space, receiver: Receiver
) -> None:
    made = await space.hook(receiver.url(), "message.created")
    ada = await space.visitor()
    first = await space.say(ada, "one")
    await space.say(ada, "two", first.conversation_id)
    await space.deliver()
    event_id = receiver.received[0].headers["webhook-id"]
    url = f"/api/webhooks/{made['id']}/redeliver"
    assert (await space.admin.ok("POST", url, {"event_id": event_id})) == {"queued": 1}
    await space.deliver()
    assert receiver.received[2].headers["webhook-id"] == event_id
    assert receiver.received[2].body == receiver.received[0].body
    since = (utcnow() - timedelta(minutes=5)).isoformat()
    assert (await space.admin.ok("POST", url, {"since": since})) == {"queued": 2}
    await space.deliver()
    assert [r.json["data"]["message"]["body"] for r in receiver.received[3:]] == ["one", "two"]
    origins = [d["origin"] for d in await space.log(made)]
    assert origins.count("redelivery") == 3
    r = await space.admin.call("POST", url, {"event_id": "evt_nope"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "event_not_found"


async def test_the_request_id_of_the_cause_goes_with_the_delivery(
    app: App, space: Space, receiver: Receiver
) -> None:
    await space.hook(receiver.url(), "conversation.status_changed", "conversation.assigned")
    ada = await space.visitor()
    first = await space.say(ada, "help")
    r = await space.admin.call("POST", f"/api/conversations/{first.conversation_id}/claim")
    assert r.status_code == 200, r.text
    claimed_by = r.headers["x-request-id"]
    r = await space.admin.call("POST", f"/api/conversations/{first.conversation_id}/resolve")
    resolved_by = r.headers["x-request-id"]
    await space.deliver()
    got = {q.json["type"]: q for q in receiver.received}
    assert got["conversation.assigned"].headers["causette-request-id"] == claimed_by
    assert got["conversation.status_changed"].headers["causette-request-id"] == resolved_by
    assert got["conversation.status_changed"].json["data"]["conversation"]["status"] == "resolved"
    assert got["conversation.assigned"].json["data"]["conversation"]["assignee_id"] == (
        space.admin.id
    )
    for q in receiver.received:
        await check_schema(app, q.json)


# -- the other emitters ------------------------------------------------------------------------


async def test_exposures_are_batched_and_conversions_and_retention_are_sent(
    app: App, space: Space, receiver: Receiver
) -> None:
    from agents.campaigns.tracking import Tracking
    from tests.privacy_seed import campaign_of

    made = await space.hook(
        receiver.url(), "campaign.exposure", "goal.converted", "retention.completed"
    )
    ctx = app.state["ctx"]
    tracking = Tracking(ctx.db, ctx.store.outbox)
    campaign = await campaign_of(ctx.db, space.id)
    people = [await space.visitor() for _ in range(3)]
    for v in people:
        assert await tracking.expose(campaign, 1, space.id, v.id, "a")
    assert not await tracking.expose(campaign, 1, space.id, people[0].id, "a")  # once
    assert await tracking.convert(people[0].id, {campaign: [(0, 24)]}) == 1
    await space.deliver()
    bodies = [verified(made["secret"], r) for r in receiver.received]
    by_type = {b["type"]: b["data"] for b in bodies}  # no conversation: no order between them
    assert len(bodies) == 2 and set(by_type) == {"campaign.exposure", "goal.converted"}
    exposures = by_type["campaign.exposure"]["exposures"]  # one delivery for the three
    assert [e["visitor_id"] for e in exposures] == [v.id for v in people]
    converted = by_type["goal.converted"]
    assert converted["visitor_id"] == people[0].id and converted["goal"] == 0

    retention = app.state["console"].privacy.retention
    await space.admin.ok("PUT", f"/api/spaces/{space.key}/retention", {"events": 400})
    await retention.run(space.key)
    await space.deliver()
    done = verified(made["secret"], receiver.received[-1])
    assert done["type"] == "retention.completed" and done["data"]["policy"] == {"events": "400d"}
    for b in [*bodies, done]:
        await check_schema(app, b)


async def test_an_erasure_deletes_the_visitors_queued_payloads(
    app: App, space: Space, receiver: Receiver
) -> None:
    receiver.answer = lambda _r: Reply(500)  # everything stays queued
    made = await space.hook(receiver.url(), "message.created", "visitor.erased")
    ada, bob = await space.visitor(), await space.visitor()
    first = await space.say(ada, "my secret words")
    await space.say(ada, "more secret words", first.conversation_id)
    await space.say(bob, "bob's words")
    await space.deliver()
    assert len(await outbox_rows(app, space.id)) == 3
    r = await space.admin.call("POST", f"/api/visitors/{ada.id}/erase", {"reason": "asked"})
    assert r.status_code == 200, r.text
    counts = r.json()["counts"]
    assert counts["events_outbox"] == 2 and counts["webhook_deliveries"] == 2
    rows = await outbox_rows(app, space.id)
    assert [r.type for r in rows] == ["message.created", "visitor.erased"]
    assert "secret" not in str([tuple(r) for r in rows]) and ada.id not in str(rows[1].payload)
    receiver.answer = lambda _r: Reply()
    space.clock.advance(DELAYS[0])
    await space.deliver()
    sent = [q.json for q in receiver.received if q.json["type"] == "visitor.erased"]
    assert sent and sent[0]["data"]["visitor_digest"].startswith("sha256:")
    assert "secret words" not in str([q.body for q in receiver.received[3:]])
    await check_schema(app, sent[0])
    assert {d["status"] for d in await space.log(made)} == {"delivered"}


async def test_the_log_and_the_events_go_after_30_days(
    app: App, space: Space, receiver: Receiver
) -> None:
    made = await space.hook(receiver.url(), "webhook.test")
    await space.admin.ok("POST", f"/api/webhooks/{made['id']}/test")
    await space.deliver()
    assert len(await space.log(made)) == 1
    space.clock.advance(timedelta(days=29))
    await space.worker.cleanup()
    assert len(await space.log(made)) == 1
    space.clock.advance(timedelta(days=2))
    deliveries, events = await space.worker.cleanup()
    assert deliveries >= 1 and events >= 1
    assert await space.log(made) == [] and await outbox_rows(app, space.id) == []


async def test_the_console_offers_every_event_in_both_languages() -> None:
    import re

    from agents.web import STATIC
    from chat.outbox import EVENT_TYPES

    panel = (STATIC / "webhooks.js").read_text()
    offered = re.search(r"export const EVENTS = \[([^\]]*)\]", panel)
    assert offered and re.findall(r'"([a-z_.]+)"', offered.group(1)) == list(EVENT_TYPES)
    strings = (STATIC / "i18n.js").read_text()
    used = set(re.findall(r't\("(hooks\.[A-Za-z.]+)"', panel)) | {
        f"hooks.status.{s}" for s in ("pending", "sending", "waiting", "delivered", "failed")
    }
    assert used and all(strings.count(f'"{key}":') == 2 for key in used), used


async def test_the_command_line_writes_the_events_its_changes_cause(
    app: App, space: Space, receiver: Receiver
) -> None:
    """A process that keeps no interest (``causette visitor erase``) reads it when it first
    writes: its erasure is an event the servers deliver."""
    from agents.privacy import Privacy
    from chat.audit import SYSTEM
    from chat.db import Database
    from chat.settings import Settings

    made = await space.hook(receiver.url(), "visitor.erased")
    ada = await space.visitor()
    await space.say(ada, "bye")
    db = Database(app.database_url)
    try:
        cli = Privacy.build(db, None, Settings(database_url=app.database_url))
        await cli.erasure.erase(SYSTEM, space.key, visitor_id=ada.id)
    finally:
        await db.dispose()
    await space.deliver()
    [sent] = receiver.received
    assert verified(made["secret"], sent)["type"] == "visitor.erased"
