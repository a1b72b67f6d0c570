"""What an owner of tables does for retention, erasure and access requests: a ``Keeper``
over its own tables, handed to chat/retention.py and chat/erasure.py by the composition
root (the core's own keepers are built in)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chat.holds import HoldSet

__all__ = ["Counts", "Keeper", "Ref"]

Counts = dict[str, int]
# a column naming a visitor, and (or None) what of its rows a retention run deletes
Ref = tuple[sa.Column[Any], sa.ColumnElement[bool] | None]


class Keeper:
    """An owner's share of retention, erasure and access requests, over its own tables
    only. Every method does nothing unless overridden."""

    # -- retention ----------------------------------------------------------------------
    async def count_events(
        self, conn: AsyncConnection, space_id: str, cutoff: datetime, holds: HoldSet
    ) -> Counts:
        """How many of its rows of the ``events`` kind are past ``cutoff`` and not held."""
        return {}

    async def purge_events(
        self, conn: AsyncConnection, space_id: str, cutoff: datetime, holds: HoldSet, limit: int
    ) -> Counts:
        """Delete at most ``limit`` of them per table; the counts deleted."""
        return {}

    # the columns of its own tables that name a conversation: their rows go with it, counted
    # and deleted by the two methods below (the owner declares them; tests/test_layers.py
    # counts a table named here as written by the module that names it)
    conversation_columns: ClassVar[tuple[sa.Column[Any], ...]] = ()

    async def count_for_conversations(
        self, conn: AsyncConnection, conversation_ids: sa.Select[Any]
    ) -> Counts:
        """How many of its rows belong to these conversations (a dry run of their purge)."""
        ids = conversation_ids.scalar_subquery()
        counts: Counts = {}
        for column in self.conversation_columns:
            n = await conn.scalar(sa.select(sa.func.count()).where(column.in_(ids)))
            counts[column.table.name] = int(n or 0)
        return counts

    async def delete_for_conversations(
        self, conn: AsyncConnection, conversation_ids: list[str]
    ) -> Counts:
        """Delete its rows of conversations about to be deleted, in the same transaction."""
        counts: Counts = {}
        for column in self.conversation_columns:
            table: sa.Table = column.table
            gone = await conn.execute(table.delete().where(column.in_(conversation_ids)))
            counts[table.name] = int(gone.rowcount or 0)
        return counts

    def visitor_columns(self) -> list[sa.Column[Any]]:
        """Its columns that name a visitor: a profile stays while any row names it."""
        return []

    def visitor_refs(
        self, space_id: str, cutoffs: Mapping[str, datetime], holds: HoldSet
    ) -> list[Ref]:
        """Its columns that name a visitor, each with what of its rows the same retention
        run deletes (``cutoffs``: the run's, by kind), or None when it deletes none: a
        profile expires only when no row that stays names it, so a dry run counts the
        profiles the run frees too."""
        return [(column, None) for column in self.visitor_columns()]

    # -- erasure and access (chat/erasure.py) -------------------------------------------
    async def erase_visitor(
        self,
        conn: AsyncConnection,
        space_id: str,
        visitor_id: str,
        anonymous_id: str,
        conversation_ids: list[str],
        holds: HoldSet,
    ) -> Counts:
        """Delete what it holds of the visitor, and move what must stay for aggregates to
        ``anonymous_id`` (the profile left with no identity). ``conversation_ids``: the
        visitor's conversations not held, whose content goes; ``holds``: what else is
        held (rows dated in a held range stay)."""
        return {}

    async def visitor_data(
        self, conn: AsyncConnection, space_id: str, visitor_id: str, conversation_ids: list[str]
    ) -> dict[str, Any]:
        """What it holds of the visitor, for an access request: {section: [rows]}."""
        return {}
