"""The privacy commands: ``retention run``, ``hold place|list|release``,
``visitor erase|export`` and ``audit verify|export``, registered on causette/cli.py's group.

What the command line does is audited like what an admin does in the console; its actor is
the system, named after the operating-system user who ran it.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from causette.cli_admin import cli_actor, print_json, print_table
from causette.startup import load_settings, migrate_database, with_database
from chat.clock import iso, parse_iso
from chat.db import Database
from chat.retention import LockTaken, parse_retain
from chat.settings import Settings

__all__ = ["register"]


class _Time(click.ParamType):
    name = "ISO-8601"

    def convert(self, value: Any, param: Any, ctx: Any) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return parse_iso(str(value))
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 date or time", param, ctx)


class _Retain(click.ParamType):
    name = "KIND=DAYSd"

    def convert(self, value: Any, param: Any, ctx: Any) -> tuple[str, int | None]:
        if isinstance(value, tuple):
            return value
        try:
            return parse_retain(str(value))
        except Exception as exc:
            self.fail(getattr(exc, "message", str(exc)), param, ctx)


RETAIN = _Retain()
TIME = _Time()


def _settings() -> Settings:
    settings = load_settings()
    migrate_database(settings)
    return settings


def _on_db(fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
    return asyncio.run(with_database(_settings(), fn, *args, **kwargs))


def _privacy(db: Database, settings: Settings) -> Any:
    from agents.privacy import Privacy

    privacy = Privacy.build(db, None, settings)
    if settings.redis_url:  # the servers' sockets and counters live there: reach them
        privacy.erasure.after.append(_redis_follow_up(settings))
    return privacy


def _redis_follow_up(settings: Settings) -> Callable[[str], Awaitable[None]]:
    from chat.broker.redis import RedisBroker
    from chat.erasure import close_event
    from chat.events import encode
    from chat.principals import visitor_channel
    from chat.ratelimit import LIMITS, RedisLimiter
    from chat.settings import load_secret_key

    url = settings.redis_url or ""

    async def follow_up(visitor_id: str) -> None:
        broker = RedisBroker(url, prefix=settings.redis_channel_prefix)
        await broker.publish_now(visitor_channel(visitor_id), encode(close_event()))
        limiter = RedisLimiter(url, prefix=broker.prefix, secret=load_secret_key(settings))
        try:
            for name in LIMITS:
                if name.endswith("_per_visitor"):
                    await limiter.forget(f"{name}:{visitor_id}")
        finally:
            await limiter.close()

    return follow_up


async def audit_raw_export(
    db: Database,
    table: str,
    space_key: str | None,
    fmt: str,
    since: datetime | None,
    until: datetime | None,
) -> None:
    """A raw export from the command line is on record like one from the console."""
    from chat.audit import record
    from chat.erasure import Erasure

    space_id = await Erasure(db).space(space_key) if space_key else None
    async with db.write() as conn:
        await record(
            conn,
            cli_actor(),
            "export.raw",
            space_id=space_id,
            target_kind="table",
            target_id=table,
            target={"format": fmt, "since": since, "until": until},
        )


def register(main: click.Group) -> None:
    for group in (retention, hold, visitor, audit):
        main.add_command(group)


# -- retention ------------------------------------------------------------------------------


@click.group()
def retention() -> None:
    """Delete what each space's retention policy says is past its time."""


@retention.command("run")
@click.option("--space", "space_key", metavar="KEY", help="One space (default: every space).")
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
@click.option(
    "--retain",
    "retain",
    multiple=True,
    type=RETAIN,
    help="With --dry-run: preview this policy instead of the space's (messages=30d).",
)
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
def retention_run(
    space_key: str | None, dry_run: bool, retain: tuple[tuple[str, int | None], ...], as_json: bool
) -> None:
    """Delete at once what is past each policy's cut-off (or, with --dry-run, count it).

    Prints the rows deleted (or that would be) per space and table. The run is audited.
    """
    if retain and not dry_run:
        raise click.UsageError("--retain previews a policy: use it with --dry-run")
    if retain and space_key is None:
        raise click.UsageError("--retain previews one space's policy: give --space")
    settings = _settings()
    proposal = {k: d for k, d in retain if d is not None} if retain else None

    async def go(db: Database) -> list[Any]:
        privacy = _privacy(db, settings)
        if dry_run:
            return await privacy.retention.plan(space_key, policy=proposal)
        try:
            return await privacy.retention.run(space_key, actor=cli_actor())
        except LockTaken:
            raise click.ClickException(
                "Another node is running the retention job; try again when it is done."
            ) from None

    runs = asyncio.run(with_database(settings, go))
    if as_json:
        print_json({"dry_run": dry_run, "spaces": [r.public() for r in runs]})
        return
    rows = []
    for r in runs:
        if not r.policy:
            rows.append([r.space_key, "-", "(kept forever)", ""])
        for table, n in sorted(r.counts.items()):
            rows.append([r.space_key, table, n, ""])
        for h in r.held:
            rows.append([r.space_key, "(held)", h["scope"], h["reason"]])
    print_table(["space", "table", "would delete" if dry_run else "deleted", "note"], rows)
    if dry_run:
        click.echo("Dry run: nothing was deleted.", err=True)


