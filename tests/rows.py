"""Read a server's database directly, behind its back: what is committed is what counts."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

__all__ = ["execute", "fetch", "message_rows"]


async def fetch(database_url: str, sql: str, **params: Any) -> list[sa.Row[Any]]:
    """Rows of one query, on a connection of its own (not the server's)."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(sa.text(sql), params)).all())
    finally:
        await engine.dispose()


async def execute(database_url: str, *statements: str) -> None:
    """Run statements in one committed transaction."""
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(sa.text(statement))
    finally:
        await engine.dispose()


async def message_rows(database_url: str, client_id: str) -> list[sa.Row[Any]]:
    return await fetch(
        database_url,
        "SELECT conversation_id, seq, body, author_kind, author_id FROM messages"
        " WHERE client_id = :c",
        c=client_id,
    )
