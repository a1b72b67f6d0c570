"""A lean Redis connection for the broker's two hot paths: pipelined PUBLISH and one
SUBSCRIBE stream. RESP2 over asyncio streams, parsed by hiredis.

A general client does far more per message than the broker needs (retries that hide
reconnects, per-command bookkeeping); here a batch of publishes is one write and one read,
a delivery is one parse, and a lost connection is an exception the broker sees.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import hiredis

__all__ = ["RedisAddress", "RespConnection", "RespError", "encode_command"]


class RespError(ConnectionError):
    """The server answered with an error, or the connection is unusable."""


@dataclass(frozen=True, slots=True)
class RedisAddress:
    host: str = "127.0.0.1"
    port: int = 6379
    path: str | None = None  # unix socket
    username: str | None = None
    password: str | None = None
    db: int = 0
    tls: bool = False

    @classmethod
    def from_url(cls, url: str) -> RedisAddress:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"Not a Redis URL: {parts.scheme}://")
        db_text = parts.path.strip("/") if parts.scheme != "unix" else ""
        query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
        db = int(query.get("db", db_text or 0))
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 6379,
            path=parts.path if parts.scheme == "unix" else None,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            db=db,
            tls=parts.scheme == "rediss",
        )


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(value), value)


def encode_command(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(_bulk(a) for a in args)


class RespConnection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._parser = hiredis.Reader()

    @classmethod
    async def open(cls, address: RedisAddress, connect_timeout: float = 5.0) -> RespConnection:
        async with asyncio.timeout(connect_timeout):
            if address.path:
                reader, writer = await asyncio.open_unix_connection(address.path)
            else:
                context = ssl.create_default_context() if address.tls else None
                reader, writer = await asyncio.open_connection(
                    address.host, address.port, ssl=context
                )
            conn = cls(reader, writer)
            if address.password is not None:
                auth = [b"AUTH"]
                if address.username:
                    auth.append(address.username.encode())
                auth.append(address.password.encode())
                conn.write(encode_command(*auth))
                await conn.read_one()
            if address.db:
                conn.write(encode_command(b"SELECT", str(address.db).encode()))
                await conn.read_one()
        return conn

    def write(self, data: bytes) -> None:
        if self._writer.is_closing():
            raise RespError("connection closed")
        self._writer.write(data)

    async def drain(self) -> None:
        await self._writer.drain()

    async def read_some(self) -> list[Any]:
        """Every complete reply available after one read from the socket (at least one)."""
        replies: list[Any] = []
        while not replies:
            data = await self._reader.read(65536)
            if not data:
                raise RespError("connection closed by the server")
            self._parser.feed(data)
            while (reply := self._parser.gets()) is not False:
                if isinstance(reply, hiredis.ReplyError):
                    raise RespError(str(reply))
                replies.append(reply)
        return replies

    async def read_one(self) -> Any:
        reply = self._parser.gets()
        while reply is False:
            data = await self._reader.read(65536)
            if not data:
                raise RespError("connection closed by the server")
            self._parser.feed(data)
            reply = self._parser.gets()
        if isinstance(reply, hiredis.ReplyError):
            raise RespError(str(reply))
        return reply

    async def read_n(self, n: int) -> None:
        """Consume ``n`` replies (the answers to a pipelined batch)."""
        for _ in range(n):
            await self.read_one()

    def abort(self) -> None:
        """Drop the connection at once: its reader sees the end of the stream."""
        self._writer.transport.abort()

    async def close(self) -> None:
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except (OSError, ConnectionError):
            pass
