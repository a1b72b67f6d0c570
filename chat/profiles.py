"""Visitor profiles: who the visitor is (identify, contact), what the site says about it
(attributes) and where it is (context).

Each change is one write transaction on the visitor's row and returns the new profile, or
None when nothing changed (a reconnecting widget resends its context: agents hear of it once).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from chat.clock import iso, utcnow
from chat.db import Database, is_outage
from chat.errors import IdentityRefused, InvalidFrame, StoreUnavailable
from chat.frames import VisitorFrame
from chat.holds import HoldSet
from chat.identity import signature_matches
from chat.keeper import Ref
from chat.models import conversations, spaces, visitors
from chat.principals import VisitorPrincipal
from chat.protocol import MAX_ATTRIBUTES, Attributes, Contact, Context, Identify

__all__ = ["Profiles", "VisitorProfile", "delete_space_visitors"]


@dataclass(frozen=True, slots=True)
class VisitorProfile:
    id: str
    space_id: str
    name: str | None
    email: str | None
    external_id: str | None
    verified: bool  # external_id was signed with the space's identity secret
    attributes: dict[str, Any]
    context: dict[str, Any]  # url, referrer, locale, title, user_agent, updated_at
    conversation_id: str | None  # the visitor's open conversation, if any

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "external_id": self.external_id,
            "verified": self.verified,
            "attributes": self.attributes,
            "context": self.context,
        }

    def frame(self) -> VisitorFrame:
        """What agents of the space receive whenever the profile changes."""
        return VisitorFrame(self.conversation_id, self.public())


_open_conversation = (
    sa.select(conversations.c.id)
    .where(conversations.c.visitor_id == visitors.c.id, conversations.c.status == "open")
    .limit(1)
    .scalar_subquery()
    .label("open_conversation_id")
)


def _profile(row: Any) -> VisitorProfile:
    return VisitorProfile(
        id=row.id,
        space_id=row.space_id,
        name=row.name,
        email=row.email,
        external_id=row.external_id,
        verified=bool(row.identity_verified),
        attributes=dict(row.attributes or {}),
        context=dict(row.context or {}),
        conversation_id=row.open_conversation_id,
    )


def _same(a: Any, b: Any) -> bool:
    """JSON equality: True and 1 are different attribute values."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


class Profiles:
    """The owner of the visitors table: visitors are made and described here."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, space_id: str) -> str:
        """A new visitor of the space: its id."""
        visitor_id = str(uuid.uuid4())
        async with self.db.write() as conn:
            await conn.execute(
                visitors.insert().values(id=visitor_id, space_id=space_id, created_at=utcnow())
            )
        return visitor_id

    async def get(self, visitor_id: str, space_ids: Collection[str]) -> VisitorProfile | None:
        """The profile of a visitor of one of these spaces, else None."""
        if not space_ids:
            return None
        async with self.db.read() as conn:
            return await self._load(conn, visitor_id, space_ids)

    async def apply(
        self,
        visitor: VisitorPrincipal,
        frame: Context | Identify | Contact | Attributes,
        *,
        user_agent: str = "",
    ) -> VisitorProfile | None:
        """Apply one frame of the visitor's; the new profile, or None if nothing changed."""
        if isinstance(frame, Context):  # resent on every reconnect: look before taking a lock
            async with self.db.read() as conn:
                current = (
                    await conn.execute(
                        sa.select(visitors.c.context).where(visitors.c.id == visitor.id)
                    )
                ).scalar_one_or_none()
            if not _context(current, frame, user_agent):
                return None
        for _attempt in range(3):
            try:
                async with self.db.write() as conn:
                    row = (
                        await conn.execute(
                            sa.select(visitors, spaces.c.identity_secret, spaces.c.identity_mode)
                            .select_from(visitors.join(spaces, spaces.c.id == visitors.c.space_id))
                            .where(
                                visitors.c.id == visitor.id, visitors.c.space_id == visitor.space_id
                            )
                            .with_for_update(of=visitors)
                        )
                    ).first()
                    if row is None:  # erased meanwhile: its sockets are being closed
                        return None
                    if isinstance(frame, Context):
                        changes = _context(row.context, frame, user_agent)
                    elif isinstance(frame, Identify):
                        changes = await _identify(conn, row, frame)
                    elif isinstance(frame, Contact):
                        changes = _contact(row, frame)
                    else:
                        changes = _attributes(row, frame)
                    if not changes:
                        return None
                    await conn.execute(
                        visitors.update().where(visitors.c.id == visitor.id).values(**changes)
                    )
                    return await self._load(conn, visitor.id, [visitor.space_id])
            except IntegrityError:
                continue  # another visitor took the same external_id at the same moment
            except (DBAPIError, OSError) as exc:
                if not is_outage(exc):
                    raise
                raise StoreUnavailable() from exc
        raise StoreUnavailable("The profile could not be saved; try again.")

    @staticmethod
    async def _load(
        conn: AsyncConnection, visitor_id: str, space_ids: Collection[str]
    ) -> VisitorProfile | None:
        row = (
            await conn.execute(
                sa.select(visitors, _open_conversation).where(
                    visitors.c.id == visitor_id, visitors.c.space_id.in_(list(space_ids))
                )
            )
        ).first()
        return _profile(row) if row else None


