"""The audit trail: one row per action that changes who can do what or what is kept.

Each owner writes its action's entry with ``record`` on its own connection, inside the unit
of work that makes the change: the change and its entry commit together or not at all.
Entries are append-only (the database's triggers refuse UPDATE, and DELETE outside the
retention job's gate) and hash-chained per space: an entry's ``hash`` is SHA-256 over the
previous entry's hash and the canonical JSON of its own fields, and ``seq`` numbers the
chain without gaps; chat/audit_verify.py walks every chain and names the first entry that
was changed, removed or moved. The deployment's own actions (sign-ins, agents, a retention
run over every space) form the chain ``""``; their space is null.

When retention removes a chain's oldest entries (``purge_expired``), the run's entry records
where the chain now starts: the verifier accepts that start and no other.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from chat.clock import as_utc, iso, utcnow
from chat.db import Database
from chat.models import audit_entries, audit_gate, audit_heads

__all__ = [
    "GENESIS",
    "HASHED",
    "SYSTEM",
    "Actor",
    "AuditEntry",
    "chain_of",
    "entries",
    "entry_hash",
    "record",
]

GENESIS = "0" * 64
ActorKind = Literal["agent", "api_key", "system"]
Outcome = Literal["ok", "denied", "failed"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acted, as they were then (the name is a snapshot: it outlives the agent), and
    from where."""

    kind: ActorKind
    id: str | None = None
    name: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


SYSTEM = Actor("system", name="causette")


def chain_of(space_id: str | None) -> str:
    return space_id or ""


