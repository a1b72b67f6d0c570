"""What every command checks before it works, each problem said in one line: the settings
(which variable, and what is wrong with it), the database (its URL, never its password),
the port ``serve`` listens on; and what a first run should do next."""

from __future__ import annotations

import errno
import os
import re
import socket
import sys
from pathlib import Path
from typing import Any

import click

from chat.settings import Settings

__all__ = [
    "check_port",
    "database_problem",
    "first_run_steps",
    "load_settings",
    "migrate_database",
    "public_base_url",
    "redacted_url",
    "with_database",
]

_URL_SETTINGS = {"database_url", "redis_url"}  # shown without their password
_FIELD = re.compile(r'field "([a-z0-9_]+)"')
_WHY = {
    "int_parsing": "a whole number is needed",
    "int_type": "a whole number is needed",
    "int_from_float": "a whole number is needed",
    "float_parsing": "a number is needed",
    "float_type": "a number is needed",
    "bool_parsing": "true or false is needed",
    "json_invalid": "this is not valid JSON",
}


def load_settings() -> Settings:
    """The settings, or a ClickException naming the variable, its value (never a secret's)
    and what is wrong."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    try:
        return Settings()
    except ValidationError as exc:
        raise click.ClickException(_invalid(exc.errors()[0])) from None
    except SettingsError as exc:  # a JSON setting that is not JSON
        found = _FIELD.search(str(exc))
        field = found.group(1) if found else ""
        listed = "list" in str(Settings.model_fields[field].annotation) if field else False
        why = "not valid JSON" + (': a JSON list such as ["a", "b"] is needed' if listed else "")
        raise click.ClickException(f"Bad setting {_shown(field, None)}: {why}") from None


def _invalid(error: Any) -> str:
    field = "_".join(str(p) for p in error["loc"] if isinstance(p, str))
    why = _WHY.get(error["type"]) or str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "literal_error":
        why = f"expected {error['ctx']['expected']}"
    if not field:  # a check of several settings together: its message names them
        return f"Bad settings: {why}"
    return f"Bad setting {_shown(field, error.get('input'))}: {why}"


def _shown(field: str, value: Any) -> str:
    """``CAUSETTE_NAME='value'``, the value left out when it is a secret."""
    name = f"CAUSETTE_{field.upper()}"
    raw = next((v for k, v in os.environ.items() if k.upper() == name), None)
    value = raw if raw is not None else value
    info = Settings.model_fields.get(field)
    if value is None or (info is not None and info.repr is False):
        return name
    text = redacted_url(str(value)) if field in _URL_SETTINGS else str(value)
    return f"{name}={_short(text)!r}"


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def migrate_database(settings: Settings) -> None:
    """Bring the schema up to date, or a ClickException naming the database and why."""
    from chat.db import migrate

    try:
        migrate(settings.database_url)
    except Exception as exc:
        raise click.ClickException(database_problem(settings.database_url, exc)) from None


async def with_database(settings: Settings, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``fn(db, ...)`` on a database opened for it, then closed; the database away meanwhile
    is a ClickException naming it."""
    from chat.db import Database, is_outage
    from chat.errors import StoreUnavailable

    db = Database(settings.database_url)
    try:
        return await fn(db, *args, **kwargs)
    except Exception as exc:
        cause = exc.__cause__ if isinstance(exc, StoreUnavailable) else exc
        if cause is None or not is_outage(cause):
            raise
        raise click.ClickException(database_problem(settings.database_url, cause)) from None
    finally:
        await db.dispose()


def redacted_url(url: str) -> str:
    """The URL with its password replaced by ``***``."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def database_problem(url: str, exc: BaseException) -> str:
    """One line on a database that cannot be used: its URL (without the password) and why."""
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    from chat.db import is_outage

    where = redacted_url(url)
    why = _reason(exc)
    if isinstance(exc, ArgumentError | NoSuchModuleError):
        text = f"CAUSETTE_DATABASE_URL {where!r} is not a database causette can use: {why}"
    elif is_outage(exc):
        text = f"cannot connect to the database {where}: {why}"
    else:
        text = f"database {where}: {why}"
    password = _password(url)
    if password and len(password) > 2:  # never, whatever the driver put in its message
        text = text.replace(password, "***")
    return text[:300]


def _password(url: str) -> str | None:
    from sqlalchemy.engine import make_url

    try:
        password = make_url(url).password
        return None if password is None else str(password)
    except Exception:
        return None


def _reason(exc: BaseException) -> str:
    cause: BaseException = getattr(exc, "orig", None) or exc
    if isinstance(cause, TimeoutError):
        return "no answer (timed out)"
    if isinstance(cause, OSError) and (cause.strerror or cause.errno):
        # "connection refused" rather than asyncio's "Connect call failed (...)"
        number = cause.errno or 0
        text = os.strerror(number) if number > 0 else str(cause.strerror)
        return text[0].lower() + text[1:]
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


def check_port(host: str, port: int) -> None:
    """Whether ``serve`` can listen there, asked before anything is printed or logged (the
    server binds a moment later, the same way)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise click.ClickException(f"port {port} on {host} is in use") from None
            why = (exc.strerror or str(exc)).lower()
            raise click.ClickException(f"cannot listen on {host} port {port}: {why}") from None


def public_base_url(settings: Settings, host: str, port: int) -> str:
    """The URL a browser on this machine opens: CAUSETTE_PUBLIC_URL, else host and port."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    shown = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def first_run_steps(base_url: str) -> str:
    """What to do on a deployment with no agent yet."""
    invoked = sys.argv[0] if sys.argv and Path(sys.argv[0]).name == "causette" else "causette"
    return "\n".join(
        (
            "No agent yet. Next steps:",
            "  1. Create an admin (the password is read from stdin):",
            f"     echo 'a long passphrase' | {invoked} agent create --email you@example.com"
            " --name 'Your Name' --role admin --password-stdin",
            f"  2. Sign in to the console: {base_url}/console",
            f"  3. Try the widget on the demo page: {base_url}/demo"
            " (no agent online yet: it offers the leave-a-message form)",
            "",
        )
    )
