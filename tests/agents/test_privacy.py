"""Retention, legal holds, erasure, access requests and the audit trail, on both backends,
through the objects the server and the command line use (agents/privacy.py's Privacy):
what a dry run counts is what the run deletes, held data survives both retention and
erasure, an erasure leaves no trace of the visitor's identifiers in any table while reports
count the same conversations, and the audit chain is verifiable, append-only and catches a
changed, a removed and a swapped entry."""

from __future__ import annotations

import asyncio
import json
import zipfile
from collections.abc import AsyncIterator
from datetime import timedelta
from io import BytesIO
from typing import Any

import pytest
import pytest_asyncio
import sqlalchemy as sa

from agents.privacy import Privacy
from chat import audit, audit_verify
from chat.audit import Actor
from chat.clock import utcnow
from chat.db import Database, migrate
from chat.models import audit_entries, conversations, metadata
from chat.settings import Settings
from chat.spaces import set_retention
from tests.conftest import new_agent, new_space
from tests.privacy_seed import live, space_id

ADMIN = Actor("agent", id="admin-1", name="Ada Admin", ip="127.0.0.1", user_agent="test")
OLD = timedelta(days=40)


@pytest_asyncio.fixture
async def privacy(empty_database: str) -> AsyncIterator[tuple[Database, Privacy]]:
    await asyncio.to_thread(migrate, empty_database)
    await new_agent(empty_database, role="admin")
    db = Database(empty_database)
    settings = Settings(database_url=empty_database, retention_batch_rows=2)
    try:
        yield db, Privacy.build(db, None, settings)
    finally:
        await db.dispose()


async def _counts(db: Database) -> dict[str, int]:
    """Rows per table of the visitor-data tables."""
    out = {}
    async with db.read() as conn:
        for name in (
            "visitors", "conversations", "messages", "notes", "conversation_tags", "read_marks",
            "csat_ratings", "exposures", "goal_events", "conversions",
        ):  # fmt: skip
            out[name] = int(await conn.scalar(sa.text(f"SELECT count(*) FROM {name}")) or 0)
    return out


async def test_the_dry_run_counts_what_the_run_deletes_and_keeps_the_recent(
    privacy: tuple[Database, Privacy],
) -> None:
    db, p = privacy
    key = await new_space(db.url, "retail")
    sid = await space_id(db, key)
    now = utcnow()
    old = [await live(db, sid, now - OLD - timedelta(hours=i), messages_n=3) for i in range(3)]
    recent = await live(db, sid, now - timedelta(days=2), messages_n=2)
    other = await live(db, await space_id(db, "default"), now - OLD, messages_n=4)
    await set_retention(db, key, {"messages": 30, "events": 30, "profiles": 30}, actor=ADMIN)
    before = await _counts(db)

    [plan] = await p.retention.plan(key)
    expected = {
        "conversations": 3, "messages": 9, "notes": 3, "conversation_tags": 3, "read_marks": 3,
        "csat_ratings": 3, "transcript_reviews": 0, "email_outbox": 0, "exposures": 3,
        "goal_events": 3, "conversions": 3, "webhook_deliveries": 0, "events_outbox": 0,
        "visitors": 3,  # freed by the same run: counted by the dry run too
    }  # fmt: skip
    assert plan.counts == expected
    assert await _counts(db) == before  # a dry run deletes nothing

    [run] = await p.retention.run(key, actor=ADMIN)  # batches of 2 rows
    assert run.counts == expected  # what the dry run said
    after = await _counts(db)
    assert after["conversations"] == before["conversations"] - 3
    assert after["messages"] == before["messages"] - 9
    async with db.read() as conn:
        mine = sa.select(conversations.c.id).where(conversations.c.space_id == sid)
        left = set((await conn.execute(mine)).scalars())
        others = await conn.scalar(
            sa.select(sa.func.count()).where(conversations.c.id == other.conversation_id)
        )
    assert left == {recent.conversation_id}
    assert others == 1  # another space's policy (none) applies to it
    assert not {o.conversation_id for o in old} & left

    # a second run finds nothing: idempotent
    [again] = await p.retention.run(key, actor=ADMIN)
    assert sum(again.counts.values()) == 0

    # each run is one audit entry with the policy, the cut-offs and the counts
    runs = await audit.entries(db, [sid], audit.Filters(action="retention.run"))
    assert len(runs) == 2
    snapshot = runs[-1].target["spaces"][key]
    assert snapshot["policy"] == {"messages": "30d", "events": "30d", "profiles": "30d"}
    assert set(snapshot["cutoffs"]) == {"messages", "events", "profiles"}
    assert runs[-1].diff == {"deleted": dict(sorted(expected.items()))}
    assert (await audit_verify.verify(db)).ok