# -- holds ----------------------------------------------------------------------------------


@click.group()
def hold() -> None:
    """Legal holds: data that neither retention nor erasure may delete."""


@hold.command("place")
@click.option("--space", "space_key", required=True, metavar="KEY")
@click.option("--visitor", "visitor_id", metavar="ID", help="Hold everything of one visitor.")
@click.option("--conversation", "conversation_id", metavar="ID", help="Hold one conversation.")
@click.option("--since", type=TIME, help="Hold what happened from this time...")
@click.option("--until", type=TIME, help="...up to this time.")
@click.option("--whole-space", is_flag=True, help="Hold everything of the space.")
@click.option("--reason", required=True, help="Why (kept with the hold and in the audit).")
@click.option("--json", "as_json", is_flag=True)
def hold_place(
    space_key: str,
    visitor_id: str | None,
    conversation_id: str | None,
    since: datetime | None,
    until: datetime | None,
    whole_space: bool,
    reason: str,
    as_json: bool,
) -> None:
    """Place a hold on a visitor, a conversation, a date range or the whole space."""
    chosen = [
        s
        for s, given in (
            ("visitor", visitor_id),
            ("conversation", conversation_id),
            ("range", since or until),
            ("space", whole_space),
        )
        if given
    ]
    if len(chosen) != 1:
        raise click.UsageError(
            "give exactly one of --visitor, --conversation, --since/--until, --whole-space"
        )
    if not reason.strip():
        raise click.UsageError("--reason must not be empty")
    settings = _settings()

    async def go(db: Database) -> Any:
        from chat.erasure import Erasure

        space_id = await Erasure(db).space(space_key)
        return await _privacy(db, settings).holds.place(
            cli_actor(),
            space_id,
            chosen[0],
            reason=reason,
            visitor_id=visitor_id,
            conversation_id=conversation_id,
            since=since,
            until=until,
        )

    placed = asyncio.run(with_database(settings, go))
    if as_json:
        print_json(placed.public(space_key))
    else:
        click.echo(placed.id)


@hold.command("list")
@click.option("--space", "space_key", metavar="KEY", help="One space (default: all).")
@click.option("--active", is_flag=True, help="Only the holds not released.")
@click.option("--json", "as_json", is_flag=True)
def hold_list(space_key: str | None, active: bool, as_json: bool) -> None:
    """The holds, newest first."""
    settings = _settings()

    async def go(db: Database) -> list[dict[str, Any]]:
        from chat.spaces import list_spaces

        keys = {s.id: s.key for s in await list_spaces(db)}
        ids = [i for i, k in keys.items() if space_key in (None, k)]
        if space_key is not None and not ids:
            raise click.ClickException(f"No such space: {space_key}")
        holds = await _privacy(db, settings).holds.list(ids, include_released=not active)
        return [h.public(keys.get(h.space_id)) for h in holds]

    found = asyncio.run(with_database(settings, go))
    if as_json:
        print_json(found)
        return
    print_table(
        ["id", "space", "scope", "covers", "reason", "placed_by", "placed_at", "released_at"],
        [
            [
                h["id"],
                h["space"],
                h["scope"],
                h["visitor_id"] or h["conversation_id"] or _range(h),
                h["reason"],
                h["placed_by"],
                h["placed_at"],
                h["released_at"],
            ]
            for h in found
        ],
    )


def _range(h: dict[str, Any]) -> str:
    if h["scope"] == "space":
        return "everything"
    return f"{h['since'] or '…'} to {h['until'] or '…'}"


@hold.command("release")
@click.argument("hold_id", metavar="ID")
@click.option("--reason", help="Why it is released (kept in the audit).")
def hold_release(hold_id: str, reason: str | None) -> None:
    """Release a hold: its data returns to the normal schedule (nothing is deleted now)."""
    settings = _settings()

    async def go(db: Database) -> Any:
        from chat.spaces import list_spaces

        ids = [s.id for s in await list_spaces(db)]
        return await _privacy(db, settings).holds.release(cli_actor(), hold_id, ids, reason=reason)

    released = asyncio.run(with_database(settings, go))
    click.echo(f"released {released.id} at {iso(released.released_at)}")


# -- visitors -------------------------------------------------------------------------------


@click.group()
def visitor() -> None:
    """A visitor's rights: erasure and access."""


