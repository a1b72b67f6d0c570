"""Reports: where each conversation started (page, referrer, locale, browser), when it was
first assigned, how often reopened, its messages by author and its first agent message; a
space's business hours, holidays, missed-chat threshold and extra redaction patterns;
conversations by space and creation time.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("entry_url", sa.String(length=2048), nullable=True))
        batch_op.add_column(sa.Column("entry_referrer", sa.String(length=2048), nullable=True))
        batch_op.add_column(sa.Column("entry_locale", sa.String(length=35), nullable=True))
        batch_op.add_column(sa.Column("entry_user_agent", sa.String(length=512), nullable=True))
        batch_op.add_column(
            sa.Column("first_assigned_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("reopened", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("visitor_messages", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("agent_messages", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("first_agent_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_conversations_space_id_created_at", ["space_id", "created_at"], unique=False
        )
    # what is known of the conversations before: their current assignment is their first
    op.execute(
        "UPDATE conversations SET first_assigned_at = assigned_at WHERE assigned_at IS NOT NULL"
    )
    # the counters of the conversations before, from their messages (once, here)
    op.execute(
        "UPDATE conversations SET"
        " visitor_messages = (SELECT count(*) FROM messages m WHERE m.conversation_id ="
        " conversations.id AND m.author_kind = 'visitor'),"
        " agent_messages = (SELECT count(*) FROM messages m WHERE m.conversation_id ="
        " conversations.id AND m.author_kind = 'agent'),"
        " first_agent_at = (SELECT min(m.created_at) FROM messages m WHERE m.conversation_id ="
        " conversations.id AND m.author_kind = 'agent')"
    )

    with op.batch_alter_table("spaces", schema=None) as batch_op:
        batch_op.add_column(sa.Column("business_hours", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("holidays", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("missed_after_seconds", sa.Integer(), server_default="120", nullable=False)
        )
        batch_op.add_column(sa.Column("redaction_patterns", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("spaces", schema=None) as batch_op:
        batch_op.drop_column("redaction_patterns")
        batch_op.drop_column("missed_after_seconds")
        batch_op.drop_column("holidays")
        batch_op.drop_column("business_hours")

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_space_id_created_at")
        batch_op.drop_column("first_agent_at")
        batch_op.drop_column("agent_messages")
        batch_op.drop_column("visitor_messages")
        batch_op.drop_column("reopened")
        batch_op.drop_column("first_assigned_at")
        batch_op.drop_column("entry_user_agent")
        batch_op.drop_column("entry_locale")
        batch_op.drop_column("entry_referrer")
        batch_op.drop_column("entry_url")
