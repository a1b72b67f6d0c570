"""Widget: visitor identity and context, space identity secret and widget options.

Revision ID: 0002
Revises: 0001
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("visitors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_id", sa.String(length=200), nullable=True))
        batch_op.add_column(
            sa.Column("identity_verified", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("attributes", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("context", sa.JSON(), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_visitors_space_id_external_id"), ["space_id", "external_id"]
        )

    with op.batch_alter_table("spaces", schema=None) as batch_op:
        batch_op.add_column(sa.Column("identity_secret", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("identity_mode", sa.String(length=16), server_default="off", nullable=False)
        )
        batch_op.add_column(
            sa.Column("prechat", sa.String(length=16), server_default="none", nullable=False)
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_spaces_identity_mode"), "identity_mode IN ('off', 'optional', 'enforce')"
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_spaces_prechat"), "prechat IN ('none', 'name', 'name_email')"
        )

    # every existing space gets its own secret, made here and never sent to a browser
    spaces = sa.table("spaces", sa.column("id", sa.String), sa.column("identity_secret", sa.String))
    conn = op.get_bind()
    for (space_id,) in conn.execute(sa.select(spaces.c.id)).all():
        conn.execute(
            spaces.update()
            .where(spaces.c.id == space_id)
            .values(identity_secret=secrets.token_hex(32))
        )


def downgrade() -> None:
    with op.batch_alter_table("spaces", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_spaces_prechat"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_spaces_identity_mode"), type_="check")
        batch_op.drop_column("prechat")
        batch_op.drop_column("identity_mode")
        batch_op.drop_column("identity_secret")

    with op.batch_alter_table("visitors", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_visitors_space_id_external_id"), type_="unique")
        batch_op.drop_column("context")
        batch_op.drop_column("attributes")
        batch_op.drop_column("identity_verified")
        batch_op.drop_column("external_id")
