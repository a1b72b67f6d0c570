"""The commands that run a deployment's accounts and spaces: ``agent list``, ``agent update``,
``agent reset-password``, ``agent delete``, ``space show`` and ``space delete``, registered on
causette/cli.py's ``agent`` and ``space`` groups.

Tables on stdout (aligned on a terminal, tab-separated otherwise), JSON with ``--json``. A
wrong command line is click's usage error (exit 2); what the database refuses is one
``Error:`` line (exit 1), never a traceback (cli.py's group turns every error into one).
"""

from __future__ import annotations

import asyncio
import getpass
import json
import socket
import sys
from collections.abc import Sequence
from typing import Any

import click
from click.core import ParameterSource

from causette.startup import load_settings, migrate_database, with_database
from chat.audit import Actor
from chat.types import ROLES

__all__ = ["cli_actor", "print_json", "print_table", "register", "require_an_option"]


def register(agent: click.Group, space: click.Group) -> None:
    for command in (agent_list, agent_update, agent_reset_password, agent_delete):
        agent.add_command(command)
    for command in (space_show, space_delete):
        space.add_command(command)


def require_an_option() -> None:
    """A usage error unless the running command was given at least one option."""
    ctx = click.get_current_context()
    given = [
        p
        for p in ctx.command.params
        if isinstance(p, click.Option)
        and p.name is not None
        and ctx.get_parameter_source(p.name) not in (None, ParameterSource.DEFAULT)
    ]
    if not given:
        raise click.UsageError("nothing to update: give at least one option")


def cli_actor() -> Actor:
    """Who acts from the command line, for the audit trail: the system, named after the
    operating-system user and the host."""
    try:
        user = getpass.getuser()
    except Exception:
        user = "unknown"
    return Actor("system", id="cli", name=f"command line ({user}@{socket.gethostname()})")


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``fn(db, ...)`` on the migrated database of the CAUSETTE_* settings."""
    settings = load_settings()
    migrate_database(settings)
    return asyncio.run(with_database(settings, fn, *args, **kwargs))


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Columns aligned on a terminal; tab-separated for a pipe (``cut -f``), header first."""
    cells = [[str(c) for c in headers], *[[_cell(c) for c in row] for row in rows]]
    if not sys.stdout.isatty():
        for line in cells:
            click.echo("\t".join(line))
        return
    widths = [max(len(line[i]) for line in cells) for i in range(len(headers))]
    for line in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value) or "-"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value).replace("\t", " ").replace("\n", " ")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if sys.stdin.isatty():
        return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))
    raise click.UsageError("Give the password with --password-stdin.")


def _agent_json(agent: Any) -> dict[str, Any]:
    from chat.clock import iso

    return {
        "id": agent.id,
        "email": agent.email,
        "name": agent.name,
        "role": agent.role,
        "spaces": list(agent.spaces),
        "disabled": agent.disabled,
        "max_chats": agent.max_chats,
        "created_at": iso(agent.created_at),
    }


def _requeued(count: int) -> str:
    if not count:
        return ""
    return f"; {count} open conversation{'s' if count > 1 else ''} back in the queue"


# -- agents ----------------------------------------------------------------------------------


@click.command("list")
@click.option("--space", default=None, metavar="KEY", help="Only the agents of this space.")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
def agent_list(space: str | None, as_json: bool) -> None:
    """List agents, their roles and spaces (deleted ones are not listed)."""
    from agents.accounts import list_agents

    found = _call(list_agents, space)
    if as_json:
        print_json([_agent_json(a) for a in found])
        return
    print_table(
        ("EMAIL", "NAME", "ROLE", "SPACES", "STATUS", "MAX_CHATS"),
        [
            (a.email, a.name, a.role, a.spaces, "disabled" if a.disabled else "active", a.max_chats)
            for a in found
        ],
    )


@click.command("update")
@click.argument("email")
@click.option("--name", default=None)
@click.option("--role", type=click.Choice(ROLES), default=None)
@click.option(
    "--max-chats",
    type=click.IntRange(0, 100),
    default=None,
    help="Open conversations given to it at most at once (0: none, it claims them).",
)
@click.option("--add-space", "add_spaces", multiple=True, metavar="KEY", help="Repeatable.")
@click.option("--remove-space", "remove_spaces", multiple=True, metavar="KEY", help="Repeatable.")
@click.option(
    "--disable/--enable",
    "disabled",
    default=None,
    help="A disabled agent cannot sign in, its sessions end and its open conversations go "
    "back to the queue.",
)
def agent_update(
    email: str,
    name: str | None,
    role: str | None,
    max_chats: int | None,
    add_spaces: tuple[str, ...],
    remove_spaces: tuple[str, ...],
    disabled: bool | None,
) -> None:
    """Change an agent's name, role, capacity or spaces; disable or enable it."""
    from agents.account_admin import change_agent

    require_an_option()
    both = sorted(set(add_spaces) & set(remove_spaces))
    if both:
        raise click.UsageError(f"--add-space and --remove-space both name {', '.join(both)}")
    done = _call(
        change_agent,
        email,
        name=name,
        role=role,
        max_chats=max_chats,
        actor=cli_actor(),
        add_spaces=add_spaces,
        remove_spaces=remove_spaces,
        disabled=disabled,
    )
    a = done.agent
    status = "disabled" if a.disabled else "active"
    click.echo(
        f"agent {a.email} updated: {a.name}, {a.role} in {', '.join(a.spaces) or 'no space'}, "
        f"{status}{_requeued(done.requeued)}"
    )


@click.command("reset-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def agent_reset_password(email: str, password_stdin: bool) -> None:
    """Give an agent a new password; its sessions end."""
    from agents.account_admin import reset_agent_password

    password = _read_password(password_stdin)
    agent = _call(reset_agent_password, email, password, actor=cli_actor())
    click.echo(f"password of {agent.email} reset; its sessions have ended")


@click.command("delete")
@click.argument("email")
def agent_delete(email: str) -> None:
    """Delete an agent: it cannot sign in again, its open conversations go back to the
    queue, and history keeps its name."""
    from agents.account_admin import delete_agent

    done = _call(delete_agent, email, actor=cli_actor())
    click.echo(
        f"agent {done.agent.email} deleted (history keeps the name {done.agent.name})"
        f"{_requeued(done.requeued)}"
    )


# -- spaces ----------------------------------------------------------------------------------


@click.command("show")
@click.argument("key")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
def space_show(key: str, as_json: bool) -> None:
    """Show a space's settings (never its secret) and what it holds."""
    from chat.spaces import space_details

    details = _call(space_details, key)
    if as_json:
        print_json(details)
        return
    print_table(("FIELD", "VALUE"), list(details.items()))


@click.command("delete")
@click.argument("key")
@click.option("--confirm", required=True, metavar="KEY", help="The space's key again.")
@click.option("--purge", is_flag=True, help="Delete its conversations and visitors with it.")
def space_delete(key: str, confirm: str, purge: bool) -> None:
    """Delete a space, its origins, teams, campaigns and canned responses; refused while it
    holds conversations unless --purge."""
    from agents.space_removal import remove_space

    if confirm != key:
        raise click.BadParameter(f"must repeat the space's key, {key}", param_hint="--confirm")
    count = _call(remove_space, key, purge=purge, actor=cli_actor())
    with_what = f", with {count} conversation{'s' if count != 1 else ''}" if count else ""
    click.echo(f"space {key} deleted{with_what}")