def _plain(value: Any) -> Any:
    """What JSON keeps as it is, so that the hash computed now is the one read back."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(_plain(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


HASHED = (
    "chain",
    "seq",
    "at",
    "space_id",
    "actor_kind",
    "actor_id",
    "actor_name",
    "ip",
    "user_agent",
    "request_id",
    "action",
    "target_kind",
    "target_id",
    "target",
    "outcome",
    "diff",
    "reason",
    "prev_hash",
)


def canonical(row: Mapping[str, Any]) -> str:
    """The entry's fields as one canonical JSON text (sorted keys, no spaces, UTC times to
    the microsecond)."""
    fields = {name: row.get(name) for name in HASHED}
    if isinstance(fields["at"], datetime):
        fields["at"] = iso(fields["at"])
    return json.dumps(
        _plain(fields), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def entry_hash(row: Mapping[str, Any]) -> str:
    prev = str(row.get("prev_hash") or GENESIS)
    return hashlib.sha256(f"{prev}\n{canonical(row)}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    chain: str
    seq: int
    at: datetime
    space_id: str | None
    actor: Actor
    action: str
    target_kind: str | None
    target_id: str | None
    target: Any
    outcome: str
    diff: Any
    reason: str | None
    prev_hash: str
    hash: str

    def public(self, space_key: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "seq": self.seq,
            "at": iso(self.at),
            "space": space_key,
            "space_id": self.space_id,
            "actor": {
                "kind": self.actor.kind,
                "id": self.actor.id,
                "name": self.actor.name,
                "ip": self.actor.ip,
                "user_agent": self.actor.user_agent,
            },
            "request_id": self.actor.request_id,
            "action": self.action,
            "target": {"kind": self.target_kind, "id": self.target_id, "snapshot": self.target},
            "outcome": self.outcome,
            "diff": self.diff,
            "reason": self.reason,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        chain=row.chain,
        seq=row.seq,
        at=as_utc(row.at),
        space_id=row.space_id,
        actor=Actor(
            row.actor_kind, row.actor_id, row.actor_name, row.ip, row.user_agent, row.request_id
        ),
        action=row.action,
        target_kind=row.target_kind,
        target_id=row.target_id,
        target=row.target,
        outcome=row.outcome,
        diff=row.diff,
        reason=row.reason,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def _insert_head(conn: AsyncConnection) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(audit_heads)


async def record(
    conn: AsyncConnection,
    actor: Actor,
    action: str,
    *,
    space_id: str | None = None,
    target_kind: str | None = None,
    target_id: str | None = None,
    target: Any = None,
    outcome: Outcome = "ok",
    diff: Mapping[str, Any] | None = None,
    reason: str | None = None,
) -> int:
    """Append one entry to the space's chain, on ``conn`` (the change's own transaction).
    Returns its seq. The chain's head row is locked until the transaction ends, so entries
    of one space are chained one after the other on every node."""
    chain = chain_of(space_id)
    await conn.execute(
        _insert_head(conn).values(chain=chain, seq=0, hash=GENESIS).on_conflict_do_nothing()
    )
    head = sa.select(audit_heads.c.seq, audit_heads.c.hash).where(audit_heads.c.chain == chain)
    if conn.dialect.name == "postgresql":
        head = head.with_for_update()
    last = (await conn.execute(head)).one()
    row: dict[str, Any] = {
        "chain": chain,
        "seq": last.seq + 1,
        "at": utcnow(),
        "space_id": space_id,
        "actor_kind": actor.kind,
        "actor_id": actor.id,
        "actor_name": _text(actor.name, 200),
        "ip": _text(actor.ip, 64),
        "user_agent": _text(actor.user_agent, 512),
        "request_id": _text(actor.request_id, 64),
        "action": action,
        "target_kind": target_kind,
        "target_id": _text(target_id, 200),
        "target": _plain(target),
        "outcome": outcome,
        "diff": _plain(dict(diff)) if diff else None,
        "reason": reason,
        "prev_hash": last.hash,
    }
    row["hash"] = entry_hash(row)
    await conn.execute(audit_entries.insert().values(**row))
    await conn.execute(
        audit_heads.update()
        .where(audit_heads.c.chain == chain)
        .values(seq=row["seq"], hash=row["hash"])
    )
    return int(row["seq"])


def _text(value: str | None, limit: int) -> str | None:
    return None if value is None else value[:limit]


def diff_of(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """{field: [before, after]} of the fields that changed."""
    return {
        k: [_plain(before.get(k)), _plain(after.get(k))]
        for k in sorted(set(before) | set(after))
        if _plain(before.get(k)) != _plain(after.get(k))
    }


# -- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Filters:
    action: str | None = None  # an action, or a prefix ending in "." (campaign.)
    actor: str | None = None  # an actor's id or name
    target: str | None = None  # a target's id
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def entries(
    db: Database,
    space_ids: Collection[str | None],
    filters: Filters = Filters(),
    *,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """The newest entries first, of these spaces (None: the deployment's own)."""
    chains = [chain_of(s) for s in space_ids]
    q = sa.select(audit_entries).where(audit_entries.c.chain.in_(chains))
    if filters.action:
        if filters.action.endswith("."):
            q = q.where(audit_entries.c.action.startswith(filters.action, autoescape=True))
        else:
            q = q.where(audit_entries.c.action == filters.action)
    if filters.actor:
        q = q.where(
            sa.or_(
                audit_entries.c.actor_id == filters.actor,
                audit_entries.c.actor_name == filters.actor,
            )
        )
    if filters.target:
        q = q.where(audit_entries.c.target_id == filters.target)
    if filters.outcome:
        q = q.where(audit_entries.c.outcome == filters.outcome)
    if filters.since:
        q = q.where(audit_entries.c.at >= filters.since)
    if filters.until:
        q = q.where(audit_entries.c.at < filters.until)
    if before_id is not None:
        q = q.where(audit_entries.c.id < before_id)
    q = q.order_by(audit_entries.c.id.desc()).limit(limit)
    async with db.read() as conn:
        return [_entry(r) for r in await conn.execute(q)]


async def stream(
    db: Database,
    space_ids: Collection[str | None] | None,
    since: datetime | None = None,
    *,
    page: int = 5000,
) -> AsyncIterator[AuditEntry]:
    """Every entry in chain order, oldest first (the whole deployment when ``space_ids`` is
    None), read in keyset pages."""
    last: tuple[str, int] = ("", -1)
    while True:
        q = sa.select(audit_entries).where(
            sa.tuple_(audit_entries.c.chain, audit_entries.c.seq) > sa.tuple_(*last)
        )
        if space_ids is not None:
            q = q.where(audit_entries.c.chain.in_([chain_of(s) for s in space_ids]))
        if since is not None:
            q = q.where(audit_entries.c.at >= since)
        q = q.order_by(audit_entries.c.chain, audit_entries.c.seq).limit(page)
        async with db.read() as conn:
            rows = (await conn.execute(q)).all()
        if not rows:
            return
        for row in rows:
            yield _entry(row)
        last = (rows[-1].chain, rows[-1].seq)


# -- retention (chat/retention.py) ------------------------------------------------------------


async def _cut_seq(
    conn: AsyncConnection, space_id: str, cutoff: datetime, keeps: sa.ColumnElement[bool]
) -> tuple[int, int]:
    """(how many entries retention may delete, the last seq it may delete): the chain's
    oldest entries up to the first that is recent or held."""
    chain = chain_of(space_id)
    a = audit_entries.c
    keep = await conn.scalar(
        sa.select(sa.func.min(a.seq)).where(a.chain == chain, sa.or_(a.at >= cutoff, keeps))
    )
    if keep is None:
        keep = (await conn.scalar(sa.select(sa.func.max(a.seq)).where(a.chain == chain)) or 0) + 1
    cut = int(keep) - 1
    n = await conn.scalar(sa.select(sa.func.count()).where(a.chain == chain, a.seq <= cut))
    return int(n or 0), cut


async def count_expired(
    conn: AsyncConnection, space_id: str, cutoff: datetime, keeps: sa.ColumnElement[bool]
) -> int:
    n, _ = await _cut_seq(conn, space_id, cutoff, keeps)
    return n


async def purge_expired(
    conn: AsyncConnection,
    space_id: str,
    cutoff: datetime,
    keeps: sa.ColumnElement[bool],
    limit: int,
) -> tuple[int, tuple[int, str] | None]:
    """Delete at most ``limit`` of the chain's expired entries, oldest first, through the
    gate the triggers open for this transaction only. Returns the count and where the chain
    now starts (its first seq and the hash it links to)."""
    n, cut = await _cut_seq(conn, space_id, cutoff, keeps)
    if n == 0:
        return 0, None
    chain = chain_of(space_id)
    a = audit_entries.c
    last_hash = await conn.scalar(sa.select(a.hash).where(a.chain == chain, a.seq == cut))
    batch = (
        sa.select(a.id)
        .where(a.chain == chain, a.seq <= cut)
        .order_by(a.seq)
        .limit(limit)
        .scalar_subquery()
    )
    token = uuid.uuid4().hex
    await conn.execute(audit_gate.insert().values(token=token))
    result = await conn.execute(audit_entries.delete().where(a.id.in_(batch)))
    await conn.execute(audit_gate.delete().where(audit_gate.c.token == token))
    return int(result.rowcount or 0), (cut + 1, str(last_hash or GENESIS))