def _context(current: Any, frame: Context, user_agent: str) -> dict[str, Any]:
    new = {
        "url": frame.url,
        "referrer": frame.referrer,
        "locale": frame.locale,
        "title": frame.title,
        "user_agent": user_agent[:512],
    }
    old = current or {}
    if all(old.get(k) == v for k, v in new.items()):
        return {}
    return {"context": {**new, "updated_at": iso(utcnow())}}


async def _identify(conn: AsyncConnection, row: Any, frame: Identify) -> dict[str, Any]:
    mode = row.identity_mode
    verified = False
    if mode != "off" and frame.signature is not None:
        secret = row.identity_secret
        if not secret or not signature_matches(secret, frame.id, frame.signature):
            raise IdentityRefused()
        verified = True
    elif mode == "enforce":
        raise IdentityRefused("This site signs its visitors' identities: this one is not signed.")
    # the same person again keeps what was verified before
    verified = verified or (bool(row.identity_verified) and row.external_id == frame.id)
    external_id: str | None = frame.id
    holder = (
        await conn.execute(
            sa.select(visitors.c.id, visitors.c.identity_verified)
            .where(
                visitors.c.space_id == row.space_id,
                visitors.c.external_id == frame.id,
                visitors.c.id != row.id,
            )
            .with_for_update()
        )
    ).first()
    if holder is not None:
        if verified or not holder.identity_verified:
            # the id moves to the visitor who identified last (a new browser, a new device)
            await conn.execute(
                visitors.update()
                .where(visitors.c.id == holder.id)
                .values(external_id=None, identity_verified=False)
            )
        else:
            external_id = None  # an unverified claim never takes a verified identity
    switching = row.external_id is not None and row.external_id != external_id
    name = frame.name if frame.name is not None else (None if switching else row.name)
    email = frame.email if frame.email is not None else (None if switching else row.email)
    new = {
        "external_id": external_id,
        "identity_verified": verified and external_id is not None,
        "name": name or None,
        "email": email or None,
    }
    return {k: v for k, v in new.items() if getattr(row, k) != v}


def _contact(row: Any, frame: Contact) -> dict[str, Any]:
    """A verified identity's name and email win over what was typed into a form."""
    changes: dict[str, Any] = {}
    for field in ("name", "email"):
        value = getattr(frame, field) or None
        current = getattr(row, field)
        if value is None or value == current:
            continue
        if row.identity_verified and current:
            continue
        changes[field] = value
    return changes


def _attributes(row: Any, frame: Attributes) -> dict[str, Any]:
    attributes = dict(row.attributes or {})
    for key, value in frame.attributes.items():
        if value is None:
            attributes.pop(key, None)
        else:
            attributes[key] = value
    if len(attributes) > MAX_ATTRIBUTES:
        raise InvalidFrame(f"A visitor has at most {MAX_ATTRIBUTES} attributes.")
    if _same(attributes, row.attributes or {}):
        return {}
    return {"attributes": attributes}


async def delete_space_visitors(conn: AsyncConnection, space_id: str) -> int:
    """Delete a space's visitors, inside the transaction that deletes the space (chat/spaces.py
    ``delete_space``), after what refers to them. The number deleted."""
    deleted = await conn.execute(visitors.delete().where(visitors.c.space_id == space_id))
    return int(deleted.rowcount)


# -- retention, erasure and access (chat/retention.py, chat/erasure.py) ----------------------

PHONE_ATTRIBUTES = ("phone", "phone_number", "mobile", "telephone", "tel")


def normal_email(value: str) -> str:
    return value.strip().lower()


