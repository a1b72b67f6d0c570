"""Campaigns and experiments: campaigns with their versions and phases, exposures, goal
events and conversions, CSAT ratings, transcript reviews; a time zone and a CSAT switch per
space; the campaign a conversation was opened from.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("space_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Integer(), server_default="0", nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("phase", sa.Integer(), server_default="0", nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('draft', 'scheduled', 'live', 'paused', 'ended')",
            name=op.f("ck_campaigns_status"),
        ),
        sa.ForeignKeyConstraint(
            ["space_id"],
            ["spaces.id"],
            name=op.f("fk_campaigns_space_id_spaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.create_index("ix_campaigns_space_id_status", ["space_id", "status"], unique=False)

    op.create_table(
        "review_tags",
        sa.Column("space_id", sa.String(length=36), nullable=False),
        sa.Column("tag", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["space_id"],
            ["spaces.id"],
            name=op.f("fk_review_tags_space_id_spaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("space_id", "tag", name=op.f("pk_review_tags")),
    )
    op.create_table(
        "campaign_phases",
        sa.Column("campaign_id", sa.String(length=36), nullable=False),
        sa.Column("phase", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_phases_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", "phase", name=op.f("pk_campaign_phases")),
    )
    op.create_table(
        "campaign_versions",
        sa.Column("campaign_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("phase", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.String(length=36), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_campaign_versions_agent_id_agents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_versions_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", "version", name=op.f("pk_campaign_versions")),
    )
    op.create_table(
        "conversions",
        sa.Column("campaign_id", sa.String(length=36), nullable=False),
        sa.Column("phase", sa.Integer(), nullable=False),
        sa.Column("visitor_id", sa.String(length=36), nullable=False),
        sa.Column("goal", sa.Integer(), nullable=False),
        sa.Column("arm", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_conversions_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["visitor_id"], ["visitors.id"], name=op.f("fk_conversions_visitor_id_visitors")
        ),
        sa.PrimaryKeyConstraint(
            "campaign_id", "phase", "visitor_id", "goal", name=op.f("pk_conversions")
        ),
    )
    with op.batch_alter_table("conversions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversions_campaign_id_phase_goal_arm",
            ["campaign_id", "phase", "goal", "arm"],
            unique=False,
        )

    op.create_table(
        "exposures",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("campaign_id", sa.String(length=36), nullable=False),
        sa.Column("phase", sa.Integer(), nullable=False),
        sa.Column("space_id", sa.String(length=36), nullable=False),
        sa.Column("visitor_id", sa.String(length=36), nullable=False),
        sa.Column("arm", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_exposures_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["space_id"], ["spaces.id"], name=op.f("fk_exposures_space_id_spaces")
        ),
        sa.ForeignKeyConstraint(
            ["visitor_id"], ["visitors.id"], name=op.f("fk_exposures_visitor_id_visitors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exposures")),
        sa.UniqueConstraint(
            "campaign_id",
            "phase",
            "visitor_id",
            name=op.f("uq_exposures_campaign_id_phase_visitor_id"),
        ),
    )
    with op.batch_alter_table("exposures", schema=None) as batch_op:
        batch_op.create_index(
            "ix_exposures_campaign_id_phase_arm", ["campaign_id", "phase", "arm"], unique=False
        )
        batch_op.create_index("ix_exposures_visitor_id", ["visitor_id"], unique=False)

    op.create_table(
        "goal_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("space_id", sa.String(length=36), nullable=False),
        sa.Column("visitor_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("props", sa.JSON(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["space_id"], ["spaces.id"], name=op.f("fk_goal_events_space_id_spaces")
        ),
        sa.ForeignKeyConstraint(
            ["visitor_id"], ["visitors.id"], name=op.f("fk_goal_events_visitor_id_visitors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_goal_events")),
    )
    with op.batch_alter_table("goal_events", schema=None) as batch_op:
        batch_op.create_index("ix_goal_events_space_id_at", ["space_id", "at"], unique=False)
        batch_op.create_index("ix_goal_events_visitor_id_at", ["visitor_id", "at"], unique=False)

    op.create_table(
        "csat_ratings",
        sa.Column("conversation_id", sa.String(length=36), nullable=False),
        sa.Column("space_id", sa.String(length=36), nullable=False),
        sa.Column("visitor_id", sa.String(length=36), nullable=False),
        sa.Column("agent_id", sa.String(length=36), nullable=True),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("score BETWEEN 1 AND 5", name=op.f("ck_csat_ratings_score")),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_csat_ratings_agent_id_agents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_csat_ratings_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["space_id"], ["spaces.id"], name=op.f("fk_csat_ratings_space_id_spaces")
        ),
        sa.ForeignKeyConstraint(
            ["visitor_id"], ["visitors.id"], name=op.f("fk_csat_ratings_visitor_id_visitors")
        ),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_csat_ratings")),
    )
    with op.batch_alter_table("csat_ratings", schema=None) as batch_op:
        batch_op.create_index("ix_csat_ratings_space_id_at", ["space_id", "at"], unique=False)

    op.create_table(
        "transcript_reviews",
        sa.Column("campaign_id", sa.String(length=36), nullable=False),
        sa.Column("conversation_id", sa.String(length=36), nullable=False),
        sa.Column("tag", sa.String(length=40), nullable=False),
        sa.Column("reviewer_id", sa.String(length=36), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_transcript_reviews_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_transcript_reviews_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["agents.id"],
            name=op.f("fk_transcript_reviews_reviewer_id_agents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint(
            "campaign_id", "conversation_id", "tag", name=op.f("pk_transcript_reviews")
        ),
    )
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("campaign_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("campaign_phase", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("campaign_arm", sa.String(length=32), nullable=True))

    with op.batch_alter_table("spaces", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("time_zone", sa.String(length=64), server_default="UTC", nullable=False)
        )
        batch_op.add_column(
            sa.Column("csat", sa.Boolean(), server_default=sa.true(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("spaces", schema=None) as batch_op:
        batch_op.drop_column("csat")
        batch_op.drop_column("time_zone")

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("campaign_arm")
        batch_op.drop_column("campaign_phase")
        batch_op.drop_column("campaign_id")

    op.drop_table("transcript_reviews")
    with op.batch_alter_table("csat_ratings", schema=None) as batch_op:
        batch_op.drop_index("ix_csat_ratings_space_id_at")

    op.drop_table("csat_ratings")
    with op.batch_alter_table("goal_events", schema=None) as batch_op:
        batch_op.drop_index("ix_goal_events_visitor_id_at")
        batch_op.drop_index("ix_goal_events_space_id_at")

    op.drop_table("goal_events")
    with op.batch_alter_table("exposures", schema=None) as batch_op:
        batch_op.drop_index("ix_exposures_visitor_id")
        batch_op.drop_index("ix_exposures_campaign_id_phase_arm")

    op.drop_table("exposures")
    with op.batch_alter_table("conversions", schema=None) as batch_op:
        batch_op.drop_index("ix_conversions_campaign_id_phase_goal_arm")

    op.drop_table("conversions")
    op.drop_table("campaign_versions")
    op.drop_table("campaign_phases")
    op.drop_table("review_tags")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_index("ix_campaigns_space_id_status")

    op.drop_table("campaigns")
