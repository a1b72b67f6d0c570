"""The API key commands: ``key create``, ``key list`` and ``key revoke``, registered on
causette/cli.py's group.

A key is printed once, by ``key create``, and never again: only its keyed hash is kept, under
the deployment's secret key (CAUSETTE_SECRET_KEY, or the key file the servers read), so the
command must run with the servers' secret for the key to work there. Making and revoking a
key are audited; the command line's actor is the system, named after the operating-system
user who ran it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import click

from agents.scopes import SCOPES
from causette.cli_admin import cli_actor, print_json, print_table
from causette.startup import load_settings, migrate_database, with_database
from chat.db import Database
from chat.settings import Settings

__all__ = ["register"]


def register(main: click.Group) -> None:
    main.add_command(key)


def _settings() -> Settings:
    settings = load_settings()
    migrate_database(settings)
    return settings


def _keys(db: Database, settings: Settings) -> Any:
    from agents.apikeys import ApiKeys
    from chat.settings import load_secret_key
    from chat.tokens import TokenSigner

    signer = TokenSigner(
        load_secret_key(settings),
        visitor_ttl=settings.visitor_token_ttl,
        agent_ttl=settings.agent_token_ttl,
    )
    return ApiKeys.of(db, signer)


async def _space_ids(db: Database, key: str | None) -> list[str]:
    """Every space's id, or the one of this key (else one line, exit 1)."""
    from chat.spaces import list_spaces

    found = [s.id for s in await list_spaces(db, key)]
    if key is not None and not found:
        raise click.ClickException(f"No such space: {key}")
    return found


@click.group()
def key() -> None:
    """API keys of a space, for servers calling the REST API (Authorization: Bearer)."""


@key.command("create")
@click.option("--space", "space_key", required=True, metavar="KEY")
@click.option("--name", required=True, help="What the key is for (shown in lists and the audit).")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(SCOPES),
    help="What the key may do (repeatable).",
)
@click.option(
    "--expires-days",
    default=90,
    show_default=True,
    type=click.IntRange(1, 365),
    help="It stops working after this many days.",
)
@click.option("--json", "as_json", is_flag=True, help="The key and its details as JSON.")
def key_create(
    space_key: str, name: str, scopes: tuple[str, ...], expires_days: int, as_json: bool
) -> None:
    """Make a key and print it, once: it cannot be shown again."""
    if not name.strip():
        raise click.UsageError("--name must not be empty")
    if not scopes:  # said here, in one line (click would list the choices on many)
        raise click.UsageError(f"give at least one --scope: {', '.join(SCOPES)}")
    settings = _settings()

    async def go(db: Database) -> tuple[Any, str]:
        [space_id] = await _space_ids(db, space_key)
        made: tuple[Any, str] = await _keys(db, settings).create(
            cli_actor(), space_id, name=name, scopes=scopes, expires_days=expires_days
        )
        return made

    made, secret = asyncio.run(with_database(settings, go))
    if as_json:
        print_json({**made.public(), "key": secret})
        return
    click.echo(secret)
    click.echo(
        f"key {made.id} of {space_key} ({', '.join(made.scopes)}), expires "
        f"{made.public()['expires_at']}: keep it now, it is not shown again",
        err=True,
    )


@key.command("list")
@click.option("--space", "space_key", metavar="KEY", help="One space (default: all).")
@click.option("--json", "as_json", is_flag=True)
def key_list(space_key: str | None, as_json: bool) -> None:
    """The keys, newest first, revoked and expired ones too (never their secret)."""
    settings = _settings()

    async def go(db: Database) -> list[dict[str, Any]]:
        ids = await _space_ids(db, space_key)
        return [k.public() for k in await _keys(db, settings).list(ids)]

    found = asyncio.run(with_database(settings, go))
    if as_json:
        print_json(found)
        return
    print_table(
        ["id", "space", "name", "scopes", "status", "expires_at", "last_used_at", "last_used_ip"],
        [
            [
                k["id"],
                k["space"],
                k["name"],
                ",".join(k["scopes"]),
                k["status"],
                k["expires_at"],
                k["last_used_at"],
                k["last_used_ip"],
            ]
            for k in found
        ],
    )


@key.command("revoke")
@click.argument("key_id", metavar="ID")
def key_revoke(key_id: str) -> None:
    """Revoke a key: it stops working at once, on every server."""
    settings = _settings()

    async def go(db: Database) -> Any:
        ids = await _space_ids(db, None)
        return await _keys(db, settings).revoke(cli_actor(), key_id, ids)

    revoked = asyncio.run(with_database(settings, go))
    click.echo(f"revoked {revoked.id} ({revoked.name}) at {revoked.public()['revoked_at']}")
