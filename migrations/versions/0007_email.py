"""Email for visitors who left: the outbox of agent replies to mail (one waiting email per
conversation, held while the visitor has a socket open, claimed by one node, retried with
backoff) and each space's delay before a reply is mailed.

Revision ID: 0007_email
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_email"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("spaces", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("email_delay_minutes", sa.Integer(), server_default="5", nullable=False)
        )

    op.create_table(
        "email_outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("conversation_id", sa.String(length=36), nullable=False),
        sa.Column("space_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("due_at", Timestamp, nullable=False),
        sa.Column("held_until", Timestamp, nullable=True),
        sa.Column("held_by", sa.String(length=32), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("claimed_until", Timestamp, nullable=True),
        sa.Column("last_seq", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.Column("sent_at", Timestamp, nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'failed', 'skipped')",
            name=op.f("ck_email_outbox_status"),
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_email_outbox_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["space_id"],
            ["spaces.id"],
            name=op.f("fk_email_outbox_space_id_spaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_outbox")),
    )
    with op.batch_alter_table("email_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_email_outbox_status_due_at", ["status", "due_at"], unique=False)
        batch_op.create_index(
            "ix_email_outbox_conversation_id_id", ["conversation_id", "id"], unique=False
        )
        # at most one email waiting per conversation, on both backends
        batch_op.create_index(
            "uq_email_outbox_pending_conversation",
            ["conversation_id"],
            unique=True,
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("email_outbox", schema=None) as batch_op:
        batch_op.drop_index("uq_email_outbox_pending_conversation")
        batch_op.drop_index("ix_email_outbox_conversation_id_id")
        batch_op.drop_index("ix_email_outbox_status_due_at")

    op.drop_table("email_outbox")
    with op.batch_alter_table("spaces", schema=None) as batch_op:
        batch_op.drop_column("email_delay_minutes")