@visitor.command("erase")
@click.option("--space", "space_key", required=True, metavar="KEY")
@click.option("--visitor", "visitor_id", metavar="ID")
@click.option("--external-id", metavar="X", help="The site's verified id of the visitor.")
@click.option("--email", metavar="E")
@click.option("--phone", metavar="P", help="International form: +33 6 12 34 56 78.")
@click.option("--reason", help="Why (kept in the audit: the request's reference).")
@click.option("--json", "as_json", is_flag=True)
def visitor_erase(
    space_key: str,
    visitor_id: str | None,
    external_id: str | None,
    email: str | None,
    phone: str | None,
    reason: str | None,
    as_json: bool,
) -> None:
    """Erase everything of a visitor in a space (GDPR article 17)."""
    given = [v for v in (visitor_id, external_id, email, phone) if v is not None]
    if len(given) != 1:
        raise click.UsageError("give exactly one of --visitor, --external-id, --email, --phone")
    settings = _settings()

    async def go(db: Database) -> Any:
        return await _privacy(db, settings).erasure.erase(
            cli_actor(),
            space_key,
            visitor_id=visitor_id,
            external_id=external_id,
            email=email,
            phone=phone,
            reason=reason,
        )

    result = asyncio.run(with_database(settings, go))
    if as_json:
        print_json(result.public())
        return
    click.echo(f"{result.visitors} visitor(s) found in {space_key}")
    print_table(["table", "rows"], sorted(result.counts.items()))
    for h in result.held:
        click.echo(f"held: {h['kept']} ({h['scope']} hold: {h['reason']})")


@visitor.command("export")
@click.option("--space", "space_key", required=True, metavar="KEY")
@click.option("--visitor", "visitor_id", required=True, metavar="ID")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="FILE.json, or FILE.zip for a zip with its SHA-256 manifest.",
)
def visitor_export(space_key: str, visitor_id: str, out: Path) -> None:
    """Everything held about one visitor in one space (GDPR article 15)."""
    from chat.erasure import access_zip

    settings = _settings()

    async def go(db: Database) -> dict[str, Any]:
        return await _privacy(db, settings).erasure.export(cli_actor(), space_key, visitor_id)

    doc = asyncio.run(with_database(settings, go))
    if out.suffix.lower() == ".zip":
        out.write_bytes(access_zip(doc))
    else:
        out.write_text(json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True))
    n = sum(len(c["messages"]) for c in doc.get("conversations", []))
    click.echo(f"wrote {out}: {len(doc.get('conversations', []))} conversation(s), {n} message(s)")


# -- the audit trail ------------------------------------------------------------------------


@click.group()
def audit() -> None:
    """The audit trail: verify its hash chains, export it."""


async def _space_id(db: Database, key: str | None) -> str | None:
    if key is None:
        return None
    from chat.erasure import Erasure

    return await Erasure(db).space(key)


@audit.command("verify")
@click.option("--space", "space_key", metavar="KEY", help="One space's chain (default: all).")
def audit_verify(space_key: str | None) -> None:
    """Exit 0 when every chain is whole; 1 naming the first changed, removed or moved entry."""
    from chat.audit_verify import verify

    async def go(db: Database) -> Any:
        from chat.spaces import list_spaces

        space_id = await _space_id(db, space_key)
        keys = {s.id: s.key for s in await list_spaces(db)}
        return await verify(db, space_id, every=space_key is None), keys

    result, keys = _on_db(go)

    def name(chain: str) -> str:
        return keys.get(chain, f"space {chain} (deleted)") if chain else "(deployment)"

    if result.broken is not None:
        b = result.broken
        chain = name(b.chain)
        entry = f"entry id {b.id}" if b.id is not None else "an entry"
        click.echo(f"BROKEN: chain {chain}, seq {b.seq} ({entry}): {b.why}", err=True)
        sys.exit(1)
    for chain, (seq, head) in sorted(result.chains.items()):
        click.echo(f"ok  {name(chain)}  {seq} entries  head {head}")
    click.echo(f"verified {result.entries} entries in {len(result.chains)} chain(s)")


@audit.command("export")
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, writable=True, path_type=Path)
)
@click.option("--space", "space_key", metavar="KEY", help="One space (default: everything).")
@click.option("--since", type=TIME, help="Entries from this time.")
def audit_export(out: Path, space_key: str | None, since: datetime | None) -> None:
    """Write the entries as JSON lines, oldest first, one entry a line."""
    from chat.audit import stream
    from chat.spaces import list_spaces

    async def go(db: Database) -> int:
        keys = {s.id: s.key for s in await list_spaces(db)}
        space_id = await _space_id(db, space_key)
        n = 0
        with out.open("w", encoding="utf-8") as f:
            async for entry in stream(db, None if space_id is None else [space_id], since):
                f.write(
                    json.dumps(entry.public(keys.get(entry.space_id or "")), ensure_ascii=False)
                )
                f.write("\n")
                n += 1
        return n

    n = _on_db(go)
    click.echo(f"wrote {n} entries to {out}")
