"""The ``causette`` command. Every failure is one line on stderr and a non-zero exit."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from causette import cli_admin, cli_keys, cli_privacy
from causette.startup import (
    check_port,
    first_run_steps,
    load_settings,
    migrate_database,
    public_base_url,
    with_database,
)
from chat.clock import parse_iso
from chat.errors import CausetteError, UsageError
from chat.retention import parse_retain
from chat.settings import Settings
from chat.types import ROLES

__all__ = ["main"]

T = TypeVar("T")


class _Group(click.Group):
    """Turn every error into one line: a usage error as click prints it, anything else as
    ``Error: ...``, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except CausetteError as exc:
            raise click.ClickException(exc.message) from None
        except KeyboardInterrupt:
            raise click.Abort() from None
        except Exception as exc:
            raise click.ClickException(_describe(exc)) from None


def _describe(exc: Exception) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    return f"{type(exc).__name__}: {first}"[:300]


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def _settings() -> Settings:
    try:
        return load_settings()  # the variable and what is wrong with it, in one line
    except click.ClickException:
        raise
    except Exception as exc:
        raise click.ClickException(f"Bad CAUSETTE_* setting: {_describe(exc)}") from None


def _migrate(settings: Settings) -> None:
    migrate_database(settings)  # a failure names the database (never its password)


async def _with_db(settings: Settings, fn: Any, *args: Any, **kwargs: Any) -> Any:
    return await with_database(settings, fn, *args, **kwargs)


class _IsoTime(click.ParamType):
    name = "ISO-8601"

    def convert(self, value: Any, param: Any, ctx: Any) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return parse_iso(str(value))
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 date or time", param, ctx)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="causette")
def main() -> None:
    """causette: self-hosted livechat for websites."""
    # every file causette makes (the database and its journals, exports, lock files) holds
    # customer data or secrets: readable by the owner only
    os.umask(0o077)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Server processes sharing the port (more than one needs CAUSETTE_REDIS_URL).",
)
def serve(host: str, port: int, workers: int) -> None:
    """Apply migrations, then serve HTTP and WebSockets."""
    import uvicorn

    settings = _settings()
    if workers > 1 and not settings.redis_url:
        raise click.UsageError(
            "--workers above 1 needs CAUSETTE_REDIS_URL: the in-process "
            "broker cannot reach the other processes."
        )
    check_port(host, port)  # before anything says it is serving
    _migrate(settings)
    from agents.accounts import any_agent
    from chat.settings import load_secret_key

    load_secret_key(settings)  # made once here, not raced by the workers
    if sys.stdout.isatty() and not _run(_with_db(settings, any_agent)):
        click.echo(first_run_steps(public_base_url(settings, host, port)))
    from causette.scrape import metrics_directory, start_listener

    # every process of this server writes its metrics there; one listener reads them all
    with metrics_directory(settings.metrics_dir) as directory:
        scrape = ""
        if settings.metrics_address:
            scrape = f"; metrics on {start_listener(settings.metrics_address, directory)}"
        click.echo(
            f"causette serving on http://{host}:{port} (workers: {workers}{scrape})", err=True
        )
        uvicorn.run(
            "causette.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            ws="websockets-sansio",
            ws_max_size=settings.max_frame_bytes,
            ws_per_message_deflate=False,  # small frames: compression costs more than it saves
            ws_ping_interval=settings.heartbeat_seconds,
            ws_ping_timeout=settings.heartbeat_seconds,
            proxy_headers=True,
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=5,
        )


@main.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    _migrate(_settings())
    click.echo("database is up to date", err=True)


@main.group()
def agent() -> None:
    """Agent accounts."""


