"""Agents: disabled (cannot sign in, sessions end) and deleted (kept for the history, with
its name, its email scrubbed).

Agents are never removed: their name is what messages, notes, ratings and reports show, and
conversations keep who was assigned. ``causette agent delete`` sets ``deleted_at``, scrubs
the email and the password hash and takes the agent out of every space.

Revision ID: 0008_agents
Revises: 0007_email
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_agents"
down_revision: str | None = "0007_email"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # plain ADD COLUMN on both backends (no table rebuild on SQLite)
    op.add_column(
        "agents", sa.Column("disabled", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.add_column("agents", sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_column("deleted_at")
        batch_op.drop_column("disabled")