async def test_held_data_survives_retention_and_a_release_only_reschedules_it(
    privacy: tuple[Database, Privacy],
) -> None:
    db, p = privacy
    key = await new_space(db.url)
    sid = await space_id(db, key)
    now = utcnow()
    by_visitor = await live(db, sid, now - OLD)
    by_conversation = await live(db, sid, now - OLD)
    in_range = await live(db, sid, now - timedelta(days=50))
    free = await live(db, sid, now - OLD)
    await set_retention(db, key, {"messages": 30, "events": 30, "profiles": 30})
    with pytest.raises(Exception, match="reason"):
        await p.holds.place(ADMIN, sid, "visitor", visitor_id=by_visitor.visitor_id, reason=" ")
    h1 = await p.holds.place(
        ADMIN, sid, "visitor", visitor_id=by_visitor.visitor_id, reason="dispute 17"
    )
    await p.holds.place(
        ADMIN, sid, "conversation", conversation_id=by_conversation.conversation_id,
        reason="regulator",
    )  # fmt: skip
    await p.holds.place(
        ADMIN, sid, "range", since=now - timedelta(days=51), until=now - timedelta(days=49),
        reason="audit of October",
    )  # fmt: skip

    [run] = await p.retention.run(key)
    assert run.counts["conversations"] == 1 and run.counts["messages"] == free.messages
    assert {h["reason"] for h in run.held} == {"dispute 17", "regulator", "audit of October"}
    async with db.read() as conn:
        kept = set((await conn.execute(sa.select(conversations.c.id))).scalars())
    assert {by_visitor.conversation_id, by_conversation.conversation_id} <= kept
    assert in_range.conversation_id in kept and free.conversation_id not in kept

    # erasure respects the hold too, and says why
    erased = await p.erasure.erase(ADMIN, key, visitor_id=by_visitor.visitor_id)
    assert erased.held == [
        {"hold": h1.id, "scope": "visitor", "reason": "dispute 17",
         "kept": "everything of this visitor"}
    ]  # fmt: skip
    assert erased.counts == {}

    # a release deletes nothing by itself; the next run does
    await p.holds.release(ADMIN, h1.id, [sid], reason="settled")
    async with db.read() as conn:
        assert by_visitor.conversation_id in set(
            (await conn.execute(sa.select(conversations.c.id))).scalars()
        )
    [later] = await p.retention.run(key)
    assert later.counts["conversations"] == 1
    actions = [e.action for e in await audit.entries(db, [sid])]
    assert actions.count("hold.place") == 3 and actions.count("hold.release") == 1
    placed = await audit.entries(db, [sid], audit.Filters(action="hold.place"))
    assert {e.reason for e in placed} == {"dispute 17", "regulator", "audit of October"}
    assert all(e.actor.name == "Ada Admin" and e.actor.ip == "127.0.0.1" for e in placed)


def _text_of(value: Any) -> str:
    return json.dumps(value, default=str) if not isinstance(value, str) else value


async def _every_text(db: Database) -> str:
    """Every value of every row of every table, as one text to search."""
    chunks = []
    async with db.read() as conn:
        for table in metadata.sorted_tables:
            for row in await conn.execute(sa.select(table)):
                chunks.append(" ".join(_text_of(v) for v in row))
    return "\n".join(chunks)


