"""The console's tables: teams, notes, tags, read marks, canned responses.

They share chat.models' metadata and naming convention; migrations/versions/0003_console.py
creates them. Every row belongs to one space, directly or through its conversation.
"""

from __future__ import annotations

import sqlalchemy as sa

from chat.models import BigId, Id, Timestamp, metadata

__all__ = [
    "canned_responses",
    "conversation_tags",
    "notes",
    "team_members",
    "teams",
]

teams = sa.Table(
    "teams",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("space_id", Id, sa.ForeignKey("spaces.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.UniqueConstraint("space_id", "name"),
)

team_members = sa.Table(
    "team_members",
    metadata,
    sa.Column("team_id", Id, sa.ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("agent_id", Id, sa.ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
    sa.Index("ix_team_members_agent_id", "agent_id"),
)

# private notes live apart from messages: the visitor's seq stream stays contiguous and the
# visitor's replay and the export, which read messages only, never meet them
notes = sa.Table(
    "notes",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("conversation_id", Id, sa.ForeignKey("conversations.id"), nullable=False),
    sa.Column("space_id", Id, sa.ForeignKey("spaces.id"), nullable=False),
    sa.Column("author_id", Id, sa.ForeignKey("agents.id", ondelete="SET NULL")),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Index("ix_notes_conversation_id", "conversation_id"),
)

conversation_tags = sa.Table(
    "conversation_tags",
    metadata,
    sa.Column(
        "conversation_id",
        Id,
        sa.ForeignKey("conversations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("tag", sa.String(40), primary_key=True),
    sa.Index("ix_conversation_tags_tag", "tag"),
)


# no team: for the whole space
canned_responses = sa.Table(
    "canned_responses",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("space_id", Id, sa.ForeignKey("spaces.id", ondelete="CASCADE"), nullable=False),
    sa.Column("team_id", Id, sa.ForeignKey("teams.id", ondelete="CASCADE")),
    sa.Column("shortcut", sa.String(32), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Index("ix_canned_responses_space_id", "space_id"),
)
