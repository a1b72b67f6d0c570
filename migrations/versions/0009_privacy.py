"""Privacy: the audit trail (append-only, enforced by triggers; hash-chained per space, with
each chain's head), legal holds, each space's retention periods, the erased mark on the
anonymous profile an erasure leaves, and the indexes the retention job walks.

Revision ID: 0009_privacy
Revises: 0008_agents
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_privacy"
down_revision: str | None = "0008_agents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_PG_FUNCTION = """
CREATE FUNCTION causette_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND EXISTS (SELECT 1 FROM audit_gate) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit entries are append-only' USING ERRCODE = '42501';
END
$$
"""
_PG_TRIGGERS = (
    "CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries"
    " FOR EACH ROW EXECUTE FUNCTION causette_audit_append_only()",
    "CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries"
    " FOR EACH STATEMENT EXECUTE FUNCTION causette_audit_append_only()",
)
_SQLITE_TRIGGERS = (
    "CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries"
    " BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END",
    "CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries"
    " WHEN NOT EXISTS (SELECT 1 FROM audit_gate)"
    " BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END",
)


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("chain", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("at", Timestamp, nullable=False),
        sa.Column("space_id", sa.String(length=36), nullable=True),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=True),
        sa.Column("actor_name", sa.String(length=200), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=512), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_kind", sa.String(length=32), nullable=True),
        sa.Column("target_id", sa.String(length=200), nullable=True),
        sa.Column("target", sa.JSON(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("diff", sa.JSON(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entries")),
        sa.UniqueConstraint("chain", "seq", name=op.f("uq_audit_entries_chain_seq")),
    )
    op.create_index("ix_audit_entries_at", "audit_entries", ["at"], unique=False)
    op.create_index(
        "ix_audit_entries_space_id_at", "audit_entries", ["space_id", "at"], unique=False
    )
    op.create_table(
        "audit_heads",
        sa.Column("chain", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("chain", name=op.f("pk_audit_heads")),
    )
    op.create_table(
        "audit_gate",
        sa.Column("token", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_audit_gate")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        for statement in _PG_TRIGGERS:
            op.execute(statement)
    else:
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)

    op.create_table(
        "legal_holds",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("space_id", sa.String(length=36), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("visitor_id", sa.String(length=36), nullable=True),
        sa.Column("conversation_id", sa.String(length=36), nullable=True),
        sa.Column("since", Timestamp, nullable=True),
        sa.Column("until", Timestamp, nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("placed_by", sa.String(length=200), nullable=True),
        sa.Column("placed_at", Timestamp, nullable=False),
        sa.Column("released_at", Timestamp, nullable=True),
        sa.Column("released_by", sa.String(length=200), nullable=True),
        sa.CheckConstraint(
            "scope IN ('space', 'visitor', 'conversation', 'range')",
            name=op.f("ck_legal_holds_scope"),
        ),
        sa.ForeignKeyConstraint(
            ["space_id"],
            ["spaces.id"],
            name=op.f("fk_legal_holds_space_id_spaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_holds")),
    )
    op.create_index("ix_legal_holds_space_id", "legal_holds", ["space_id"], unique=False)

    with op.batch_alter_table("spaces", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retention", sa.JSON(), nullable=True))
    with op.batch_alter_table("visitors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("erased_at", Timestamp, nullable=True))
    op.create_index(
        "ix_conversations_space_id_updated_at",
        "conversations",
        ["space_id", "updated_at"],
        unique=False,
    )
    op.create_index("ix_exposures_space_id_at", "exposures", ["space_id", "at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_exposures_space_id_at", table_name="exposures")
    op.drop_index("ix_conversations_space_id_updated_at", table_name="conversations")
    with op.batch_alter_table("visitors", schema=None) as batch_op:
        batch_op.drop_column("erased_at")
    with op.batch_alter_table("spaces", schema=None) as batch_op:
        batch_op.drop_column("retention")
    op.drop_index("ix_legal_holds_space_id", table_name="legal_holds")
    op.drop_table("legal_holds")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_entries_no_truncate ON audit_entries")
        op.execute("DROP TRIGGER audit_entries_append_only ON audit_entries")
        op.execute("DROP FUNCTION causette_audit_append_only()")
    op.drop_table("audit_gate")
    op.drop_table("audit_heads")
    op.drop_index("ix_audit_entries_space_id_at", table_name="audit_entries")
    op.drop_index("ix_audit_entries_at", table_name="audit_entries")
    op.drop_table("audit_entries")
