"""Signed visitor identities: the site's server signs a user id with the space's secret, the
widget passes the signature along, causette checks it. The secret never leaves the servers."""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["identity_signature", "signature_matches"]


def identity_signature(secret: str, external_id: str) -> str:
    """Hex HMAC-SHA256 of the user id, keyed with the space's identity secret."""
    return hmac.new(secret.encode(), external_id.encode(), hashlib.sha256).hexdigest()


def signature_matches(secret: str, external_id: str, signature: str) -> bool:
    expected = identity_signature(secret, external_id)
    return hmac.compare_digest(expected.encode(), signature.strip().lower().encode())