@agent.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option(
    "--space",
    "spaces",
    multiple=True,
    metavar="KEY",
    help="A space the agent works in (repeatable; default: default).",
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def agent_create(
    email: str, name: str, role: str, spaces: tuple[str, ...], password_stdin: bool
) -> None:
    """Create an agent account."""
    from agents.accounts import create_agent

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        raise click.UsageError("Give the password with --password-stdin.")
    settings = _settings()
    _migrate(settings)
    account = _run(
        _with_db(
            settings,
            create_agent,
            email=email,
            name=name,
            role=role,
            password=password,
            space_keys=list(spaces),
            actor=cli_admin.cli_actor(),
        )
    )
    click.echo(f"agent {account.email} created ({account.role}) id={account.id}")


@main.group()
def space() -> None:
    """Spaces: strictly separated activities."""


cli_admin.register(agent, space)  # list, update, reset-password, delete; show, delete
cli_privacy.register(main)  # retention, hold, visitor, audit
cli_keys.register(main)  # key create, list, revoke


@space.command("create")
@click.argument("key")
@click.option("--name", required=True)
@click.option(
    "--origin",
    "origins",
    multiple=True,
    metavar="URL",
    help="A site origin allowed to embed the widget (repeatable).",
)
@click.option(
    "--identity-mode",
    type=click.Choice(["off", "optional", "enforce"]),
    default="off",
    show_default=True,
    help="How the widget's identify() is checked against the space's secret.",
)
@click.option(
    "--prechat",
    type=click.Choice(["none", "name", "name_email"]),
    default="none",
    show_default=True,
    help="What the widget asks before the first message.",
)
def space_create(
    key: str, name: str, origins: tuple[str, ...], identity_mode: str, prechat: str
) -> None:
    """Create a space."""
    from chat.spaces import create_space

    settings = _settings()
    _migrate(settings)
    info = _run(
        _with_db(
            settings,
            create_space,
            key,
            name,
            list(origins),
            identity_mode=identity_mode,
            prechat=prechat,
            actor=cli_admin.cli_actor(),
        )
    )
    click.echo(f"space {info.key} created; origins: {', '.join(info.origins) or '(own site only)'}")


@space.command("update")
@click.argument("key")
@click.option("--name", default=None)
@click.option(
    "--origin",
    "origins",
    multiple=True,
    metavar="URL",
    help="Replace the allowed origins with these (repeatable).",
)
@click.option("--clear-origins", is_flag=True, help="Remove every allowed origin.")
@click.option(
    "--identity-mode",
    type=click.Choice(["off", "optional", "enforce"]),
    default=None,
    help="How the widget's identify() is checked against the space's secret.",
)
@click.option(
    "--prechat",
    type=click.Choice(["none", "name", "name_email"]),
    default=None,
    help="What the widget asks before the first message.",
)
@click.option(
    "--time-zone",
    default=None,
    metavar="ZONE",
    help="The space's IANA time zone (Europe/Paris): campaign dates and hours.",
)
@click.option(
    "--csat",
    type=click.Choice(["on", "off"]),
    default=None,
    help="Whether a resolved conversation asks the visitor for a 1-5 rating.",
)
@click.option(
    "--hours",
    default=None,
    metavar="HOURS",
    help="Business hours in the space's time zone: 'mon-fri 09:00-18:00, sat 10:00-13:00' "
    "('always' for none).",
)
@click.option(
    "--holiday",
    "holidays",
    multiple=True,
    metavar="DATE",
    help="A closed day, YYYY-MM-DD (repeatable; replaces the list).",
)
@click.option("--clear-holidays", is_flag=True, help="Remove every holiday.")
@click.option(
    "--redact-pattern",
    "redact_patterns",
    multiple=True,
    metavar="NAME=REGEX",
    help="An extra pattern that exports redact as [NAME] (RE2 syntax; repeatable; replaces "
    "the list).",
)
@click.option("--clear-redact-patterns", is_flag=True, help="Remove the extra patterns.")
@click.option(
    "--missed-after",
    type=click.IntRange(1, 86_400),
    default=None,
    metavar="SECONDS",
    help="A conversation with no agent reply within this long is missed (default 120).",
)
@click.option(
    "--email-delay-minutes",
    type=click.IntRange(0, 7 * 24 * 60),
    default=None,
    metavar="N",
    help="Agent replies reach a visitor who left an email once it has had no chat open for "
    "N minutes, at most one email per N minutes (default 5; 0: at once).",
)
@click.option(
    "--retain",
    "retain",
    multiple=True,
    metavar="KIND=DAYSd",
    help="Keep messages, profiles, events or audit entries this many days, or KIND=forever "
    "(repeatable; other kinds unchanged). Preview with: causette retention run --dry-run.",
)
def space_update(
    key: str,
    name: str | None,
    origins: tuple[str, ...],
    clear_origins: bool,
    identity_mode: str | None,
    prechat: str | None,
    time_zone: str | None,
    csat: str | None,
    hours: str | None,
    holidays: tuple[str, ...],
    clear_holidays: bool,
    redact_patterns: tuple[str, ...],
    clear_redact_patterns: bool,
    missed_after: int | None,
    email_delay_minutes: int | None,
    retain: tuple[str, ...],
) -> None:
    """Rename a space, replace its allowed origins or change its options."""
    from agents.reports.hours import parse_holidays, parse_hours

    cli_admin.require_an_option()
    from chat.spaces import update_space

    if clear_holidays and holidays:
        raise click.UsageError("--holiday and --clear-holidays exclude each other.")
    if clear_redact_patterns and redact_patterns:
        raise click.UsageError("--redact-pattern and --clear-redact-patterns exclude each other.")
    try:
        business_hours = parse_hours(hours) if hours is not None else None
        closed = [] if clear_holidays else (parse_holidays(holidays) if holidays else None)
        patterns = [] if clear_redact_patterns else _patterns(redact_patterns)
    except CausetteError as exc:
        raise click.BadParameter(exc.message) from None

    if clear_origins and origins:
        raise click.UsageError("--origin and --clear-origins exclude each other.")
    new_origins = [] if clear_origins else (list(origins) if origins else None)
    try:
        retention = dict(parse_retain(r) for r in retain)
    except CausetteError as exc:
        raise click.BadParameter(exc.message, param_hint="'--retain'") from None
    settings = _settings()
    _migrate(settings)
    if retention:
        from chat.spaces import set_retention

        kept = _run(
            _with_db(
                settings, set_retention, key, retention, actor=cli_admin.cli_actor(), merge=True
            )
        )
        shown = ", ".join(f"{k}={v}d" for k, v in kept.items()) or "everything kept forever"
        click.echo(f"space {key} retention: {shown}")
    info = _run(
        _with_db(
            settings,
            update_space,
            key,
            name=name,
            origins=new_origins,
            identity_mode=identity_mode,
            prechat=prechat,
            time_zone=time_zone,
            csat=None if csat is None else csat == "on",
            business_hours=business_hours,
            holidays=closed,
            missed_after_seconds=missed_after,
            redaction_patterns=patterns,
            email_delay_minutes=email_delay_minutes,
            actor=cli_admin.cli_actor(),
        )
    )
    click.echo(f"space {info.key} updated; origins: {', '.join(info.origins) or '(own site only)'}")


def _patterns(values: tuple[str, ...]) -> list[list[str]] | None:
    """``NAME=REGEX`` options as stored, checked (RE2, the limits of chat/redaction)."""
    if not values:
        return None
    from chat.redaction import check_patterns

    pairs = []
    for value in values:
        name, sep, regex = value.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"{value!r}: a pattern is NAME=REGEX.")
        pairs.append((name.strip(), regex))
    return [list(p) for p in check_patterns(pairs)]