@pytest.mark.parametrize("by", ["visitor", "external_id", "email", "phone"])
async def test_an_erasure_leaves_no_trace_and_reports_count_the_same(
    privacy: tuple[Database, Privacy], by: str
) -> None:
    db, p = privacy
    key = await new_space(db.url)
    sid = await space_id(db, key)
    gone = await live(db, sid, utcnow() - timedelta(days=3), messages_n=5)
    stays = await live(db, sid, utcnow() - timedelta(days=3), messages_n=2)
    elsewhere = await live(db, await space_id(db, "default"), utcnow(), messages_n=1)
    before = await _counts(db)
    async with db.read() as conn:
        conversations_before = await conn.scalar(
            sa.select(sa.func.count()).where(conversations.c.space_id == sid)
        )
        messages_counted = await conn.scalar(
            sa.select(sa.func.sum(conversations.c.visitor_messages)).where(
                conversations.c.space_id == sid
            )
        )

    ident: dict[str, Any] = {
        "visitor": {"visitor_id": gone.visitor_id},
        "external_id": {"external_id": gone.external_id},
        "email": {"email": gone.email.upper()},  # any case
        "phone": {"phone": gone.phone.replace(" ", "")},  # any format of the number
    }[by]
    result = await p.erasure.erase(ADMIN, key, reason="request #9", **ident)
    assert result.visitors == 1 and result.held == []
    assert result.counts == {
        "messages": 5, "conversations": 1, "notes": 1, "read_marks": 1, "csat_ratings": 1,
        "goal_events": 1, "exposures": 1, "conversions": 1, "visitors": 1, "email_outbox": 0,
        "webhook_deliveries": 0, "events_outbox": 0,
    }  # fmt: skip

    everything = await _every_text(db)
    for trace in (
        gone.visitor_id, gone.email, gone.email.lower(), gone.name, gone.external_id,
        gone.phone, gone.secret,
    ):  # fmt: skip
        assert trace not in everything, trace
    for other in (stays, elsewhere):  # nobody else lost anything
        assert other.secret in everything and other.email in everything

    after = await _counts(db)
    assert after["messages"] == before["messages"] - 5
    assert after["goal_events"] == before["goal_events"] - 1
    for kept in ("conversations", "exposures", "conversions", "csat_ratings", "visitors"):
        assert after[kept] == before[kept], kept  # moved to an anonymous profile
    async with db.read() as conn:
        assert (
            await conn.scalar(sa.select(sa.func.count()).where(conversations.c.space_id == sid))
            == conversations_before
        )
        assert (
            await conn.scalar(
                sa.select(sa.func.sum(conversations.c.visitor_messages)).where(
                    conversations.c.space_id == sid
                )
            )
            == messages_counted
        )

    # the audit names what was done, and only digests of the identifiers
    [entry] = await audit.entries(db, [sid], audit.Filters(action="visitor.erase"))
    assert entry.reason == "request #9" and entry.outcome == "ok"
    assert entry.diff == {"deleted": dict(sorted(result.counts.items()))}
    assert entry.target_id is not None and entry.target_id.startswith("sha256:")

    # asking again finds nobody
    again = await p.erasure.erase(ADMIN, key, **ident)
    assert again.visitors == 0 and again.counts == {}


