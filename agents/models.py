"""The console's tables: teams, notes, tags, canned responses, campaigns and their
exposures, goals and conversions, CSAT ratings, transcript reviews and API keys.

They share chat.models' metadata and naming convention; migrations/versions/0003_console.py
and 0005_campaigns.py create them. Every row belongs to one space, directly or through its
conversation.
"""

from __future__ import annotations

import sqlalchemy as sa

from chat.models import BigId, Id, Timestamp, metadata

__all__ = [
    "api_keys",
    "campaign_phases",
    "campaign_versions",
    "campaigns",
    "canned_responses",
    "conversation_tags",
    "conversions",
    "csat_ratings",
    "email_outbox",
    "exposures",
    "goal_events",
    "notes",
    "review_tags",
    "team_members",
    "teams",
    "transcript_reviews",
    "webhook_deliveries",
    "webhook_endpoints",
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


# -- campaigns and experiments (agents/campaigns) -------------------------------------------

# the campaign as it is now; every change is also a row of campaign_versions, and every
# change of what is shown or to whom (arms, holdout, rules) once launched starts a new phase
campaigns = sa.Table(
    "campaigns",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("space_id", Id, sa.ForeignKey("spaces.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
    sa.Column("starts_at", Timestamp),
    sa.Column("ends_at", Timestamp),
    sa.Column("phase", sa.Integer, nullable=False, server_default="0"),  # 0: never launched
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("definition", sa.JSON, nullable=False),  # arms, holdout, rules, goals, caps
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.CheckConstraint(
        "status IN ('draft', 'scheduled', 'live', 'paused', 'ended')", name="status"
    ),
    sa.Index("ix_campaigns_space_id_status", "space_id", "status"),
)

campaign_versions = sa.Table(
    "campaign_versions",
    metadata,
    sa.Column(
        "campaign_id", Id, sa.ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("phase", sa.Integer, nullable=False),
    sa.Column("agent_id", Id, sa.ForeignKey("agents.id", ondelete="SET NULL")),
    sa.Column("at", Timestamp, nullable=False),
    sa.Column("action", sa.String(16), nullable=False),  # create, update, launch, pause, kill
    sa.Column("changes", sa.JSON, nullable=False),  # field -> [before, after]
)

# what each phase counted: results of a phase are read against its own arms and weights
campaign_phases = sa.Table(
    "campaign_phases",
    metadata,
    sa.Column(
        "campaign_id", Id, sa.ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("phase", sa.Integer, primary_key=True),
    sa.Column("started_at", Timestamp, nullable=False),
    sa.Column("ended_at", Timestamp),
    sa.Column("definition", sa.JSON, nullable=False),
)

# a visitor saw an invitation (or, in the holdout, would have): once per campaign and phase
exposures = sa.Table(
    "exposures",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("campaign_id", Id, sa.ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
    sa.Column("phase", sa.Integer, nullable=False),
    sa.Column("space_id", Id, sa.ForeignKey("spaces.id"), nullable=False),
    sa.Column("visitor_id", Id, sa.ForeignKey("visitors.id"), nullable=False),
    sa.Column("arm", sa.String(32), nullable=False),
    sa.Column("at", Timestamp, nullable=False),
    sa.UniqueConstraint("campaign_id", "phase", "visitor_id"),
    sa.Index("ix_exposures_campaign_id_phase_arm", "campaign_id", "phase", "arm"),
    sa.Index("ix_exposures_visitor_id", "visitor_id"),
    sa.Index("ix_exposures_space_id_at", "space_id", "at"),  # retention
)

# what the site told of the visitor that a campaign counts as a goal (Causette.track)
goal_events = sa.Table(
    "goal_events",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("space_id", Id, sa.ForeignKey("spaces.id"), nullable=False),
    sa.Column("visitor_id", Id, sa.ForeignKey("visitors.id"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("props", sa.JSON),
    sa.Column("at", Timestamp, nullable=False),
    sa.Index("ix_goal_events_visitor_id_at", "visitor_id", "at"),
    sa.Index("ix_goal_events_space_id_at", "space_id", "at"),
)

# an exposed visitor reached goal number ``goal`` (0: the primary) within the window
conversions = sa.Table(
    "conversions",
    metadata,
    sa.Column(
        "campaign_id", Id, sa.ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("phase", sa.Integer, primary_key=True),
    sa.Column("visitor_id", Id, sa.ForeignKey("visitors.id"), primary_key=True),
    sa.Column("goal", sa.Integer, primary_key=True),
    sa.Column("arm", sa.String(32), nullable=False),
    sa.Column("at", Timestamp, nullable=False),
    sa.Index("ix_conversions_campaign_id_phase_goal_arm", "campaign_id", "phase", "goal", "arm"),
)

# one rating per conversation, attributed to the last agent who replied and to the arm
csat_ratings = sa.Table(
    "csat_ratings",
    metadata,
    sa.Column(
        "conversation_id",
        Id,
        sa.ForeignKey("conversations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("space_id", Id, sa.ForeignKey("spaces.id"), nullable=False),
    sa.Column("visitor_id", Id, sa.ForeignKey("visitors.id"), nullable=False),
    sa.Column("agent_id", Id, sa.ForeignKey("agents.id", ondelete="SET NULL")),
    sa.Column("score", sa.Integer, nullable=False),
    sa.Column("comment", sa.Text),
    sa.Column("at", Timestamp, nullable=False),
    sa.CheckConstraint("score BETWEEN 1 AND 5", name="score"),
    sa.Index("ix_csat_ratings_space_id_at", "space_id", "at"),
)

# blind review of transcripts: the space's review tags, and each reviewer's tags on one
review_tags = sa.Table(
    "review_tags",
    metadata,
    sa.Column("space_id", Id, sa.ForeignKey("spaces.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("tag", sa.String(40), primary_key=True),
)

transcript_reviews = sa.Table(
    "transcript_reviews",
    metadata,
    sa.Column(
        "campaign_id", Id, sa.ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column(
        "conversation_id",
        Id,
        sa.ForeignKey("conversations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("tag", sa.String(40), primary_key=True),
    sa.Column("reviewer_id", Id, sa.ForeignKey("agents.id", ondelete="SET NULL")),
    sa.Column("at", Timestamp, nullable=False),
)

# agent replies to email to visitors who left (agents/mail/outbox.py, migration 0007_email):
# one pending row per conversation at most, held while a node has a socket of the visitor,
# claimed by one node at a time
email_outbox = sa.Table(
    "email_outbox",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column(
        "conversation_id", Id, sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("space_id", Id, sa.ForeignKey("spaces.id", ondelete="CASCADE"), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
    sa.Column("due_at", Timestamp, nullable=False),
    sa.Column("held_until", Timestamp),  # a node holds a socket of the visitor until then
    sa.Column("held_by", sa.String(32)),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("claimed_until", Timestamp),  # a node is sending it; past this, that node died
    sa.Column("last_seq", sa.Integer),  # the last reply the email carried
    sa.Column("error", sa.String(200)),  # the SMTP code and reason, never an address
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Column("sent_at", Timestamp),
    sa.CheckConstraint(
        "status IN ('pending', 'sending', 'sent', 'failed', 'skipped')", name="status"
    ),
    sa.Index("ix_email_outbox_status_due_at", "status", "due_at"),
    sa.Index("ix_email_outbox_conversation_id_id", "conversation_id", "id"),
    sa.Index(
        "uq_email_outbox_pending_conversation",
        "conversation_id",
        unique=True,
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    ),
)

# API keys for server-to-server use (agents/apikeys.py, migration 0010_api_keys): owned by a
# space, never by a person; only a keyed hash of the secret is kept, and its last use at most
# once a minute
api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("space_id", Id, sa.ForeignKey("spaces.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False),  # HMAC-SHA256 of the key, hex
    sa.Column("scopes", sa.JSON, nullable=False),  # a list of agents/scopes.py's names
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("created_by", sa.String(200)),  # a snapshot of the creator's name
    sa.Column("expires_at", Timestamp, nullable=False),
    sa.Column("last_used_at", Timestamp),
    sa.Column("last_used_ip", sa.String(64)),
    sa.Column("revoked_at", Timestamp),
    sa.Column("revoked_by", sa.String(200)),
    sa.UniqueConstraint("key_hash"),
    sa.Index("ix_api_keys_space_id", "space_id"),
)


# webhooks (agents/webhooks/, migration 0011_webhooks): where a space's events go, signed with
# the endpoint's secret (and for a day after a rotation with its previous one too), and each
# event's delivery to each endpoint: its state, its tries and the last answer (kept 30 days)
webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("space_id", Id, sa.ForeignKey("spaces.id", ondelete="CASCADE"), nullable=False),
    sa.Column("url", sa.String(2048), nullable=False),
    sa.Column("events", sa.JSON, nullable=False),  # a list of event types
    sa.Column("minimal", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("disabled_reason", sa.String(200)),  # "410 Gone" when the receiver said so
    sa.Column("secret", sa.String(100), nullable=False),  # whsec_...: needed to sign
    sa.Column("previous_secret", sa.String(100)),
    sa.Column("previous_until", Timestamp),  # the previous secret signs too until then
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("created_by", sa.String(200)),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Index("ix_webhook_endpoints_space_id", "space_id"),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column(
        "endpoint_id", Id, sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column(
        "outbox_id", BigId, sa.ForeignKey("events_outbox.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("conversation_id", Id),  # the event's: one at a time per endpoint, in order
    sa.Column("origin", sa.String(16), nullable=False, server_default="event"),
    sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_at", Timestamp, nullable=False),
    sa.Column("claimed_until", Timestamp),  # a node is sending it; past this, that node died
    sa.Column("claimed_by", sa.String(32)),
    sa.Column("response_status", sa.Integer),  # the last try's answer
    sa.Column("latency_ms", sa.Integer),
    sa.Column("response", sa.Text),  # its first 4 KB
    sa.Column("error", sa.String(200)),  # why the last try failed, when no answer says it
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Column("delivered_at", Timestamp),
    sa.CheckConstraint(
        "status IN ('pending', 'sending', 'waiting', 'delivered', 'failed')", name="status"
    ),
    sa.CheckConstraint("origin IN ('event', 'redelivery', 'test')", name="origin"),
    sa.Index("ix_webhook_deliveries_status_next_at", "status", "next_at"),
    sa.Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"),
    sa.Index(
        "ix_webhook_deliveries_endpoint_id_conversation_id_id",
        "endpoint_id",
        "conversation_id",
        "id",
    ),
    sa.Index("ix_webhook_deliveries_outbox_id", "outbox_id"),
    sa.Index("ix_webhook_deliveries_created_at", "created_at"),
    sqlite_autoincrement=True,
)
