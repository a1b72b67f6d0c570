"""The exceptions causette raises, each with a machine-readable ``code``.

CausetteError             (HTTP status, close code or error frame: one table, below)
├── NotFound              not_found, or a precise code (agent_not_found, team_not_found): 404
├── Conflict              conflict, already_assigned, team_exists ...: 409
├── InvalidRequest        invalid_request, invalid_tag ...: 400
├── FrameError            a client frame that cannot be acted on (error frame, socket stays)
│   ├── InvalidJSON           invalid_json
│   ├── UnknownType           unknown_type
│   ├── InvalidFrame          invalid_frame
│   │   └── InvalidText           invalid_frame (NUL or a lone surrogate: HTTP invalid_request)
│   ├── EmptyBody             empty_body
│   ├── BodyTooLong           body_too_long
│   ├── ConversationNotFound  conversation_not_found (also "not yours": they look the same)
│   ├── ConversationResolved  conversation_resolved
│   ├── VisitorHasOpenConversation  visitor_has_open_conversation (reopen refused)
│   ├── IdentityRefused       identity_refused (unsigned or wrongly signed identify)
│   ├── NotAllowed            not_allowed
│   │   └── MissingScope          missing_scope (an API key without a scope the route needs)
│   └── RateLimited           rate_limited (retryable: too many frames of this kind, slow down)
├── StoreUnavailable      store_unavailable (retryable: resend with the same client_id)
├── UnsupportedMediaType  unsupported_media_type (HTTP 415: a body that is not application/json)
├── AuthError             not_signed_in / bad_token / bad_credentials / account_locked (HTTP
│   │                     401/423, close 1008)
│   └── BadApiKey             bad_api_key (an unknown, expired or revoked API key: 401)
└── UsageError            a bad CLI argument or a missing entity (one line, exit 1)
"""

from __future__ import annotations

__all__ = [
    "AccountLocked",
    "AuthError",
    "BadApiKey",
    "BadCredentials",
    "BadToken",
    "BodyTooLong",
    "CampaignNotFound",
    "CausetteError",
    "ClientIdTaken",
    "Conflict",
    "ConversationNotFound",
    "ConversationResolved",
    "EmptyBody",
    "FrameError",
    "IdentityRefused",
    "InvalidFrame",
    "InvalidJSON",
    "InvalidRequest",
    "InvalidText",
    "MissingScope",
    "NotAllowed",
    "NotFound",
    "NotSignedIn",
    "RateLimited",
    "StoreUnavailable",
    "UnknownType",
    "UnsupportedMediaType",
    "UsageError",
    "VisitorHasOpenConversation",
    "http_status",
]


class CausetteError(Exception):
    """Something went wrong."""

    code = "internal_error"
    retryable = False

    def __init__(self, message: str = "", *, ref: str | None = None, code: str = "") -> None:
        super().__init__(message or self.__doc__ or self.code)
        self.message = message or (self.__doc__ or self.code).strip()
        self.ref = ref
        if code:  # a more precise code than the class's, same status: agent_not_found
            self.code = code


class NotFound(CausetteError):
    """No such thing (or not one of yours: the same answer)."""

    code = "not_found"


class Conflict(CausetteError):
    """The request conflicts with the current state: look again."""

    code = "conflict"


class InvalidRequest(CausetteError):
    """A field is missing or has the wrong value."""

    code = "invalid_request"


class FrameError(CausetteError):
    code = "invalid_frame"


class InvalidJSON(FrameError):
    """The frame is not a JSON object."""

    code = "invalid_json"


class UnknownType(FrameError):
    """The frame's type is not one this endpoint accepts."""

    code = "unknown_type"


class InvalidFrame(FrameError):
    """A field is missing or has the wrong type."""

    code = "invalid_frame"


class InvalidText(InvalidFrame):
    """Text may not contain NUL characters or lone surrogates."""


class EmptyBody(FrameError):
    """The message body is empty."""

    code = "empty_body"


class BodyTooLong(FrameError):
    """The message body is longer than the server accepts."""

    code = "body_too_long"


class ConversationNotFound(FrameError):
    """No such conversation."""

    code = "conversation_not_found"


class CampaignNotFound(FrameError):
    """No such campaign in the visitor's space (or the caller's): the same answer either way."""

    code = "campaign_not_found"


class ClientIdTaken(FrameError):
    """This client_id belongs to another author's message: make a new one."""

    code = "client_id_taken"


class ConversationResolved(FrameError):
    """The conversation is resolved."""

    code = "conversation_resolved"


class VisitorHasOpenConversation(FrameError):
    """The visitor has another open conversation: this one cannot be reopened."""

    code = "visitor_has_open_conversation"


class IdentityRefused(FrameError):
    """The identity is not signed, or not signed with this space's secret."""

    code = "identity_refused"


class NotAllowed(FrameError):
    """This action is not allowed for this account."""

    code = "not_allowed"


class MissingScope(NotAllowed):
    """This API key lacks the scope this operation needs."""

    code = "missing_scope"


class RateLimited(FrameError):
    """Too many frames of this kind; send it again in a moment."""

    code = "rate_limited"
    retryable = True

    def __init__(
        self, message: str = "", *, ref: str | None = None, retry_after: float = 1.0
    ) -> None:
        super().__init__(message, ref=ref)
        self.retry_after = retry_after  # seconds until the next one would pass


class StoreUnavailable(CausetteError):
    """The message store is unavailable; resend with the same client_id."""

    code = "store_unavailable"
    retryable = True


class UnsupportedMediaType(CausetteError):
    """Send application/json."""

    code = "unsupported_media_type"


class AuthError(CausetteError):
    code = "bad_token"
    status = 401


class NotSignedIn(AuthError):
    """Sign in first."""

    code = "not_signed_in"


class BadToken(AuthError):
    """The token is missing, invalid or expired."""

    code = "bad_token"


class BadCredentials(AuthError):
    """Wrong email or password."""

    code = "bad_credentials"


class BadApiKey(AuthError):
    """The API key is unknown, expired or revoked."""

    code = "bad_api_key"


class AccountLocked(AuthError):
    """Too many failed sign-ins: try again later."""

    code = "account_locked"
    status = 423


class UsageError(CausetteError):
    code = "usage_error"


_HTTP_STATUS: tuple[tuple[type[CausetteError], int], ...] = (
    (NotFound, 404),
    (Conflict, 409),
    (InvalidRequest, 400),
    (ConversationNotFound, 404),
    (CampaignNotFound, 404),
    (ConversationResolved, 409),
    (VisitorHasOpenConversation, 409),
    (NotAllowed, 403),
    (RateLimited, 429),
    (StoreUnavailable, 503),
    (UnsupportedMediaType, 415),
    (UsageError, 400),
    (FrameError, 400),
)


def http_status(exc: CausetteError) -> int:
    """The HTTP status of an error, the one table for every route."""
    if isinstance(exc, AuthError):
        return exc.status
    return next((s for t, s in _HTTP_STATUS if isinstance(exc, t)), 400)
