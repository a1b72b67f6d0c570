"""The one error envelope of every HTTP answer: ``{"error": {"code", "message"}}``."""

from __future__ import annotations

import math
from collections.abc import Mapping

from starlette.responses import JSONResponse

from chat.errors import CausetteError, InvalidText, RateLimited, StoreUnavailable, http_status

__all__ = ["error_response", "response_for"]


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def response_for(exc: CausetteError) -> JSONResponse:
    """The HTTP answer to an error raised by a handler (chat/errors.py's table)."""
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimited):
        headers["retry-after"] = str(max(1, math.ceil(exc.retry_after)))
    elif isinstance(exc, StoreUnavailable):
        headers["retry-after"] = "5"
    code = "invalid_request" if isinstance(exc, InvalidText) else exc.code
    return error_response(http_status(exc), code, exc.message, headers)
