"""The schema, as SQLAlchemy Core tables. Alembic revisions in migrations/ create it."""

from __future__ import annotations

import sqlalchemy as sa

__all__ = [
    "agent_spaces",
    "agents",
    "audit_entries",
    "audit_gate",
    "audit_heads",
    "conversations",
    "events_outbox",
    "legal_holds",
    "login_throttle",
    "messages",
    "metadata",
    "read_marks",
    "space_origins",
    "spaces",
    "visitors",
]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

Id = sa.String(36)  # a UUID, as text on every backend
Timestamp = sa.DateTime(timezone=True)
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER only

spaces = sa.Table(
    "spaces",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("key", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    # widget options: HMAC key of signed identities (never sent to a browser), how identities
    # are checked, and what the pre-chat form asks
    sa.Column("identity_secret", sa.String(64)),
    sa.Column("identity_mode", sa.String(16), nullable=False, server_default="off"),
    sa.Column("prechat", sa.String(16), nullable=False, server_default="none"),
    # the space's clock (campaign hours, reports) and whether resolved chats ask for a rating
    sa.Column("time_zone", sa.String(64), nullable=False, server_default="UTC"),
    sa.Column("csat", sa.Boolean, nullable=False, server_default=sa.true()),
    # reports: weekly business hours ({"mon": [["09:00", "18:00"]], ...}), holidays (dates), the
    # seconds after which an unanswered conversation is missed, extra redaction patterns
    sa.Column("business_hours", sa.JSON),
    sa.Column("holidays", sa.JSON),
    sa.Column("missed_after_seconds", sa.Integer, nullable=False, server_default="120"),
    sa.Column("redaction_patterns", sa.JSON),
    # minutes a visitor without an open socket waits before agent replies are emailed
    sa.Column("email_delay_minutes", sa.Integer, nullable=False, server_default="5"),
    # how long each kind of data is kept, in days ({"messages": 400, ...}; absent: forever)
    sa.Column("retention", sa.JSON),
    sa.CheckConstraint("identity_mode IN ('off', 'optional', 'enforce')", name="identity_mode"),
    sa.CheckConstraint("prechat IN ('none', 'name', 'name_email')", name="prechat"),
)

space_origins = sa.Table(
    "space_origins",
    metadata,
    sa.Column("space_id", Id, sa.ForeignKey("spaces.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("origin", sa.String(255), primary_key=True),
)

visitors = sa.Table(
    "visitors",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("space_id", Id, sa.ForeignKey("spaces.id"), nullable=False, index=True),
    sa.Column("name", sa.String(200)),
    sa.Column("email", sa.String(320)),
    sa.Column("created_at", Timestamp, nullable=False),
    # who the site says the visitor is (verified when signed), what it told us, where it is
    sa.Column("external_id", sa.String(200)),
    sa.Column("identity_verified", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("attributes", sa.JSON),
    sa.Column("context", sa.JSON),
    # set on the anonymous profile an erasure leaves behind (identity, contact and context gone)
    sa.Column("erased_at", Timestamp),
    sa.UniqueConstraint("space_id", "external_id"),
)

agents = sa.Table(
    "agents",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("token_version", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", Timestamp, nullable=False),
    # open chats auto-assigned at most at once; 0 keeps the agent out of auto-assignment
    sa.Column("max_chats", sa.Integer, nullable=False, server_default="5"),
    # a disabled agent cannot sign in; a deleted one is kept for the history (its name), its
    # email scrubbed and in no space (migration 0008_agents)
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("deleted_at", Timestamp),
    sa.CheckConstraint("role IN ('admin', 'marketing', 'relation')", name="role"),
)

# failed sign-ins per email, whether or not an agent has it: a lockout must not reveal which do
login_throttle = sa.Table(  # one row per (email, client address), under a keyed hash
    "login_throttle",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("locked_until", Timestamp),
)

agent_spaces = sa.Table(
    "agent_spaces",
    metadata,
    sa.Column("agent_id", Id, sa.ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("space_id", Id, sa.ForeignKey("spaces.id", ondelete="CASCADE"), primary_key=True),
)

conversations = sa.Table(
    "conversations",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("space_id", Id, sa.ForeignKey("spaces.id"), nullable=False),
    sa.Column("visitor_id", Id, sa.ForeignKey("visitors.id"), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("last_seq", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Column("resolved_at", Timestamp),
    # routing (agents/routing.py): no assignee means waiting in the space's (or team's) queue
    sa.Column("assignee_id", Id),
    sa.Column("team_id", Id),
    sa.Column("assigned_at", Timestamp),
    # the proactive invitation the visitor answered to open it (agents/campaigns)
    sa.Column("campaign_id", Id),
    sa.Column("campaign_phase", sa.Integer),
    sa.Column("campaign_arm", sa.String(32)),
    # where and how it started (the visitor's page when its first message came), for reports
    sa.Column("entry_url", sa.String(2048)),
    sa.Column("entry_referrer", sa.String(2048)),
    sa.Column("entry_locale", sa.String(35)),
    sa.Column("entry_user_agent", sa.String(512)),
    sa.Column("first_assigned_at", Timestamp),
    sa.Column("reopened", sa.Integer, nullable=False, server_default="0"),
    # kept by every append, so that reports read conversations alone: messages by author
    # (system ones are last_seq minus these) and the first agent message
    sa.Column("visitor_messages", sa.Integer, nullable=False, server_default="0"),
    sa.Column("agent_messages", sa.Integer, nullable=False, server_default="0"),
    sa.Column("first_agent_at", Timestamp),
    sa.CheckConstraint("status IN ('open', 'resolved')", name="status"),
    sa.Index("ix_conversations_space_id_status", "space_id", "status"),
    sa.Index("ix_conversations_visitor_id", "visitor_id"),
    sa.Index("ix_conversations_assignee_id_status", "assignee_id", "status"),
    sa.Index("ix_conversations_space_id_created_at", "space_id", "created_at"),
    sa.Index("ix_conversations_space_id_updated_at", "space_id", "updated_at"),  # retention
    # at most one open conversation per visitor, on both backends
    sa.Index(
        "uq_conversations_open_visitor",
        "visitor_id",
        unique=True,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    ),
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("conversation_id", Id, sa.ForeignKey("conversations.id"), nullable=False),
    sa.Column("space_id", Id, sa.ForeignKey("spaces.id"), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("client_id", sa.String(36), nullable=False),
    sa.Column("author_kind", sa.String(16), nullable=False),
    sa.Column("author_id", Id),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.UniqueConstraint("conversation_id", "seq"),
    sa.UniqueConstraint("conversation_id", "client_id"),
    sa.CheckConstraint("author_kind IN ('visitor', 'agent', 'system')", name="author_kind"),
    sa.Index("ix_messages_created_at", "created_at"),
    sa.Index("ix_messages_client_id", "client_id"),
    sa.Index("ix_messages_space_id_created_at", "space_id", "created_at"),
)


# how far each reader (an agent or the visitor) has read each conversation
read_marks = sa.Table(
    "read_marks",
    metadata,
    sa.Column(
        "conversation_id",
        Id,
        sa.ForeignKey("conversations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("reader_id", Id, primary_key=True),
    sa.Column("reader_kind", sa.String(16), nullable=False),
    sa.Column("last_read_seq", sa.Integer, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.CheckConstraint("reader_kind IN ('visitor', 'agent')", name="reader_kind"),
)


# -- privacy (chat/audit.py, chat/holds.py) ---------------------------------------------------

# the audit trail: append-only (the database refuses UPDATE, and DELETE outside a retention
# purge), hash-chained per space: ``hash`` is SHA-256 over ``prev_hash`` and the row's
# canonical JSON, ``seq`` counts the chain's entries ("" is the deployment's own chain). No
# foreign key: an entry outlives the agent, the space or the visitor it names
audit_entries = sa.Table(
    "audit_entries",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("chain", sa.String(36), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("at", Timestamp, nullable=False),
    sa.Column("space_id", Id),
    sa.Column("actor_kind", sa.String(16), nullable=False),  # agent, api_key, system
    sa.Column("actor_id", sa.String(64)),
    sa.Column("actor_name", sa.String(200)),
    sa.Column("ip", sa.String(64)),
    sa.Column("user_agent", sa.String(512)),
    sa.Column("request_id", sa.String(64)),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target_kind", sa.String(32)),
    sa.Column("target_id", sa.String(200)),
    sa.Column("target", sa.JSON),  # a snapshot of what the target was (its name, its email)
    sa.Column("outcome", sa.String(16), nullable=False),  # ok, denied, failed
    sa.Column("diff", sa.JSON),  # {field: [before, after]} of the fields allowed in the trail
    sa.Column("reason", sa.Text),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.UniqueConstraint("chain", "seq"),
    sa.Index("ix_audit_entries_at", "at"),
    sa.Index("ix_audit_entries_space_id_at", "space_id", "at"),
)

# each chain's last entry: the next one links to it (read and written under its row lock)
audit_heads = sa.Table(
    "audit_heads",
    metadata,
    sa.Column("chain", sa.String(36), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

# a row here, inside the retention job's own transaction, is what lets it delete audit
# entries past their retention; it is never committed
audit_gate = sa.Table(
    "audit_gate",
    metadata,
    sa.Column("token", sa.String(36), primary_key=True),
)

# what neither retention nor erasure may delete: a space, a visitor, a conversation, or what
# happened in a date range; a release keeps the row (who placed it, why, when released)
legal_holds = sa.Table(
    "legal_holds",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("space_id", Id, sa.ForeignKey("spaces.id", ondelete="CASCADE"), nullable=False),
    sa.Column("scope", sa.String(16), nullable=False),
    sa.Column("visitor_id", Id),
    sa.Column("conversation_id", Id),
    sa.Column("since", Timestamp),
    sa.Column("until", Timestamp),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("placed_by", sa.String(200)),
    sa.Column("placed_at", Timestamp, nullable=False),
    sa.Column("released_at", Timestamp),
    sa.Column("released_by", sa.String(200)),
    sa.CheckConstraint("scope IN ('space', 'visitor', 'conversation', 'range')", name="scope"),
    sa.Index("ix_legal_holds_space_id", "space_id"),
)


# -- the events outbox (chat/outbox.py) --------------------------------------------------------

# what happened, written in the transaction that made it happen, for webhooks to deliver
# (agents/webhooks/): handed out once (``dispatched_at``), then kept 30 days for redelivery.
# ``conversation_id`` orders a conversation's events; ``visitor_id`` is what an erasure finds
# the visitor's rows by. Ids are never reused (AUTOINCREMENT on SQLite, a sequence elsewhere)
events_outbox = sa.Table(
    "events_outbox",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(40), nullable=False),  # evt_..., the webhook-id header
    sa.Column("space_id", Id, sa.ForeignKey("spaces.id", ondelete="CASCADE"), nullable=False),
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("conversation_id", Id, sa.ForeignKey("conversations.id", ondelete="CASCADE")),
    sa.Column("visitor_id", Id),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("request_id", sa.String(64)),  # of the request or socket that caused it
    sa.Column("dispatched_at", Timestamp),
    sa.Index(
        "ix_events_outbox_undispatched",
        "id",
        sqlite_where=sa.text("dispatched_at IS NULL"),
        postgresql_where=sa.text("dispatched_at IS NULL"),
    ),
    sa.Index("ix_events_outbox_space_id_event_id", "space_id", "event_id"),
    sa.Index("ix_events_outbox_created_at", "created_at"),
    sa.Index("ix_events_outbox_conversation_id", "conversation_id"),
    sa.Index("ix_events_outbox_visitor_id", "visitor_id"),
    sqlite_autoincrement=True,
)