def normal_phone(value: str, region: str | None = None) -> str | None:
    """E.164 (+33612345678), or None when it is no phone number."""
    import phonenumbers

    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class ProfileKeeper:
    """What retention and erasure do to the visitors table."""

    @staticmethod
    def _expired(
        space_id: str, cutoff: datetime, holds: HoldSet, refs: Sequence[Ref]
    ) -> sa.Select[Any]:
        """Profiles older than ``cutoff``, not held, named by no row that stays (``refs``:
        every column that names a visitor, with the rows of it the same run deletes)."""
        v = visitors.c
        unused = [
            ~sa.exists().where(col == v.id, *([] if gone is None else [sa.not_(gone)]))
            for col, gone in refs
        ]
        return sa.select(v.id).where(
            v.space_id == space_id,
            v.created_at < cutoff,
            sa.not_(holds.keeps_visitor(v.id, v.created_at)),
            *unused,
        )

    async def count_expired(
        self,
        conn: AsyncConnection,
        space_id: str,
        cutoff: datetime,
        holds: HoldSet,
        refs: Sequence[Ref],
    ) -> dict[str, int]:
        q = self._expired(space_id, cutoff, holds, refs)
        n = await conn.scalar(sa.select(sa.func.count()).select_from(q.subquery()))
        return {"visitors": int(n or 0)}

    async def purge_expired(
        self,
        conn: AsyncConnection,
        space_id: str,
        cutoff: datetime,
        holds: HoldSet,
        refs: Sequence[Ref],
        limit: int,
    ) -> dict[str, int]:
        batch = self._expired(space_id, cutoff, holds, refs).limit(limit).scalar_subquery()
        result = await conn.execute(visitors.delete().where(visitors.c.id.in_(batch)))
        return {"visitors": int(result.rowcount or 0)}

    @staticmethod
    async def find(
        conn: AsyncConnection,
        space_id: str,
        *,
        visitor_id: str | None = None,
        external_id: str | None = None,
        email: str | None = None,
        phone: str | None = None,
    ) -> list[str]:
        """The visitors of the space one identifier names: an id, a verified external id,
        an email (any case), a phone number (any format of the same number, in a phone
        attribute)."""
        v = visitors.c
        base = sa.select(v.id).where(v.space_id == space_id, v.erased_at.is_(None))
        if visitor_id is not None:
            return list((await conn.execute(base.where(v.id == visitor_id))).scalars())
        if external_id is not None:
            q = base.where(v.external_id == external_id, v.identity_verified.is_(True))
            return list((await conn.execute(q)).scalars())
        if email is not None:
            q = base.where(sa.func.lower(v.email) == normal_email(email)).order_by(v.id)
            return list((await conn.execute(q)).scalars())
        if phone is None:
            return []
        import phonenumbers

        wanted = normal_phone(phone)
        if wanted is None:
            return []
        region = phonenumbers.region_code_for_number(phonenumbers.parse(wanted))
        found = []
        q = sa.select(v.id, v.attributes).where(
            v.space_id == space_id, v.erased_at.is_(None), v.attributes.is_not(None)
        )
        for row in await conn.execute(q):
            attributes = row.attributes if isinstance(row.attributes, dict) else {}
            for key in PHONE_ATTRIBUTES:
                value = attributes.get(key)
                if isinstance(value, str | int) and normal_phone(str(value), region) == wanted:
                    found.append(row.id)
                    break
        return sorted(found)

    @staticmethod
    async def anonymous_twin(conn: AsyncConnection, space_id: str, visitor_id: str) -> str:
        """A profile with no identity, contact or context, to which what must stay for
        aggregates (conversations, exposures, ratings) is moved."""
        created = await conn.scalar(
            sa.select(visitors.c.created_at).where(visitors.c.id == visitor_id)
        )
        twin = str(uuid.uuid4())
        now = utcnow()
        await conn.execute(
            visitors.insert().values(
                id=twin, space_id=space_id, created_at=created or now, erased_at=now
            )
        )
        return twin

    @staticmethod
    async def drop_if_unused(
        conn: AsyncConnection, visitor_id: str, columns: Sequence[sa.Column[Any]]
    ) -> None:
        """Delete an anonymous profile nothing was moved to."""
        v = visitors.c
        await conn.execute(
            visitors.delete().where(
                v.id == visitor_id,
                ~sa.exists().where(conversations.c.visitor_id == v.id),
                *(~sa.exists().where(col == v.id) for col in columns),
            )
        )

    @staticmethod
    async def delete(conn: AsyncConnection, visitor_id: str) -> int:
        result = await conn.execute(visitors.delete().where(visitors.c.id == visitor_id))
        return int(result.rowcount or 0)

    @staticmethod
    async def data(conn: AsyncConnection, space_id: str, visitor_id: str) -> dict[str, Any]:
        row = (
            await conn.execute(
                sa.select(visitors).where(
                    visitors.c.id == visitor_id, visitors.c.space_id == space_id
                )
            )
        ).first()
        if row is None:
            return {}
        return {
            "profile": {
                "id": row.id,
                "created_at": iso(row.created_at),
                "name": row.name,
                "email": row.email,
                "external_id": row.external_id,
                "identity_verified": row.identity_verified,
                "attributes": row.attributes or {},
                "context": row.context or {},
            }
        }
