"""Signing per the Standard Webhooks specification, with its reference library: a ``whsec_``
secret (base64 of 32 random bytes), and ``webhook-signature: v1,<base64 HMAC-SHA256 over
id.timestamp.body>``, one signature per secret that signs (two while a rotation overlaps)."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import datetime

from standardwebhooks import Webhook

__all__ = ["PREFIX", "new_secret", "signed_headers"]

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signed_headers(keys: Sequence[str], event_id: str, at: datetime, body: bytes) -> dict[str, str]:
    """The three headers of a delivery signed at ``at`` with each of ``keys``."""
    signatures = " ".join(Webhook(key).sign(event_id, at, body) for key in keys)
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
    }