async def test_an_access_export_holds_everything_of_the_visitor_and_nothing_else(
    privacy: tuple[Database, Privacy],
) -> None:
    db, p = privacy
    key = await new_space(db.url)
    sid = await space_id(db, key)
    mine = await live(db, sid, utcnow() - timedelta(days=1), messages_n=4)
    theirs = await live(db, sid, utcnow(), messages_n=1)
    doc = await p.erasure.export(ADMIN, key, mine.visitor_id)
    assert doc["profile"]["email"] == mine.email
    assert doc["profile"]["attributes"]["phone"] == mine.phone
    [conv] = doc["conversations"]
    assert conv["id"] == mine.conversation_id and len(conv["messages"]) == 4
    assert doc["notes"][0]["body"] == f"VIP {mine.secret}"
    assert doc["tags"] == [{"conversation_id": mine.conversation_id, "tag": "billing"}]
    assert doc["csat_ratings"][0]["comment"] == f"thanks {mine.secret}"
    assert [e["name"] for e in doc["goal_events"]] == ["signup"]
    assert doc["exposures"][0]["campaign"] == "Welcome"
    assert len(doc["conversions"]) == 1 and len(doc["read_marks"]) == 1
    assert theirs.secret not in json.dumps(doc)

    archive = zipfile.ZipFile(BytesIO(__import__("chat.erasure").erasure.access_zip(doc)))
    manifest = json.loads(archive.read("manifest.json"))
    body = archive.read("export.json")
    import hashlib

    assert manifest["files"] == [
        {"name": "export.json", "bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    ]
    assert json.loads(body) == doc
    # another space's admin path: not found, as a visitor that does not exist
    with pytest.raises(Exception, match="No such visitor"):
        await p.erasure.export(ADMIN, "default", mine.visitor_id)
    assert [e.action for e in await audit.entries(db, [sid])] == ["visitor.export", "space.create"]


async def test_the_audit_trail_is_append_only_and_its_chain_catches_tampering(
    privacy: tuple[Database, Privacy],
) -> None:
    db, _ = privacy
    key = await new_space(db.url)
    sid = await space_id(db, key)
    for days in range(1, 7):
        await set_retention(db, key, {"messages": days}, actor=ADMIN)
    verified = await audit_verify.verify(db)
    assert verified.ok and verified.chains[sid][0] == 7  # the space's creation, then six

    for statement in ("UPDATE audit_entries SET reason = 'x'", "DELETE FROM audit_entries"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            async with db.write() as conn:
                await conn.execute(sa.text(statement))
    assert (await audit_verify.verify(db)).ok

    async def broken_by(*statements: str) -> audit_verify.Broken:
        """Change the table behind the triggers' back (as the database's owner could), verify,
        and roll it all back."""
        async with db.engine.connect() as conn:
            trans = await conn.begin()
            await _triggers_off(conn, db)
            for statement in statements:
                await conn.execute(sa.text(statement.format(chain=sid)))
            result = await audit_verify.verify_on(conn)
            await trans.rollback()
        assert result.broken is not None, statements
        return result.broken

    where = "WHERE chain = '{chain}' AND seq"
    changed = await broken_by(
        "UPDATE audit_entries SET diff = '{{\"messages\": [1, 400]}}' " + where + " = 3"
    )
    assert (changed.seq, changed.why) == (3, "its content does not match its hash")
    removed = await broken_by("DELETE FROM audit_entries " + where + " = 4")
    assert removed.seq == 4 and "missing" in removed.why
    swapped = await broken_by(
        "UPDATE audit_entries SET seq = -2 " + where + " = 2",
        "UPDATE audit_entries SET seq = 2 " + where + " = 5",
        "UPDATE audit_entries SET seq = 5 " + where + " = -2",
    )
    assert swapped.seq == 2 and "link" in swapped.why
    last = await broken_by("DELETE FROM audit_entries " + where + " = 7")
    assert "removed" in last.why
    assert (await audit_verify.verify(db)).ok  # all of it was rolled back

    # audit retention cuts the chain at its old end only, and the cut verifies; a chain
    # that starts anywhere else does not
    await set_retention(db, key, {"audit": 30})
    p = Privacy.build(db, None, Settings(database_url=db.url))
    [run] = await p.retention.run(key, now=utcnow() + timedelta(days=31))
    assert run.counts["audit_entries"] == 8
    assert (await audit_verify.verify(db)).ok
    async with db.read() as conn:
        first = await conn.scalar(
            sa.select(sa.func.min(audit_entries.c.seq)).where(audit_entries.c.chain == sid)
        )
    assert first == 9
    await set_retention(db, key, {"audit": 30})  # seq 10
    cut_first = await broken_by("DELETE FROM audit_entries " + where + " = 9")
    assert "no run cut" in cut_first.why


async def _triggers_off(conn: Any, db: Database) -> None:
    if db.sqlite:
        await conn.execute(sa.text("DROP TRIGGER audit_entries_no_update"))
        await conn.execute(sa.text("DROP TRIGGER audit_entries_no_delete"))
    else:
        await conn.execute(sa.text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))
