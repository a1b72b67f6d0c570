"""A visitor's rights: erasure (GDPR article 17) and access (article 15), in one space.

Erasure finds the visitors one identifier names in the space (an id, a verified external
id, an email, a phone number), then, for each, in one transaction with its audit entry:
every message of its conversations is deleted (the agents' replies too), its notes, goal
events, read marks and the comments of its ratings; what aggregates count stays, moved to
an anonymous profile with no identity (conversations with their counters and tags, scores,
exposures, conversions), so a report counts the same conversations as before; its profile
is deleted. What a legal hold keeps is left as it is and named in the answer with the
hold's reason. After the commit its sockets are closed on every node (close 4002) and its
tokens stop working (they name a visitor that no longer exists); its rate-limit counters
are forgotten. A ``visitor.erased`` event for the space's webhooks (chat/outbox.py) goes in
the same transaction, naming the visitor by the digest the audit entry keeps; the visitor's
queued events are deleted with the rest.

The access export reads everything the space holds about one visitor, from the core's
tables and every keeper's, as one JSON document (or a zip of it with a SHA-256 manifest).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from chat.audit import Actor, record
from chat.clock import iso, utcnow
from chat.db import Database
from chat.errors import InvalidRequest, NotFound
from chat.events import CloseSockets, Event
from chat.holds import active_holds
from chat.hub import Hub
from chat.keeper import Counts, Keeper
from chat.logging import get_logger
from chat.models import spaces
from chat.outbox import EventsKeeper, Outbox
from chat.principals import visitor_channel
from chat.profiles import ProfileKeeper, normal_phone
from chat.receipts import ReceiptKeeper
from chat.transcripts import Transcripts
from chat.types import CloseCode

__all__ = [
    "Erasure",
    "ErasureResult",
    "access_zip",
    "close_event",
    "closer",
    "identifier_digest",
]

log = get_logger("causette.erasure")

EXPORT_FORMAT = 1


def identifier_digest(value: str) -> str:
    """What the audit trail keeps of an identifier it must not keep: its SHA-256, which
    matches the identifier a request names, and tells nothing else."""
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


@dataclass(slots=True)
class ErasureResult:
    space_key: str
    by: str  # visitor, external_id, email or phone
    visitors: int = 0  # visitors found
    counts: Counts = field(default_factory=dict)
    held: list[dict[str, Any]] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        return {
            "space": self.space_key,
            "by": self.by,
            "visitors": self.visitors,
            "counts": dict(sorted(self.counts.items())),
            "held": self.held,
        }


def _add(total: Counts, more: Counts) -> None:
    for k, v in more.items():
        total[k] = total.get(k, 0) + v


class Erasure:
    def __init__(
        self, db: Database, keepers: Iterable[Keeper] = (), outbox: Outbox | None = None
    ) -> None:
        self.db = db
        self.keepers = [*keepers, ReceiptKeeper(), EventsKeeper()]
        self.outbox = outbox or Outbox()
        self.profiles = ProfileKeeper()
        self.transcripts = Transcripts()
        # told of each erased visitor after the commit: close its sockets on every node,
        # forget its counters and whatever a cache holds of it
        self.after: list[Callable[[str], Awaitable[None]]] = []

    async def space(self, key: str) -> str:
        async with self.db.read() as conn:
            space_id = await conn.scalar(sa.select(spaces.c.id).where(spaces.c.key == key))
        if space_id is None:
            raise NotFound(f"No such space: {key}", code="space_not_found")
        return str(space_id)

    async def erase(
        self,
        actor: Actor,
        space_key: str,
        *,
        visitor_id: str | None = None,
        external_id: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        reason: str | None = None,
    ) -> ErasureResult:
        given = {
            k: v
            for k, v in (
                ("visitor", visitor_id),
                ("external_id", external_id),
                ("email", email),
                ("phone", phone),
            )
            if v is not None
        }
        if len(given) != 1:
            raise InvalidRequest(
                "Name the visitor by exactly one of: visitor id, external id, email, phone."
            )
        ((by, value),) = given.items()
        if not str(value).strip():
            raise InvalidRequest(f"The {by.replace('_', ' ')} is empty.")
        if by == "phone" and normal_phone(str(value)) is None:
            raise InvalidRequest(
                "Not a phone number: give it in international form, such as +33 6 12 34 56 78."
            )
        space_id = await self.space(space_key)
        result = ErasureResult(space_key, by)
        async with self.db.read() as conn:
            found = await self.profiles.find(
                conn,
                space_id,
                visitor_id=visitor_id,
                external_id=external_id,
                email=email,
                phone=phone,
            )
        columns = [c for k in self.keepers for c in k.visitor_columns()]
        erased: list[str] = []
        for vid in found:
            result.visitors += 1
            async with self.db.write() as conn:
                holds = await active_holds(conn, space_id)
                kept = holds.reasons_for_visitor(vid)
                counts: Counts = {}
                if kept:
                    result.held += [{**h, "kept": "everything of this visitor"} for h in kept]
                else:
                    free, held = await self.transcripts.of_visitor(conn, space_id, vid, holds)
                    twin = await self.profiles.anonymous_twin(conn, space_id, vid)
                    for keeper in self.keepers:
                        _add(
                            counts,
                            await keeper.erase_visitor(conn, space_id, vid, twin, free, holds),
                        )
                    _add(counts, await self.transcripts.erase(conn, twin, free))
                    if held:
                        result.held += [
                            {**h, "kept": f"conversation {cid}"}
                            for cid in held
                            for h in _conversation_holds(holds, cid)
                        ]
                    else:
                        _add(counts, {"visitors": await self.profiles.delete(conn, vid)})
                    await self.profiles.drop_if_unused(conn, twin, columns)
                    erased.append(vid)
                _add(result.counts, counts)
                await record(
                    conn,
                    actor,
                    "visitor.erase",
                    space_id=space_id,
                    target_kind="visitor",
                    target_id=identifier_digest(vid),
                    target={"by": by, "identifier": identifier_digest(str(value).strip())},
                    outcome="ok" if not kept else "denied",
                    diff={"deleted": dict(sorted(counts.items()))},
                    reason=reason or (kept[0]["reason"] if kept else None),
                )
                if not kept:
                    await self.outbox.emit(
                        conn,
                        space_id,
                        "visitor.erased",
                        {
                            "visitor_digest": identifier_digest(vid),
                            "counts": dict(sorted(counts.items())),
                            "held": bool(result.held),
                        },
                    )
        if not found:
            async with self.db.write() as conn:
                await record(
                    conn,
                    actor,
                    "visitor.erase",
                    space_id=space_id,
                    target_kind="visitor",
                    target={"by": by, "identifier": identifier_digest(str(value).strip())},
                    outcome="failed",
                    reason=reason or "no visitor matched",
                )
        for vid in erased:
            for then in self.after:
                try:
                    await then(vid)
                except Exception as exc:  # the erasure is done; its tokens are refused anyway
                    log.warning("erasure_follow_up_failed", error=type(exc).__name__)
        return result

    # -- access ---------------------------------------------------------------------------

    async def export(self, actor: Actor, space_key: str, visitor_id: str) -> dict[str, Any]:
        """Everything the space holds about the visitor, as one JSON-ready document."""
        space_id = await self.space(space_key)
        async with self.db.read() as conn:
            profile = await self.profiles.data(conn, space_id, visitor_id)
            if not profile:
                raise NotFound("No such visitor.", code="visitor_not_found")
            doc: dict[str, Any] = {
                "format": EXPORT_FORMAT,
                "generated_at": iso(utcnow()),
                "space": space_key,
                "visitor_id": visitor_id,
                **profile,
            }
            doc.update(await self.transcripts.data(conn, space_id, visitor_id))
            ids = [c["id"] for c in doc["conversations"]]
            for keeper in self.keepers:
                for section, rows in (
                    await keeper.visitor_data(conn, space_id, visitor_id, ids)
                ).items():
                    doc[section] = rows
        async with self.db.write() as conn:
            await record(
                conn,
                actor,
                "visitor.export",
                space_id=space_id,
                target_kind="visitor",
                target_id=identifier_digest(visitor_id),
                target={"conversations": len(ids)},
            )
        return doc


def closer(hub: Hub) -> Callable[[str], Awaitable[None]]:
    """Close an erased visitor's sockets on every node (close 4002)."""

    async def close(visitor_id: str) -> None:
        hub.publish([visitor_channel(visitor_id)], close_event())

    return close


def close_event() -> Event:
    return Event.control(CloseSockets(int(CloseCode.ERASED)))


def _conversation_holds(holds: Any, conversation_id: str) -> list[dict[str, Any]]:
    found = [
        {"hold": h.id, "scope": h.scope, "reason": h.reason}
        for h in holds.holds
        if h.scope == "range" or h.conversation_id == conversation_id
    ]
    return found or [{"hold": None, "scope": "conversation", "reason": "held"}]


def access_zip(doc: dict[str, Any]) -> bytes:
    """The export as a zip: ``export.json`` and ``manifest.json``, which gives each file's
    size and SHA-256 (``sha256sum -c`` reads ``SHA256SUMS``, the same sums)."""
    body = json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True).encode()
    digest = hashlib.sha256(body).hexdigest()
    manifest = {
        "format": EXPORT_FORMAT,
        "generated_at": doc.get("generated_at"),
        "space": doc.get("space"),
        "visitor_id": doc.get("visitor_id"),
        "files": [{"name": "export.json", "bytes": len(body), "sha256": digest}],
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("export.json", body)
        z.writestr("manifest.json", json.dumps(manifest, indent=2, sort_keys=True))
        z.writestr("SHA256SUMS", f"{digest}  export.json\n")
    return out.getvalue()
