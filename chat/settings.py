"""Settings, read once from ``CAUSETTE_*`` environment variables."""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from chat.ratelimit import Rate

__all__ = ["Settings", "load_secret_key"]


def _rate(value: object) -> object:
    return Rate.parse(value) if isinstance(value, str) else value


RateSetting = Annotated[Rate, NoDecode, BeforeValidator(_rate)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CAUSETTE_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///causette.db"
    # PostgreSQL: a query with no answer after this long fails as store_unavailable (0: never)
    database_timeout_seconds: float = 10.0
    redis_url: str | None = None
    # pub/sub channels are shared by every client of a Redis, whatever its database number:
    # deployments sharing one keep apart by this prefix (default: causette:<db>:)
    redis_channel_prefix: str | None = None
    secret_key: str | None = Field(default=None, repr=False)
    secret_key_file: Path = Path(".causette-secret")

    public_url: str | None = None  # e.g. https://chat.example.com: its origin is always allowed
    console_origins: list[str] = []  # extra origins allowed to sign agents in
    # Host names this server answers to (["*"]: any). Default: the host of public_url, else
    # loopback names only (development)
    allowed_hosts: list[str] | None = None

    visitor_token_ttl: int = 60 * 60 * 24 * 30
    agent_token_ttl: int = 60 * 60 * 12
    max_body_chars: int = 4000
    max_frame_bytes: int = 64 * 1024
    max_http_body_bytes: int = 64 * 1024
    http_body_timeout_seconds: float = 10.0  # a request body not received by then: 408
    send_queue_size: int = 512
    # a socket with frames waiting that has taken none for this long is closed with 1013
    slow_client_seconds: float = 10.0
    hello_timeout_seconds: float = 10.0  # a socket that says nothing this long is closed 1008
    heartbeat_seconds: float = 25.0  # WebSocket ping interval, and how long a pong may take
    replay_page: int = 200
    # per socket, twice: for typing and track, and for context, identify, contact and
    # attributes (a rate of 0: no limit)
    update_frames_per_second: float = 10.0
    update_frames_burst: int = 30

    login_max_failures: int = 5  # per (email, client address)
    login_lock_seconds: int = 15 * 60

    # limits on what strangers can do, per client address or per visitor, shared by every
    # node through Redis when it is configured (chat/ratelimit.py); "off" turns all off
    rate_limits: Literal["on", "off"] = "on"
    limit_visitor_tokens: RateSetting = Rate.parse("60/min,120")  # per address
    limit_conversations_per_ip: RateSetting = Rate.parse("30/min,60")
    limit_conversations_per_visitor: RateSetting = Rate.parse("6/hour,3")
    limit_sign_ins: RateSetting = Rate.parse("10/min,10")  # per address
    limit_messages_per_socket: RateSetting = Rate.parse("5/s,20")  # visitor sockets
    limit_agent_email_taken: RateSetting = Rate.parse("20/hour,20")  # per admin

    # the agent console
    session_ttl: int = 60 * 60 * 12  # the console's sign-in cookie
    agent_offline_grace_seconds: float = 120.0  # then an offline agent's open chats are requeued

    # email to visitors who left (agents/mail): smtp://user:pass@host:587 (STARTTLS whenever
    # the server offers it) or smtps://user:pass@host:465 (TLS from the start); unset: no
    # email, and the widget says replies come in the chat
    smtp_url: str | None = Field(default=None, repr=False)  # it holds the password
    mail_from: str | None = None  # "Shop <chat@shop.example>"; needed with smtp_url
    smtp_ca_file: Path | None = None  # trust this CA bundle for the server, not the system's
    smtp_timeout_seconds: float = 30.0
    email_retry_seconds: float = 60.0  # first retry after a failed try, doubling each time
    email_max_attempts: int = Field(default=6, ge=1)

    @model_validator(mode="after")
    def _mail_from_with_smtp(self) -> Settings:
        if self.smtp_url is None:
            return self
        url = urlsplit(self.smtp_url)
        if url.scheme not in ("smtp", "smtps") or not url.hostname:
            raise ValueError("CAUSETTE_SMTP_URL: smtp://[user:pass@]host[:port] or smtps://...")
        if not self.mail_from:
            raise ValueError("CAUSETTE_MAIL_FROM is needed with CAUSETTE_SMTP_URL")
        return self

    @property
    def email_enabled(self) -> bool:
        """Whether agent replies can reach visitors by email."""
        return bool(self.smtp_url and self.mail_from)

    # retention (chat/retention.py): a run every this many seconds (0: only from the CLI),
    # deleting this many rows per transaction, pausing this long between batches
    retention_interval_seconds: float = 3600.0
    retention_batch_rows: int = Field(default=500, ge=1, le=50_000)
    retention_pause_seconds: float = Field(default=0.0, ge=0.0, le=10.0)

    # webhooks (agents/webhooks/): networks a target may be in although not public (a JSON
    # list of CIDRs, ["10.0.0.0/8"]; empty: public addresses only), the bound of one try, how
    # long a node's claim on a delivery lasts (past it, the node is taken for dead), and how
    # often each node looks for work (0: this node sends none)
    webhook_allowed_networks: list[str] = []
    webhook_timeout_seconds: float = Field(default=15.0, gt=0.0, le=120.0)
    webhook_lease_seconds: float = Field(default=60.0, gt=0.0)
    webhook_poll_seconds: float = Field(default=1.0, ge=0.0)

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            ipaddress.ip_network(network, strict=False)  # a ValueError names the bad one
        return value

    log_level: str = "info"
    log_format: str | None = None  # "json" or "console"; default: console on a terminal

    # Prometheus metrics (chat/metrics.py): the directory every process of `serve` writes them
    # to (default: a private temporary one made by `serve`), and an address of their own to
    # serve them on, e.g. 127.0.0.1:9108 (on the main port, /metrics needs authorization)
    metrics_dir: Path | None = None
    metrics_address: str | None = None


def load_secret_key(settings: Settings) -> str:
    """The signing key: CAUSETTE_SECRET_KEY, else a file made once with 0600 permissions."""
    if settings.secret_key:
        return settings.secret_key
    path = settings.secret_key_file
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    key = secrets.token_urlsafe(48)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key)
    try:
        os.link(tmp, path)  # atomic: the first process to link wins, the others read its key
    except FileExistsError:
        key = path.read_text().strip()
    finally:
        tmp.unlink()
    return key
