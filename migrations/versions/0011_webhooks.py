"""Webhooks: the events outbox (what happened, written in the transaction that made it
happen), each space's endpoints with their signing secrets, and each event's delivery to
each endpoint (claimed by one node with a lease, retried on a schedule, its last answer kept).

Revision ID: 0011_webhooks
Revises: 0010_api_keys
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_webhooks"
down_revision: str | None = "0010_api_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Id = sa.String(length=36)


def upgrade() -> None:
    op.create_table(
        "events_outbox",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("space_id", Id, nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("conversation_id", Id, nullable=True),
        sa.Column("visitor_id", Id, nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("dispatched_at", Timestamp, nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_events_outbox_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["space_id"],
            ["spaces.id"],
            name=op.f("fk_events_outbox_space_id_spaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events_outbox")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("events_outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_events_outbox_undispatched",
            ["id"],
            unique=False,
            sqlite_where=sa.text("dispatched_at IS NULL"),
            postgresql_where=sa.text("dispatched_at IS NULL"),
        )
        batch_op.create_index(
            "ix_events_outbox_space_id_event_id", ["space_id", "event_id"], unique=False
        )
        batch_op.create_index("ix_events_outbox_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_events_outbox_conversation_id", ["conversation_id"], unique=False)
        batch_op.create_index("ix_events_outbox_visitor_id", ["visitor_id"], unique=False)

    op.create_table(
        "webhook_endpoints",
        sa.Column("id", Id, nullable=False),
        sa.Column("space_id", Id, nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("minimal", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("disabled_reason", sa.String(length=200), nullable=True),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("previous_secret", sa.String(length=100), nullable=True),
        sa.Column("previous_until", Timestamp, nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["space_id"],
            ["spaces.id"],
            name=op.f("fk_webhook_endpoints_space_id_spaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
    )
    op.create_index(
        "ix_webhook_endpoints_space_id", "webhook_endpoints", ["space_id"], unique=False
    )

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("endpoint_id", Id, nullable=False),
        sa.Column("outbox_id", BigId, nullable=False),
        sa.Column("conversation_id", Id, nullable=True),
        sa.Column("origin", sa.String(length=16), server_default="event", nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_at", Timestamp, nullable=False),
        sa.Column("claimed_until", Timestamp, nullable=True),
        sa.Column("claimed_by", sa.String(length=32), nullable=True),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.Column("delivered_at", Timestamp, nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'waiting', 'delivered', 'failed')",
            name=op.f("ck_webhook_deliveries_status"),
        ),
        sa.CheckConstraint(
            "origin IN ('event', 'redelivery', 'test')",
            name=op.f("ck_webhook_deliveries_origin"),
        ),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name=op.f("fk_webhook_deliveries_endpoint_id_webhook_endpoints"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["outbox_id"],
            ["events_outbox.id"],
            name=op.f("fk_webhook_deliveries_outbox_id_events_outbox"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_webhook_deliveries_status_next_at", ["status", "next_at"], unique=False
        )
        batch_op.create_index(
            "ix_webhook_deliveries_endpoint_id_id", ["endpoint_id", "id"], unique=False
        )
        batch_op.create_index(
            "ix_webhook_deliveries_endpoint_id_conversation_id_id",
            ["endpoint_id", "conversation_id", "id"],
            unique=False,
        )
        batch_op.create_index("ix_webhook_deliveries_outbox_id", ["outbox_id"], unique=False)
        batch_op.create_index("ix_webhook_deliveries_created_at", ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_deliveries_created_at")
        batch_op.drop_index("ix_webhook_deliveries_outbox_id")
        batch_op.drop_index("ix_webhook_deliveries_endpoint_id_conversation_id_id")
        batch_op.drop_index("ix_webhook_deliveries_endpoint_id_id")
        batch_op.drop_index("ix_webhook_deliveries_status_next_at")
    op.drop_table("webhook_deliveries")
    op.drop_index("ix_webhook_endpoints_space_id", table_name="webhook_endpoints")
    op.drop_table("webhook_endpoints")
    with op.batch_alter_table("events_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_events_outbox_visitor_id")
        batch_op.drop_index("ix_events_outbox_conversation_id")
        batch_op.drop_index("ix_events_outbox_created_at")
        batch_op.drop_index("ix_events_outbox_space_id_event_id")
        batch_op.drop_index("ix_events_outbox_undispatched")
    op.drop_table("events_outbox")
