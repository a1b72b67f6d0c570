"""structlog, configured once. JSON when stdout is not a terminal, console output when it is."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

__all__ = ["bind_ids", "configure_logging", "get_logger"]

_REDACTED = {"body", "token", "password", "secret", "authorization", "cookie"}


def _redact(_: object, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Last line of defence: never write a body, token or password, whoever passed it."""
    for key in list(event):
        if key.lower() in _REDACTED:
            event[key] = "[redacted]"
    return event


def configure_logging(level: str = "info", fmt: str | None = None) -> None:
    if fmt is None:
        fmt = "console" if sys.stdout.isatty() else "json"
    renderer: structlog.typing.Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=False,
    )
    server = logging.getLogger("uvicorn")
    if not any(isinstance(h, _ServerLogHandler) for h in server.handlers):
        server.addHandler(_ServerLogHandler())
        server.propagate = False
    server.setLevel(logging.WARNING)  # its per-connection lines repeat ours


class _ServerLogHandler(logging.Handler):
    """The HTTP server's own log records, as causette's log lines. What a client got wrong
    (a text frame that is not UTF-8, closed 1007 by the server) is one line, without the
    traceback the server attaches to it: a client's fault is no server error."""

    def emit(self, record: logging.LogRecord) -> None:
        log = get_logger(record.name)
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, UnicodeDecodeError):
            log.info("ws_invalid_utf8", message=record.getMessage())
        elif exc is not None:
            log.error(record.getMessage(), exc_info=record.exc_info)
        else:
            log.log(record.levelno, record.getMessage())


def bind_ids(**ids: str) -> None:
    """Name what this request or socket is about (``agent_id``, ``space``...): every later
    line of it carries the ids, its summary line (``http_request``, ``ws_closed``) included."""
    structlog.contextvars.bind_contextvars(**ids)


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    """A logger whose lines say where they come from (``source``: causette.ws, ...)."""
    return structlog.get_logger(source=name)
