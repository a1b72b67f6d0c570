"""Deleting a space: the one list of what goes with it, in the order the keys allow.

chat/spaces.py ``delete_space`` runs the transaction; each table's owner deletes its own rows
in it: notes and campaign tracking first (they refer to visitors and conversations), then
the conversations with their messages, then the visitors, then the space's row, whose
cascading keys take its origins, memberships, teams, canned responses and campaigns.
"""

from __future__ import annotations

from agents.annotation import delete_space_notes
from agents.campaigns.tracking import delete_space_tracking
from chat.audit import SYSTEM, Actor
from chat.db import Database
from chat.profiles import delete_space_visitors
from chat.spaces import Cleanup, delete_space
from chat.store import delete_space_conversations

__all__ = ["CLEANUPS", "remove_space"]

CLEANUPS: tuple[Cleanup, ...] = (
    delete_space_notes,
    delete_space_tracking,
    delete_space_conversations,
    delete_space_visitors,
)


async def remove_space(db: Database, key: str, *, purge: bool, actor: Actor = SYSTEM) -> int:
    """Delete the space and all it holds (refused while it holds conversations unless
    ``purge``); the number of conversations deleted."""
    return await delete_space(db, key, purge=purge, cleanups=CLEANUPS, actor=actor)
