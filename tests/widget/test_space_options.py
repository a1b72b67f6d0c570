"""The space commands a site owner runs for the widget, and the schema change behind them,
on both backends."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import sqlalchemy as sa
from alembic import command
from click.testing import CliRunner, Result
from sqlalchemy.ext.asyncio import create_async_engine

from causette.cli import main
from chat.db import alembic_config, migrate


def cli(url: str, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"CAUSETTE_DATABASE_URL": url})


def listed(url: str, key: str) -> list[str]:
    result = cli(url, "space", "list")
    assert result.exit_code == 0, result.output
    return next(line.split("\t") for line in result.output.splitlines() if line.startswith(key))


def test_space_commands_for_the_widget(empty_database: str) -> None:
    url = empty_database
    created = cli(
        url,
        "space", "create", "shop", "--name", "Shop",
        "--origin", "https://shop.example", "--origin", "https://WWW.shop.example:443",
        "--identity-mode", "enforce", "--prechat", "name_email",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    assert "https://shop.example, https://www.shop.example" in created.output
    assert listed(url, "shop") == [
        "shop",
        "Shop",
        "https://shop.example https://www.shop.example",
        "identity=enforce",
        "prechat=name_email",
        "time_zone=UTC",
        "csat=on",
    ]

    secret = cli(url, "space", "secret", "shop").output.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", secret)
    assert cli(url, "space", "secret", "shop").output.strip() == secret
    rotated = cli(url, "space", "secret", "shop", "--rotate").output.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", rotated) and rotated != secret
    assert cli(url, "space", "secret", "shop").output.strip() == rotated

    # replacing the origins keeps the widget options, and the other way round
    assert cli(url, "space", "update", "shop", "--origin", "https://new.example").exit_code == 0
    assert listed(url, "shop")[2:] == [
        "https://new.example",
        "identity=enforce",
        "prechat=name_email",
        "time_zone=UTC",
        "csat=on",
    ]
    updated = cli(
        url, "space", "update", "shop", "--identity-mode", "optional", "--prechat", "none"
    )
    assert updated.exit_code == 0, updated.output
    assert listed(url, "shop")[2:4] == ["https://new.example", "identity=optional"]
    assert listed(url, "default")[3:] == [
        "identity=off",
        "prechat=none",
        "time_zone=UTC",
        "csat=on",
    ]
    # the space's clock and its ratings
    zoned = cli(url, "space", "update", "shop", "--time-zone", "Europe/Paris", "--csat", "off")
    assert zoned.exit_code == 0, zoned.output
    assert listed(url, "shop")[4:] == ["prechat=none", "time_zone=Europe/Paris", "csat=off"]
    mars = cli(url, "space", "update", "shop", "--time-zone", "Mars/Olympus")
    assert mars.exit_code == 1 and "Unknown time zone 'Mars/Olympus'" in mars.output
    assert "Traceback" not in mars.output

    wrong = cli(url, "space", "create", "x", "--name", "X", "--identity-mode", "sometimes")
    assert wrong.exit_code == 2 and "sometimes" in wrong.output
    missing = cli(url, "space", "secret", "nope")
    assert missing.exit_code == 1 and "No such space: nope" in missing.output
    assert secret not in cli(url, "space", "list").output


def _inspect(url: str) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:

                def read(sync: sa.Connection) -> dict[str, Any]:
                    inspector = sa.inspect(sync)
                    return {
                        "spaces": {c["name"] for c in inspector.get_columns("spaces")},
                        "visitors": {c["name"] for c in inspector.get_columns("visitors")},
                        "secrets": sync.execute(
                            sa.text("SELECT identity_secret, identity_mode, prechat FROM spaces")
                        ).all()
                        if "identity_secret" in {c["name"] for c in inspector.get_columns("spaces")}
                        else [],
                    }

                return await conn.run_sync(read)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_migration_0002_up_down_up(empty_database: str) -> None:
    url = empty_database
    migrate(url, "0001")
    before = _inspect(url)
    assert "identity_secret" not in before["spaces"]

    migrate(url, "0002")
    after = _inspect(url)
    assert {"identity_secret", "identity_mode", "prechat"} <= after["spaces"]
    assert {"external_id", "identity_verified", "attributes", "context"} <= after["visitors"]
    [(secret, mode, prechat)] = after["secrets"]  # the default space, made by 0001
    assert re.fullmatch(r"[0-9a-f]{64}", secret) and (mode, prechat) == ("off", "none")

    command.downgrade(alembic_config(url), "0001")
    assert _inspect(url) == before
    migrate(url, "0002")
    assert {"external_id"} <= _inspect(url)["visitors"]
