"""``causette migrate`` from an empty database, on SQLite and on PostgreSQL: the schema the code
expects, the ``default`` space, a second run that changes nothing, and several processes
migrating one fresh database at once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

import agents.models  # noqa: F401  (registers the console's tables on the shared metadata)
from chat.db import alembic_config
from chat.models import metadata
from tests.clirun import causette
from tests.rows import fetch

CORE_TABLES = {
    "spaces",
    "space_origins",
    "visitors",
    "agents",
    "agent_spaces",
    "conversations",
    "messages",
    "login_throttle",
}


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


async def schema(url: str) -> dict[str, Any]:
    """Tables, columns, indexes and the schema's differences from the code's models."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:

            def inspect(sync: sa.Connection) -> dict[str, Any]:
                insp = sa.inspect(sync)
                tables = sorted(insp.get_table_names())
                context = MigrationContext.configure(sync, opts={"compare_type": True})
                return {
                    "tables": tables,
                    "columns": {t: [c["name"] for c in insp.get_columns(t)] for t in tables},
                    "indexes": {t: sorted(i["name"] for i in insp.get_indexes(t)) for t in tables},
                    "drift": compare_metadata(context, metadata),
                }

            return await conn.run_sync(inspect)
    finally:
        await engine.dispose()


async def test_migrate_an_empty_database_then_again_changes_nothing(empty_database: str) -> None:
    first = await causette("migrate", database_url=empty_database)
    assert first.code == 0, first.output
    assert "Traceback" not in first.output
    after_first = await schema(empty_database)
    assert set(after_first["tables"]) >= CORE_TABLES | {"alembic_version"}
    assert after_first["drift"] == []  # the migrations build exactly what the models describe
    assert "uq_messages_conversation_id_seq" in str(await constraint_names(empty_database))
    version = await fetch(empty_database, "SELECT version_num FROM alembic_version")
    assert [r.version_num for r in version] == [head_revision()]
    spaces = await fetch(empty_database, "SELECT key, name FROM spaces")
    assert [r.key for r in spaces] == ["default"]

    second = await causette("migrate", database_url=empty_database)
    assert second.code == 0, second.output
    assert await schema(empty_database) == after_first
    assert [r.key for r in await fetch(empty_database, "SELECT key FROM spaces")] == ["default"]
    version = await fetch(empty_database, "SELECT version_num FROM alembic_version")
    assert [r.version_num for r in version] == [head_revision()]


async def constraint_names(url: str) -> list[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: [
                    str(u["name"]) for u in sa.inspect(sync).get_unique_constraints("messages")
                ]
            )
    finally:
        await engine.dispose()


@pytest.mark.parametrize("empty_database", ["postgres"], indirect=True)
async def test_several_processes_migrating_one_fresh_postgres_database_all_succeed(
    empty_database: str,
) -> None:
    """The advisory lock at work: one process migrates, the others wait and find it done."""
    results = await asyncio.gather(
        *(causette("migrate", database_url=empty_database) for _ in range(3))
    )
    for result in results:
        assert result.code == 0, result.output
        assert "Traceback" not in result.output
    assert [r.key for r in await fetch(empty_database, "SELECT key FROM spaces")] == ["default"]
    version = await fetch(empty_database, "SELECT version_num FROM alembic_version")
    assert [r.version_num for r in version] == [head_revision()]
    assert (await schema(empty_database))["drift"] == []


def test_every_migration_goes_down_and_up_again(empty_database: str) -> None:
    """Each revision's downgrade, on both backends: from head, down one revision at a time
    to an empty database, then up again. Figures: at each step the version is the one asked
    for; at the bottom no table is left but ``alembic_version``; back at head, the schema is
    the same as the first time (tables, columns, indexes, and no drift from the models)."""
    from alembic import command

    url = empty_database
    config = alembic_config(url)
    command.upgrade(config, "head")
    at_head = asyncio.run(schema(url))
    script = ScriptDirectory.from_config(config)
    steps = [rev.down_revision for rev in script.walk_revisions("base", "heads")]
    for target in steps:
        command.downgrade(config, str(target) if target else "base")
        versions = asyncio.run(fetch(url, "SELECT version_num FROM alembic_version"))
        assert [r.version_num for r in versions] == ([target] if target else [])
    assert asyncio.run(schema(url))["tables"] == ["alembic_version"]
    command.upgrade(config, "head")
    assert asyncio.run(schema(url)) == at_head