@space.command("list")
def space_list() -> None:
    """List spaces and their allowed origins."""
    from chat.spaces import list_spaces

    settings = _settings()
    _migrate(settings)
    for info in _run(_with_db(settings, list_spaces)):
        click.echo(
            f"{info.key}\t{info.name}\t{' '.join(info.origins)}"
            f"\tidentity={info.identity_mode}\tprechat={info.prechat}"
            f"\ttime_zone={info.time_zone}\tcsat={'on' if info.csat else 'off'}"
        )


@space.command("secret")
@click.argument("key")
@click.option("--rotate", is_flag=True, help="Make a new secret; the old one stops working.")
def space_secret(key: str, rotate: bool) -> None:
    """Print the secret that signs visitor identities (keep it on your servers)."""
    from chat.spaces import identity_secret

    settings = _settings()
    _migrate(settings)
    click.echo(
        _run(_with_db(settings, identity_secret, key, rotate=rotate, actor=cli_admin.cli_actor()))
    )


@main.command()
@click.option(
    "--table",
    type=click.Choice(["messages", "conversations", "exposures", "goal_events"]),
    default="messages",
    show_default=True,
    help="What to export: one row per message, conversation, exposure or goal event.",
)
@click.option("--format", "fmt", required=True, type=click.Choice(["csv", "jsonl", "parquet"]))
@click.option(
    "--out",
    required=True,
    type=click.Path(writable=True, path_type=Path),
    help="The file to write (a directory with --partition day).",
)
@click.option("--since", type=_IsoTime(), default=None, help="From this time (inclusive).")
@click.option("--until", type=_IsoTime(), default=None, help="Up to this time (exclusive).")
@click.option("--space", default=None, metavar="KEY", help="Only this space.")
@click.option(
    "--redact",
    type=click.Choice(["mask", "hash", "drop"]),
    default="mask",
    show_default=True,
    help="How personal data in text is replaced: [email], a keyed token, or nothing.",
)
@click.option("--raw", is_flag=True, help="Export text as it is, personal data included (logged).")
@click.option(
    "--partition",
    type=click.Choice(["day"]),
    default=None,
    help="Parquet only: a directory of one file per UTC day (date=YYYY-MM-DD/).",
)
def export(
    table: str,
    fmt: str,
    out: Path,
    since: datetime | None,
    until: datetime | None,
    space: str | None,
    redact: str,
    raw: bool,
    partition: str | None,
) -> None:
    """Export a table for analytics, redacted unless --raw (docs/reports.md: the columns)."""
    from agents.exports import Export, count_rows, export_to_file

    if since and until and since >= until:
        raise click.BadParameter("--since must be before --until", param_hint="--since")
    if partition and fmt != "parquet":
        raise click.BadParameter("partitions are Parquet files", param_hint="--partition")
    if not out.parent.exists():
        raise click.BadParameter(f"folder {str(out.parent)!r} does not exist", param_hint="--out")
    if out.is_dir() and not partition:
        raise click.BadParameter(f"{str(out)!r} is a folder: name a file", param_hint="--out")
    settings = _settings()
    _migrate(settings)
    job = Export(table=table, space=space, since=since, until=until, redact=redact, raw=raw)  # type: ignore[arg-type]
    if raw:  # who runs the command line may read everything; it is still on record
        from chat.logging import configure_logging, get_logger

        configure_logging(settings.log_level, settings.log_format)
        get_logger("causette.export").warning("export_raw", table=table, space=space)
    terminal = sys.stderr.isatty()

    async def run(db: Any) -> int:
        if raw:
            from causette.cli_privacy import audit_raw_export

            await audit_raw_export(db, table, space, fmt, since, until)
        total = await count_rows(db, job) if terminal else 0
        bar = _Progress(total, table) if terminal else None
        if table == "messages" and not raw and (os.cpu_count() or 1) > 1:
            # message bodies are redacted in another process while the next page is read
            import concurrent.futures
            import multiprocessing

            job.pool = concurrent.futures.ProcessPoolExecutor(
                max(1, (os.cpu_count() or 2) - 1), mp_context=multiprocessing.get_context("spawn")
            )
        try:
            return await export_to_file(
                db, job, out, fmt,  # type: ignore[arg-type]
                partition=partition == "day",
                progress=bar.update if bar else None,
            )  # fmt: skip
        finally:
            if job.pool is not None:
                job.pool.shutdown(cancel_futures=True)
            if bar is not None:
                bar.done()

    count = _run(_with_db(settings, run))
    what = "raw" if raw else f"redacted ({redact})"
    click.echo(f"{count} {table.replace('_', ' ')} written to {out}, {what}", err=True)


class _Progress:
    """A one-line progress bar on the terminal (stderr), redrawn at most every 1 %."""

    def __init__(self, total: int, what: str) -> None:
        self.total = max(total, 1)
        self.what = what
        self.shown = -1

    def update(self, done: int) -> None:
        percent = min(100, done * 100 // self.total)
        if percent == self.shown:
            return
        self.shown = percent
        filled = percent // 4
        bar = "#" * filled + "." * (25 - filled)
        sys.stderr.write(f"\r{self.what} [{bar}] {percent:3d} % {done:,}")
        sys.stderr.flush()

    def done(self) -> None:
        sys.stderr.write("\n")
        sys.stderr.flush()


if __name__ == "__main__":
    main(prog_name=os.environ.get("CAUSETTE_PROG", "causette"))
