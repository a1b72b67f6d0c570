"""Console: teams, assignment, notes, tags, read receipts, canned responses.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.String(length=36)
Timestamp = sa.DateTime(timezone=True)
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # plain ADD COLUMN on both backends (no table rebuild on SQLite); assignee and team are
    # kept consistent by the code that deletes teams, agents are never deleted
    op.add_column(
        "agents", sa.Column("max_chats", sa.Integer(), server_default="5", nullable=False)
    )
    op.add_column("conversations", sa.Column("assignee_id", Id, nullable=True))
    op.add_column("conversations", sa.Column("team_id", Id, nullable=True))
    op.add_column("conversations", sa.Column("assigned_at", Timestamp, nullable=True))
    op.create_index(
        "ix_conversations_assignee_id_status", "conversations", ["assignee_id", "status"]
    )

    op.create_table(
        "teams",
        sa.Column("id", Id, nullable=False),
        sa.Column("space_id", Id, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["space_id"], ["spaces.id"], name=op.f("fk_teams_space_id_spaces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("space_id", "name", name=op.f("uq_teams_space_id_name")),
    )
    op.create_table(
        "team_members",
        sa.Column("team_id", Id, nullable=False),
        sa.Column("agent_id", Id, nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_team_members_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_team_members_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("team_id", "agent_id", name=op.f("pk_team_members")),
    )
    op.create_index("ix_team_members_agent_id", "team_members", ["agent_id"])

    op.create_table(
        "notes",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("conversation_id", Id, nullable=False),
        sa.Column("space_id", Id, nullable=False),
        sa.Column("author_id", Id, nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_notes_conversation_id_conversations"),
        ),
        sa.ForeignKeyConstraint(["space_id"], ["spaces.id"], name=op.f("fk_notes_space_id_spaces")),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["agents.id"],
            name=op.f("fk_notes_author_id_agents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notes")),
    )
    op.create_index("ix_notes_conversation_id", "notes", ["conversation_id"])

    op.create_table(
        "conversation_tags",
        sa.Column("conversation_id", Id, nullable=False),
        sa.Column("tag", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_tags_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", "tag", name=op.f("pk_conversation_tags")),
    )
    op.create_index("ix_conversation_tags_tag", "conversation_tags", ["tag"])

    op.create_table(
        "read_marks",
        sa.Column("conversation_id", Id, nullable=False),
        sa.Column("reader_id", Id, nullable=False),
        sa.Column("reader_kind", sa.String(length=16), nullable=False),
        sa.Column("last_read_seq", sa.Integer(), nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.CheckConstraint(
            "reader_kind IN ('visitor', 'agent')", name=op.f("ck_read_marks_reader_kind")
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_read_marks_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", "reader_id", name=op.f("pk_read_marks")),
    )

    op.create_table(
        "canned_responses",
        sa.Column("id", Id, nullable=False),
        sa.Column("space_id", Id, nullable=False),
        sa.Column("team_id", Id, nullable=True),
        sa.Column("shortcut", sa.String(length=32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["space_id"],
            ["spaces.id"],
            name=op.f("fk_canned_responses_space_id_spaces"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_canned_responses_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canned_responses")),
    )
    op.create_index("ix_canned_responses_space_id", "canned_responses", ["space_id"])


def downgrade() -> None:
    op.drop_index("ix_canned_responses_space_id", table_name="canned_responses")
    op.drop_table("canned_responses")
    op.drop_table("read_marks")
    op.drop_index("ix_conversation_tags_tag", table_name="conversation_tags")
    op.drop_table("conversation_tags")
    op.drop_index("ix_notes_conversation_id", table_name="notes")
    op.drop_table("notes")
    op.drop_index("ix_team_members_agent_id", table_name="team_members")
    op.drop_table("team_members")
    op.drop_table("teams")
    op.drop_index("ix_conversations_assignee_id_status", table_name="conversations")
    with op.batch_alter_table("conversations") as batch_op:
        batch_op.drop_column("assigned_at")
        batch_op.drop_column("team_id")
        batch_op.drop_column("assignee_id")
    with op.batch_alter_table("agents") as batch_op:
        batch_op.drop_column("max_chats")
