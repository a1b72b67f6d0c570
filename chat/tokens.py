"""Signed, expiring tokens for visitors and agents."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadData, URLSafeTimedSerializer

from chat.errors import BadToken

__all__ = ["AgentClaims", "TokenSigner", "VisitorClaims"]


@dataclass(frozen=True, slots=True)
class VisitorClaims:
    visitor_id: str
    space_id: str
    expires_at: float = 0.0  # Unix time; a socket opened with the token closes then


@dataclass(frozen=True, slots=True)
class AgentClaims:
    agent_id: str
    token_version: int
    expires_at: float = 0.0


class TokenSigner:
    """HMAC-signed, timestamped tokens; a token for one kind never passes as the other."""

    def __init__(self, secret_key: str, *, visitor_ttl: int, agent_ttl: int) -> None:
        self._visitor = URLSafeTimedSerializer(secret_key, salt="causette.visitor.v1")
        self._agent = URLSafeTimedSerializer(secret_key, salt="causette.agent.v1")
        self._visitor_ttl = visitor_ttl
        self._agent_ttl = agent_ttl
        self._secret = secret_key.encode()

    def derived_key(self, purpose: str) -> bytes:
        """A key of its own for one purpose, derived from the secret key."""
        return hmac.new(self._secret, f"causette.{purpose}.v1".encode(), hashlib.sha256).digest()

    def visitor_token(self, visitor_id: str, space_id: str) -> str:
        return self._visitor.dumps({"v": visitor_id, "s": space_id})

    def agent_token(self, agent_id: str, token_version: int) -> str:
        return self._agent.dumps({"a": agent_id, "n": token_version})

    def read_visitor(self, token: str) -> VisitorClaims:
        data, expires = self._load(self._visitor, token, self._visitor_ttl)
        try:
            return VisitorClaims(str(data["v"]), str(data["s"]), expires)
        except (KeyError, TypeError):
            raise BadToken() from None

    def read_agent(self, token: str) -> AgentClaims:
        data, expires = self._load(self._agent, token, self._agent_ttl)
        try:
            return AgentClaims(str(data["a"]), int(data["n"]), expires)
        except (KeyError, TypeError, ValueError):
            raise BadToken() from None

    @staticmethod
    def _load(
        serializer: URLSafeTimedSerializer, token: str, ttl: int
    ) -> tuple[dict[str, Any], float]:
        """The token's claims and the Unix time it expires at."""
        try:
            data, signed_at = serializer.loads(token, max_age=ttl, return_timestamp=True)
        except BadData:
            raise BadToken() from None
        if not isinstance(data, dict):
            raise BadToken()
        return data, signed_at.timestamp() + ttl
