"""Sign-in lockout per email and client address, not per email alone.

The throttle held one row per email: five wrong guesses from anywhere locked the account
for everyone, so a stranger could keep an admin out. It now holds one row per (email,
address) pair, under a keyed hash of both (no address is stored). The rows are transient
(counters that expire), so they are dropped rather than converted.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.drop_table("login_throttle")
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttle")),
    )


def downgrade() -> None:
    op.drop_table("login_throttle")
    op.create_table(
        "login_throttle",
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("email", name=op.f("pk_login_throttle")),
    )
